/**
 * BYOK endpoints (CONTRACT.md section 4; PATCH /byok/mode exactly as the seed).
 *
 * Order of checks on every write and listing: 401 (no or bad credentials, in the auth
 * hook) → 403 `forbidden` (team member/viewer) → 403 `byok_not_enabled` (flag off) →
 * 400 (body, path and query validation) → the operation. The access check runs in
 * preValidation, before schema validation, so a caller without access learns nothing
 * about the request shape. GET /byok/mode answers any authenticated user.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principal } from '../../http/auth.ts';
import { BEARER_AND_KEY, errorResponses } from '../../http/schemas.ts';
import type { Owner } from '../auth/owner.ts';
import {
  AUDIT_DEFAULT_LIMIT,
  AUDIT_DEFAULT_OFFSET,
  AuditQuery,
  AuditResponse,
  BYOK_COMPONENT_SCHEMAS,
  CheckProviderKeyResponse,
  DeleteProviderKeyResponse,
  ListProviderKeysResponse,
  ModelUseModeResponse,
  ProviderParams,
  ref,
  SetModelUseModeRequest,
  SetModelUseModeResponse,
  UpsertProviderKeyRequest,
  UpsertProviderKeyResponse,
  ValidateProviderKeyRequest,
  ValidationResult,
} from './byok.schemas.ts';
import type { KeyHealthService } from '../keyhealth/keyhealth.service.ts';
import type { Actor, ByokService } from './byok.service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The owner whose BYOK settings this request manages (set by the access check). */
    byokOwner: Owner | null;
  }
}

const SECURITY = BEARER_AND_KEY as unknown as { [scheme: string]: string[] }[];

/** The seed's response descriptions for PATCH /byok/mode. */
const MODE_ERRORS = {
  ...errorResponses(400, 401, 403),
  400: Type.Unsafe({ $ref: 'ErrorResponse', description: 'Invalid mode or no provider keys configured for BYOK' }),
  401: Type.Unsafe({ $ref: 'ErrorResponse', description: 'Unauthorized' }),
  403: Type.Unsafe({ $ref: 'ErrorResponse', description: 'Forbidden - BYOK not enabled or not a team admin' }),
};

const ACCESS_NOTE = `

Access: solo users manage their own settings; team admins manage the team's; team members and viewers get 403 \`forbidden\`. While the owner's \`byok\` feature flag is off the call answers 403 \`byok_not_enabled\`.`;

function actorOf(request: FastifyRequest): Actor {
  const p = principal(request);
  return { id: p.user.id, email: p.user.email, requestId: request.id };
}

function ownerOfRequest(request: FastifyRequest): Owner {
  if (!request.byokOwner) throw new Error('BYOK access check did not run');
  return request.byokOwner;
}

export const byokRoutes: FastifyPluginAsync<{ byok: ByokService; health: KeyHealthService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const svc = opts.byok;
  for (const s of BYOK_COMPONENT_SCHEMAS) app.addSchema(s);
  if (!app.hasRequestDecorator('byokOwner')) app.decorateRequest('byokOwner', null);

  const manage = async (request: FastifyRequest) => {
    request.byokOwner = await svc.authorizeManage(principal(request));
  };

  app.get(
    '/api/v1/byok/providers',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'get-v1-byok-providers',
        summary: 'List provider keys',
        description: `Lists the owner's provider keys, ordered by provider. Secrets are never returned; \`key_hint\` identifies each key.${ACCESS_NOTE}`,
        security: SECURITY,
        response: { 200: ref(ListProviderKeysResponse), ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ provider_keys: await svc.listKeys(ownerOfRequest(request)) }),
  );

  app.patch(
    '/api/v1/byok/providers/:provider',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'patch-v1-byok-providers-provider',
        summary: 'Create or update a provider key',
        description: `Checks the key with the provider, then stores it encrypted (creating it, or replacing the secret of the existing key while keeping its \`id\` and \`created_at\`).

- The provider rejects the key → 400 \`provider_key_invalid\`, nothing saved.
- The provider accepts it with a warning (missing permission, billing) → saved, \`is_validated: true\`, warning in \`validation.details\`.
- The check is inconclusive (rate limited, provider down, timeout, no live check) → saved with \`is_validated: false\`; \`validation.error\` says why.

Omitted \`display_name\`/\`location\` keep their stored values; \`null\` clears them.${ACCESS_NOTE}`,
        security: SECURITY,
        params: ProviderParams,
        body: ref(UpsertProviderKeyRequest),
        response: { 200: ref(UpsertProviderKeyResponse), ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request) => svc.putKey(ownerOfRequest(request), actorOf(request), request.params.provider, request.body),
  );

  app.post(
    '/api/v1/byok/providers/:provider/validate',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'post-v1-byok-providers-provider-validate',
        summary: 'Validate a provider key without saving it',
        description: `Runs the same checks as a save and answers the ValidationResult; nothing is stored. A rejected key answers 200 with \`valid: false\`.${ACCESS_NOTE}`,
        security: SECURITY,
        params: ProviderParams,
        body: ref(ValidateProviderKeyRequest),
        response: { 200: ref(ValidationResult), ...errorResponses(400, 401, 403, 413, 415, 429) },
      },
    },
    async (request) => svc.validateKey(request.params.provider, request.body, ownerOfRequest(request)),
  );

  app.post(
    '/api/v1/byok/providers/:provider/check',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'post-v1-byok-providers-provider-check',
        summary: 'Check a stored provider key now',
        description: `Re-checks the owner's stored key for a provider with the provider now ("Check now" on the settings page) and answers the key as \`GET /byok/providers\` shows it, with the refreshed \`status\`, \`last_checked_at\`, \`last_check_outcome\` and \`last_check_message\` (docs/key-health.md). The same rules as a scheduled re-check apply: an \`active\` key becomes \`invalid\` only after two rejections at least NEO_KEY_INVALID_AFTER apart; one acceptance makes it \`active\`. While another check of the key is running, the key is answered as it is. No request body. No key for that provider → 404 \`not_exists\`; counts against the provider-call rate limit (429).${ACCESS_NOTE}`,
        security: SECURITY,
        params: ProviderParams,
        response: { 200: ref(CheckProviderKeyResponse), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => ({ provider_key: await opts.health.checkNow(ownerOfRequest(request), request.params.provider) }),
  );

  app.delete(
    '/api/v1/byok/providers/:provider',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'delete-v1-byok-providers-provider',
        summary: 'Delete a provider key',
        description: `Removes the owner's key for a provider. When it was the last key and the mode was \`byok\`, the mode switches to \`neo\` in the same transaction and \`auto_switched\` is true. No key for that provider → 404 \`not_exists\`.${ACCESS_NOTE}`,
        security: SECURITY,
        params: ProviderParams,
        response: { 200: ref(DeleteProviderKeyResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => svc.deleteKey(ownerOfRequest(request), actorOf(request), request.params.provider),
  );

  app.get(
    '/api/v1/byok/mode',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['BYOK'],
        operationId: 'get-v1-byok-mode',
        summary: 'Get model use mode',
        description:
          'The effective model use mode of the caller\'s owner (the team when the caller is in one, else the caller). Any authenticated user, whatever the team role. While the byok flag is off the mode is `neo` and `byok_enabled` is false.',
        security: SECURITY,
        response: { 200: ref(ModelUseModeResponse), ...errorResponses(401) },
      },
    },
    async (request) => svc.getMode(principal(request)),
  );

  app.patch(
    '/api/v1/byok/mode',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'patch-v1-byok-mode',
        summary: 'Set model use mode',
        description: `Set the model use mode to either "neo" (platform-managed) or "byok" (bring your own key).

When switching to "byok", at least one provider key must be configured.
When the last provider key is deleted, the mode auto-switches back to "neo".

Access control:
- Solo users: Sets their own mode
- Team admins: Sets the team's mode (applies to all team members)
- Team members/viewers: Returns 403
`,
        security: SECURITY,
        body: ref(SetModelUseModeRequest),
        response: {
          200: { ...ref(SetModelUseModeResponse), description: 'Mode updated successfully' },
          ...MODE_ERRORS,
        },
      },
    },
    async (request) => svc.setMode(ownerOfRequest(request), actorOf(request), request.body.mode),
  );

  app.get(
    '/api/v1/byok/audit',
    {
      config: { auth: 'user' },
      preValidation: async (request) => manage(request),
      schema: {
        tags: ['BYOK'],
        operationId: 'get-v1-byok-audit',
        summary: 'BYOK change history',
        description: `Key creations, updates and deletions, mode changes and automatic switches of the owner, newest first. Never contains a secret.${ACCESS_NOTE}`,
        security: SECURITY,
        querystring: AuditQuery,
        response: { 200: ref(AuditResponse), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) =>
      svc.listAudit(ownerOfRequest(request), request.query.limit ?? AUDIT_DEFAULT_LIMIT, request.query.offset ?? AUDIT_DEFAULT_OFFSET),
  );
};
