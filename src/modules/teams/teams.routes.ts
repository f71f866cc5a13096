/** HTTP layer of Teams (tag "Teams"): schema, auth, call the service, present. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { forbidden, notFound } from '../../errors/index.ts';
import { principal } from '../../http/auth.ts';
import { errorResponses } from '../../http/schemas.ts';
import {
  AcceptBody,
  Accepted,
  CreateTeamBody,
  Invitation,
  InviteBody,
  MemberEnvelope,
  MembersList,
  RemoveBody,
  Removed,
  RoleBody,
  TeamEnvelope,
  TEAMS_COMPONENT_SCHEMAS,
  UpdateTeamBody,
} from './teams.schemas.ts';
import type { TeamsService } from './teams.service.ts';

const tags = ['Teams'];
// The value of BEARER_AND_KEY, typed so that it fits FastifySchema['security'].
const security: Record<string, string[]>[] = [{ BearerAuth: [] }, { ApiKeyAuth: [] }];
const common = { tags, security };

/**
 * Admin-only routes check the caller's role before the body is validated, so a member or
 * viewer gets 403 whatever they send. The service checks again under the team lock.
 */
async function teamAdminOnly(request: FastifyRequest): Promise<void> {
  const m = principal(request).membership;
  if (!m) throw notFound('you are not a member of a team');
  if (m.role !== 'admin') throw forbidden(`only team admins may do this; your team role is ${m.role}`);
}

export const teamsRoutes: FastifyPluginAsyncTypebox<{ teams: TeamsService }> = async (app, { teams }) => {
  for (const s of TEAMS_COMPONENT_SCHEMAS) app.addSchema(s);

  app.post(
    '/api/v1/teams',
    {
      config: { auth: 'user' },
      schema: {
        ...common,
        summary: 'Create a team',
        description: 'A solo user creates a team and becomes its first admin. 409 if the caller is already in a team.',
        operationId: 'post-v1-teams',
        body: CreateTeamBody,
        response: { 201: TeamEnvelope, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const team = await teams.create(principal(request), request.body.name);
      return reply.status(201).send({ team });
    },
  );

  app.get(
    '/api/v1/teams',
    {
      config: { auth: 'user' },
      schema: {
        ...common,
        summary: 'Get your team',
        description: 'Any member, whatever the role. 404 if the caller is not in a team.',
        operationId: 'get-v1-teams',
        response: { 200: TeamEnvelope, ...errorResponses(401, 404) },
      },
    },
    async (request) => ({ team: await teams.get(principal(request)) }),
  );

  app.patch(
    '/api/v1/teams',
    {
      config: { auth: 'user' },
      preValidation: teamAdminOnly,
      schema: {
        ...common,
        summary: 'Rename your team',
        description: 'Team admins only.',
        operationId: 'patch-v1-teams',
        body: UpdateTeamBody,
        response: { 200: TeamEnvelope, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => ({ team: await teams.rename(principal(request), request.body.name) }),
  );

  app.get(
    '/api/v1/teams/members',
    {
      config: { auth: 'user' },
      schema: {
        ...common,
        summary: 'List your team\'s members',
        description: 'Active members and pending invitations, oldest first. Any member, whatever the role.',
        operationId: 'get-v1-teams-members',
        response: { 200: MembersList, ...errorResponses(401, 404) },
      },
    },
    async (request) => ({ members: await teams.members(principal(request)) }),
  );

  app.post(
    '/api/v1/teams/members/invite',
    {
      config: { auth: 'user' },
      preValidation: teamAdminOnly,
      schema: {
        ...common,
        summary: 'Invite a member',
        description:
          'Team admins only. Returns the invitation token once (only its SHA-256 is stored); it expires after 7 days. ' +
          '409 if the email is already a member or has a pending invitation; an expired invitation is replaced.',
        operationId: 'post-v1-teams-members-invite',
        body: InviteBody,
        response: { 201: Invitation, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const out = await teams.invite(principal(request), request.body.email, request.body.role ?? 'member');
      return reply.status(201).send(out);
    },
  );

  app.post(
    '/api/v1/teams/invitations/accept',
    {
      config: { auth: 'user' },
      schema: {
        ...common,
        summary: 'Accept a team invitation',
        description:
          'Only the invited email may accept (403 otherwise). 400 if the token is unknown, used or expired; 409 if the caller is already in a team.',
        operationId: 'post-v1-teams-invitations-accept',
        body: AcceptBody,
        response: { 200: Accepted, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => teams.accept(principal(request), request.body.invite_token),
  );

  app.patch(
    '/api/v1/teams/members/role',
    {
      config: { auth: 'user' },
      preValidation: teamAdminOnly,
      schema: {
        ...common,
        summary: 'Change a member\'s role',
        description: 'Team admins only. The last admin cannot be demoted (400).',
        operationId: 'patch-v1-teams-members-role',
        body: RoleBody,
        response: { 200: MemberEnvelope, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => ({ member: await teams.changeRole(principal(request), request.body.email, request.body.role) }),
  );

  app.delete(
    '/api/v1/teams/members',
    {
      config: { auth: 'user' },
      schema: {
        ...common,
        summary: 'Remove a member, revoke an invitation, or leave',
        description:
          'Admins remove anyone; a member or viewer may remove only themself (leave). The last admin can never leave or be ' +
          'removed (400), not even as the only member: make another member admin first.',
        operationId: 'delete-v1-teams-members',
        body: RemoveBody,
        response: { 200: Removed, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => teams.remove(principal(request), request.body.email),
  );
};
