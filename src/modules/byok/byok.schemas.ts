/**
 * TypeBox schemas of the BYOK endpoints (CONTRACT.md section 4 and the seed). One
 * definition drives validation, the handler types and the OpenAPI document. Named
 * component schemas carry an `$id` and are registered by the routes plugin.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../http/schemas.ts';
import { KEY_STATUSES, type KeyStatus } from '../../db/schema.ts';
import { WEBHOOK_AUDIT_ACTIONS } from '../webhooks/webhooks.events.ts';
import { CHECK_OUTCOMES, PROVIDERS, type CheckOutcome, type ProviderName } from '../../providers/types.ts';

export const MAX_API_KEY_LENGTH = 16384;
export const MAX_DISPLAY_NAME_LENGTH = 128;
export const MAX_LOCATION_LENGTH = 2048;

const ModeEnum = Type.Unsafe<'neo' | 'byok'>({
  type: 'string',
  enum: ['neo', 'byok'],
  description: "Model use mode: 'neo' for platform-managed, 'byok' for bring your own key",
});
const ResourceType = Type.Unsafe<'user' | 'team'>({
  type: 'string',
  enum: ['user', 'team'],
  description: 'Whether the settings belong to a user or a team',
});

export const ProviderEnum = Type.Unsafe<ProviderName>({
  type: 'string',
  enum: [...PROVIDERS],
  description: 'LLM provider',
});

export const ProviderParams = Type.Object({ provider: ProviderEnum }, { additionalProperties: false });

export const SetModelUseModeRequest = Type.Object(
  { mode: ModeEnum },
  { $id: 'SetModelUseModeRequest', required: ['mode'], additionalProperties: false },
);

export const SetModelUseModeResponse = Type.Object(
  {
    mode: Type.Unsafe<'neo' | 'byok'>({ type: 'string', enum: ['neo', 'byok'], description: 'The new model use mode' }),
    resource_type: ResourceType,
    resource_id: Type.String({ description: 'The user or team ID' }),
  },
  { $id: 'SetModelUseModeResponse', additionalProperties: false },
);

export const ModelUseModeResponse = Type.Object(
  {
    mode: Type.Unsafe<'neo' | 'byok'>({
      type: 'string',
      enum: ['neo', 'byok'],
      description: 'The effective mode: `neo` whenever the byok flag is off',
    }),
    resource_type: ResourceType,
    resource_id: Type.String({ description: 'The user or team ID' }),
    byok_enabled: Type.Boolean({ description: 'Whether the byok feature flag is on for this owner' }),
    provider_keys: Type.Integer({ minimum: 0, description: 'How many provider keys the owner has' }),
  },
  { $id: 'ModelUseModeResponse', additionalProperties: false },
);

export const ProviderKey = Type.Object(
  {
    id: Uuid,
    provider: ProviderEnum,
    display_name: Type.Optional(Nullable(Type.String())),
    location: Type.Optional(Nullable(Type.String(), { description: 'Region or endpoint URL (cloud providers); null otherwise' })),
    key_hint: Type.String({ description: 'Identifies the key without revealing it, e.g. `sk-…AbCd`' }),
    is_validated: Type.Boolean({ description: 'Whether the provider accepted the key when it was saved' }),
    validated_at: Type.Optional(Nullable(DateTime)),
    models_count: Type.Optional(
      Nullable(Type.Integer({ minimum: 0 }), {
        description:
          'How many provider model ids the last save discovered (the provider listed them when it accepted the key); null when the last check listed none (inconclusive, no live check, or a warning without a listing)',
      }),
    ),
    created_at: DateTime,
    updated_at: DateTime,
    status: Type.Unsafe<KeyStatus>({
      type: 'string',
      enum: [...KEY_STATUSES],
      description:
        'Key health (docs/key-health.md): `active` (the provider accepted it at the last check); `unverified` (never conclusively checked); `invalid` (the provider rejects it: two rejections at least NEO_KEY_INVALID_AFTER apart, expired temporary AWS credentials, or past `expires_at`; resolve does not hand it out); `restricted` (authenticates, lacks a permission, region or model) and `billing` (authenticates, the account cannot pay), both still handed out; `unreadable` (the stored secret no longer decrypts: altered or moved in the database, or its master key is not configured; replace it with PATCH).',
    }),
    last_checked_at: Nullable(DateTime, { description: 'When the provider last checked the key (save, re-check); null if never' }),
    last_check_outcome: Nullable(
      Type.Unsafe<CheckOutcome>({ type: 'string', enum: [...CHECK_OUTCOMES] }),
      { description: "The last check's outcome (see ValidationResult.outcome); null if never checked" },
    ),
    last_check_message: Type.Optional(Nullable(Type.String(), { description: 'Why the last check came out as it did, in plain words' })),
    last_used_at: Nullable(DateTime, { description: 'When resolve last handed the key out (updated at most once a minute); null if never' }),
    expires_at: Nullable(DateTime, { description: 'The expiry date the owner set when saving; reminders 7 days and 1 day before; `invalid` from then on' }),
    credential_version: Type.Optional(
      Type.Integer({ minimum: 1, description: "Changes whenever the secret is replaced; resolve's `credential_version`" }),
    ),
    keyless: Type.Optional(
      Type.Boolean({
        description:
          'True for a keyless cloud connection (an AWS role, a Google workload identity, an Entra app: docs/keyless-cloud.md), which stores no secret; false for a stored key',
      }),
    ),
  },
  { $id: 'ProviderKey', additionalProperties: false },
);

export const ValidationResult = Type.Object(
  {
    valid: Type.Boolean({ description: 'True when the provider accepted the key (possibly with a warning in `details`)' }),
    outcome: Type.Optional(
      Type.Unsafe<CheckOutcome>({
        type: 'string',
        enum: [...CHECK_OUTCOMES],
        description:
          'What the check found, to branch on instead of parsing `details`/`error`: `accepted`; `restricted` (authenticates, lacks a permission, region or model) and `billing` (the account cannot pay), both valid with a warning; `rejected` (bad key or wrong endpoint); `rate_limited` and `unavailable` (inconclusive: provider throttling, down, timeout); `unchecked` (the provider has no live check)',
      }),
    ),
    details: Type.Optional(Type.String({ description: 'What the check found; warnings start with "Warning:"' })),
    error: Type.Optional(Type.String({ description: 'Why the key is not valid, or why the check was inconclusive' })),
  },
  { $id: 'ValidationResult', additionalProperties: false },
);

export const UpsertProviderKeyRequest = Type.Object(
  {
    api_key: Type.String({
      minLength: 1,
      maxLength: MAX_API_KEY_LENGTH,
      description: "The provider's API key; for google-vertex the service-account JSON; for amazon-bedrock a Bedrock API key or SigV4 JSON",
    }),
    display_name: Type.Optional(Nullable(Type.String({ maxLength: MAX_DISPLAY_NAME_LENGTH }))),
    location: Type.Optional(
      Nullable(Type.String({ maxLength: MAX_LOCATION_LENGTH }), {
        description: 'GCP/AWS region, or the Azure endpoint URL (required for azure-foundry); ignored for key-only providers',
      }),
    ),
    expires_at: Type.Optional(
      Nullable(Type.String({ maxLength: 64 }), {
        description:
          'When the key stops working, if known (RFC 3339, in the future; e.g. `2027-01-31T00:00:00Z`). Reminder events 7 days and 1 day before; the key is `invalid` from then on. Omitted keeps the stored date; null clears it.',
      }),
    ),
  },
  { $id: 'UpsertProviderKeyRequest', additionalProperties: false },
);

export const ValidateProviderKeyRequest = Type.Object(
  {
    api_key: Type.String({ minLength: 1, maxLength: MAX_API_KEY_LENGTH }),
    location: Type.Optional(Nullable(Type.String({ maxLength: MAX_LOCATION_LENGTH }))),
  },
  { $id: 'ValidateProviderKeyRequest', additionalProperties: false },
);

export const UpsertProviderKeyResponse = Type.Object(
  { provider_key: Type.Unsafe<Static<typeof ProviderKey>>(Type.Ref('ProviderKey')), validation: Type.Unsafe<Static<typeof ValidationResult>>(Type.Ref('ValidationResult')) },
  { $id: 'UpsertProviderKeyResponse', additionalProperties: false },
);

export const ListProviderKeysResponse = Type.Object(
  { provider_keys: Type.Array(Type.Unsafe<Static<typeof ProviderKey>>(Type.Ref('ProviderKey'))) },
  { $id: 'ListProviderKeysResponse', additionalProperties: false },
);

export const CheckProviderKeyResponse = Type.Object(
  { provider_key: Type.Unsafe<Static<typeof ProviderKey>>(Type.Ref('ProviderKey')) },
  { $id: 'CheckProviderKeyResponse', additionalProperties: false },
);

export const DeleteProviderKeyResponse = Type.Object(
  {
    deleted: Type.Boolean(),
    provider: ProviderEnum,
    remaining_keys: Type.Integer({ minimum: 0 }),
    auto_switched: Type.Boolean({ description: 'True when this was the last key and the mode switched from byok to neo' }),
  },
  { $id: 'DeleteProviderKeyResponse', additionalProperties: false },
);

const AuditAction = Type.Unsafe<string>({
  type: 'string',
  enum: [
    'provider_key.created',
    'provider_key.updated',
    'provider_key.deleted',
    'mode.changed',
    'mode.auto_switched',
    'provider_key.status_changed',
    'provider_key.expiring',
    'provider_key.expired',
    ...WEBHOOK_AUDIT_ACTIONS,
  ],
});
const StatusOrNull = Type.Unsafe<KeyStatus | null>({ type: ['string', 'null'], enum: [...KEY_STATUSES, null] });
const ModeOrNull = Type.Unsafe<'neo' | 'byok' | null>({ type: ['string', 'null'], enum: ['neo', 'byok', null] });

export const AuditEvent = Type.Object(
  {
    id: Uuid,
    action: AuditAction,
    actor: Nullable(Type.Object({ id: Uuid, email: Type.String() }, { additionalProperties: false }), {
      description: 'Who made the change (null for a system change)',
    }),
    provider: Type.Unsafe<ProviderName | null>({ type: ['string', 'null'], enum: [...PROVIDERS, null] }),
    from_mode: ModeOrNull,
    to_mode: ModeOrNull,
    created_at: DateTime,
    request_id: Nullable(Type.String()),
    from_status: Type.Optional(StatusOrNull),
    to_status: Type.Optional(StatusOrNull),
    outcome: Type.Optional(
      Nullable(Type.String(), {
        description: 'Key-health events: the check outcome that changed the status (`rejected`, `accepted`, …), `expired`, or `expires_in_7d`/`expires_in_1d`',
      }),
    ),
    key_id: Type.Optional(Nullable(Uuid)),
    webhook_id: Type.Optional(
      Nullable(Uuid, { description: '`webhook.*`: the endpoint (for `webhook.disabled`, the server disabled it and `outcome` says why: `gone` or `failing`)' }),
    ),
    changed_fields: Type.Optional(
      Type.Array(Type.String(), { description: '`webhook.updated`: the names of the fields the change set to a new value (`url`, `events`, `description`, `enabled`); never their values' }),
    ),
  },
  { $id: 'AuditEvent', additionalProperties: false },
);

export const AUDIT_DEFAULT_LIMIT = 50;
export const AUDIT_DEFAULT_OFFSET = 0;

/** Both optional (OpenAPI `required: false`); the validator fills in the defaults. */
export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: AUDIT_DEFAULT_LIMIT, description: 'Events per page (1–200)' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: AUDIT_DEFAULT_OFFSET, description: 'Events to skip, newest first' })),
  },
  { additionalProperties: false },
);

export const AuditResponse = Type.Object(
  {
    data: Type.Array(Type.Unsafe<Static<typeof AuditEvent>>(Type.Ref('AuditEvent'))),
    has_more: Type.Boolean(),
    total: Type.Integer({ minimum: 0 }),
  },
  { $id: 'AuditResponse', additionalProperties: false },
);

/** Every named schema, registered once with Fastify (serialization, OpenAPI) and the validators. */
export const BYOK_COMPONENT_SCHEMAS: (TSchema & { $id: string })[] = [
  SetModelUseModeRequest,
  SetModelUseModeResponse,
  ModelUseModeResponse,
  ProviderKey,
  ValidationResult,
  UpsertProviderKeyRequest,
  ValidateProviderKeyRequest,
  UpsertProviderKeyResponse,
  ListProviderKeysResponse,
  CheckProviderKeyResponse,
  DeleteProviderKeyResponse,
  AuditEvent,
  AuditResponse,
] as (TSchema & { $id: string })[];

/** A reference to a named schema, typed as the schema itself. */
export function ref<T extends TSchema>(schema: T & { $id?: string }): T {
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id!)) as unknown as T;
}

export type UpsertBody = Static<typeof UpsertProviderKeyRequest>;
export type ValidateBody = Static<typeof ValidateProviderKeyRequest>;
