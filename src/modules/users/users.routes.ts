/** GET /api/v1/user: the caller's profile (CONTRACT.md section 5). Any authenticated user. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { principal } from '../../http/auth.ts';
import { BEARER_AND_KEY, errorResponses } from '../../http/schemas.ts';
import { ref } from '../models/models.schemas.ts';
import { UserProfile, USERS_COMPONENT_SCHEMAS } from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

const SECURITY = BEARER_AND_KEY as unknown as { [scheme: string]: string[] }[];

export const usersRoutes: FastifyPluginAsync<{ users: UsersService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  for (const s of USERS_COMPONENT_SCHEMAS) app.addSchema(s);

  app.get(
    '/api/v1/user',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['User'],
        operationId: 'get-v1-user',
        summary: 'Get the current user',
        description: `The caller's profile: identity, system role, team (with the caller's team role), the owner's feature flags and model use mode, and the models the caller may use now.

\`model_use_mode\` and \`features\` are the owner's: the team's for a team member. While the \`byok\` flag is off the mode is \`neo\`. In \`byok\` mode \`available_models\` lists only the catalogue models one of the owner's keys serves, and \`byok_models\` lists every model the providers listed, mapped to Neo ids or marked unsupported with a reason.`,
        security: SECURITY,
        response: { 200: ref(UserProfile), ...errorResponses(401) },
      },
    },
    // Not async: a warm profile is sent at once (no promise), a cold one when loaded.
    (request) => opts.users.profile(principal(request)),
  );
};
