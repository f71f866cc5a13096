/**
 * POST /internal/v1/credentials/resolve (CONTRACT.md section 8): the agent runtime's
 * question "which model, provider and key for this call?". Authenticated only by the
 * internal service token (NEO_INTERNAL_TOKEN, compared in constant time by the auth
 * hook); a user JWT or API key is refused with 401.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses } from '../../http/schemas.ts';
import { ref } from '../models/models.schemas.ts';
import { RESOLVE_COMPONENT_SCHEMAS, ResolveCredentialsRequest, ResolveCredentialsResponse } from './resolve.schemas.ts';
import type { ResolveService } from './resolve.service.ts';

export const resolveRoutes: FastifyPluginAsync<{ resolver: ResolveService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  for (const s of RESOLVE_COMPONENT_SCHEMAS) app.addSchema(s);

  app.post(
    '/internal/v1/credentials/resolve',
    {
      config: { auth: 'internal' },
      schema: {
        tags: ['Internal'],
        operationId: 'post-internal-v1-credentials-resolve',
        summary: 'Resolve the model and credential for an agent call',
        description: `Called by the agent runtime before each LLM call, with \`Authorization: Bearer <NEO_INTERNAL_TOKEN>\` (not a user JWT or API key: those get 401). Answers, for the user's owner (the team for a team member): the effective mode, the Neo model (\`auto\` picks the first available model of the documented preference order), the provider and provider model id to call and, in \`byok\` mode, the owner's decrypted credential; in \`neo\` mode \`credential\` is null and the platform's own key applies.

- \`byok\` mode and no key of the owner serves the model → 409 \`byok_model_unavailable\` (never a silent fallback to the platform's key).
- Unknown user or model → 404 \`not_exists\`.
- While the owner's \`byok\` flag is off the owner is in \`neo\` mode.

When two of the owner's keys serve the model, the model's first-party provider wins, then Amazon Bedrock, Google Vertex, Azure AI Foundry, then OpenRouter, then the Vercel AI Gateway. No provider is called for a stored key. Do not cache the credential beyond the call (docs/runtime-integration.md).

\`credential.kind\` says what \`api_key\` holds: \`api_key\` (an API or resource key as saved), \`gcp_service_account\` (the service-account JSON as saved), \`aws_access_keys\` (the SigV4 JSON \`{"access_key_id","secret_access_key","session_token"?}\`), \`access_token\` (an OAuth bearer access token: \`Authorization: Bearer\` for Vertex AI and for Azure AI Foundry instead of \`api-key\`). \`credential.expires_at\` is set for short-lived credentials, null for stored ones.

Keyless cloud connections (docs/keyless-cloud.md) always resolve to short-lived credentials (Bedrock: \`aws_access_keys\` with a session token; Vertex and Azure: \`access_token\`), valid for at most an hour. With \`"short_lived": true\` (recommended) a stored Vertex service-account key is delivered as an \`access_token\` and stored long-term AWS keys as one-hour \`GetSessionToken\` keys; a credential with no short-lived form (an API key, a Bedrock API key, keys that are already temporary) comes as saved. Short-lived credentials are cached per owner and refreshed in the background ahead of expiry, so a resolve does not wait on a cloud call while a valid one (≥ 60 s left) is cached, even when the cloud is down. With nothing valid cached: 409 \`cloud_credential_rejected\` when the cloud refuses the exchange (trust policy, binding or federated credential changed: fix the connection), 503 \`cloud_credential_unavailable\` with \`Retry-After\` when the cloud cannot be reached (retry).`,
        security: [{ InternalToken: [] }],
        body: ref(ResolveCredentialsRequest),
        response: { 200: ref(ResolveCredentialsResponse), ...errorResponses(400, 401, 404, 409, 413, 415, 503) },
      },
    },
    // Not an async handler: on a warm cache the resolver answers synchronously and Fastify
    // sends the value at once (no promise, no microtask); otherwise it returns a promise.
    (request, reply) => {
      // The answer carries a secret: never stored by a cache on the way.
      void reply.header('Cache-Control', 'no-store');
      // The owner goes into this request's log lines (metrics carry no per-owner label).
      return opts.resolver.resolveNow(
        request.body.user_id,
        request.body.model,
        (owner) => {
          request.log = request.log.child({ owner_type: owner.type, owner_id: owner.id });
          reply.log = request.log;
        },
        request.body.short_lived === true ? { shortLived: true } : {},
      );
    },
  );
};
