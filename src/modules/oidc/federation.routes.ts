/**
 * `GET /api/v1/byok/federation`: setup help for keyless cloud connections (issue 18 item 5).
 * Access as for the BYOK writes: solo user or team admin (member/viewer 403 `forbidden`),
 * the owner's `byok` flag (403 `byok_not_enabled`); then 400 `oidc_issuer_not_configured`
 * while NEO_OIDC_ISSUER is unset.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principal } from '../../http/auth.ts';
import { BEARER_AND_KEY, errorResponses } from '../../http/schemas.ts';
import type { Principal } from '../auth/auth.service.ts';
import type { Owner } from '../auth/owner.ts';
import { federationHelp } from './federation.ts';
import { FEDERATION_COMPONENT_SCHEMAS, FederationHelp } from './federation.schemas.ts';
import type { OidcIssuer } from './issuer.ts';

const SECURITY = BEARER_AND_KEY as unknown as { [scheme: string]: string[] }[];

export const federationRoutes: FastifyPluginAsync<{ issuer: OidcIssuer; authorize: (p: Principal) => Promise<Owner> }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  for (const s of FEDERATION_COMPONENT_SCHEMAS) app.addSchema(s);

  app.get(
    '/api/v1/byok/federation',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['BYOK'],
        operationId: 'get-v1-byok-federation',
        summary: 'Setup help for keyless cloud connections',
        description: `For the caller's owner: the service's OpenID Connect issuer URL, the exact \`sub\` of the owner's tokens, the audience per cloud, and ready-to-use setup for Amazon Bedrock (IAM OIDC provider, role trust policy), Google Vertex AI (workload identity pool and provider, access binding) and Azure AI Foundry (app registration with a federated credential, role assignment), with the credential fields to enter afterwards. Contains no secret. See docs/keyless-cloud.md.

Access: solo users get their own; team admins get the team's; team members and viewers get 403 \`forbidden\`. While the owner's \`byok\` feature flag is off: 403 \`byok_not_enabled\`. Without \`NEO_OIDC_ISSUER\` on the server: 400 \`oidc_issuer_not_configured\`, whose message says what to configure.`,
        security: SECURITY,
        response: { 200: Type.Unsafe<typeof FederationHelp.static>(Type.Ref('FederationHelp')), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const owner = await opts.authorize(principal(request));
      return federationHelp(opts.issuer.requireIssuer(), owner);
    },
  );
};
