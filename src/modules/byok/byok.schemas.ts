/**
 * TypeBox schemas of the BYOK endpoints (CONTRACT.md section 4 and the seed). One
 * definition drives validation, the handler types and the OpenAPI document. Named
 * component schemas carry an `$id` and are registered by the routes plugin.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../http/schemas.ts';
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
    status: Type.Optional(
      Type.Unsafe<'unreadable'>({
        type: 'string',
        enum: ['unreadable'],
        description:
          'Present (`unreadable`) only when the stored secret no longer decrypts: it was altered or moved in the database, or its master key is not configured. Resolution fails for it; replace it with PATCH. Absent when the key is readable.',
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
  enum: ['provider_key.created', 'provider_key.updated', 'provider_key.deleted', 'mode.changed', 'mode.auto_switched'],
});
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
