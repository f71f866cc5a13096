/** TypeBox schemas of POST /internal/v1/credentials/resolve (CONTRACT.md section 8). */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Nullable, Uuid } from '../../http/schemas.ts';
import { CREDENTIAL_KINDS, PROVIDERS } from '../../providers/types.ts';
import { ref } from '../models/models.schemas.ts';

export const ResolveCredentialsRequest = Type.Object(
  {
    user_id: Type.String({ format: 'uuid', description: 'The Neo user the agent acts for' }),
    model: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'A Neo model id from the catalogue (GET /api/v1/models), or `auto`',
      examples: ['claude-sonnet-4-5', 'auto'],
    }),
    short_lived: Type.Optional(
      Type.Boolean({
        description:
          'Recommended. Deliver a short-lived form of a stored cloud key when it has one: a Vertex service-account key as an OAuth access token, long-term AWS keys as one-hour GetSessionToken keys (the runtime never holds the long-lived secret). Keyless connections are always short-lived. Default false.',
      }),
    ),
  },
  { $id: 'ResolveCredentialsRequest', required: ['user_id', 'model'], additionalProperties: false },
);

export const ResolvedCredential = Type.Object(
  {
    api_key: Type.String({
      description:
        'The secret to use, as `kind` says: as saved (an API key, the service-account JSON for google-vertex, a Bedrock API key or the SigV4 JSON `{"access_key_id","secret_access_key","session_token"?}` for amazon-bedrock, the resource key for azure-foundry), or a short-lived credential (keyless connections, `short_lived`)',
    }),
    location: Nullable(Type.String(), {
      description: 'GCP region (google-vertex), AWS region (amazon-bedrock), endpoint URL (azure-foundry); null for the others',
    }),
    kind: Type.String({
      enum: [...CREDENTIAL_KINDS],
      description:
        'What `api_key` holds: `api_key` (an API key or resource key as saved), `gcp_service_account` (the service-account JSON as saved), `aws_access_keys` (the SigV4 JSON, with `session_token` for temporary keys), `access_token` (an OAuth bearer access token: send `Authorization: Bearer <api_key>`, for Azure instead of `api-key`)',
    }),
    expires_at: Nullable(Type.String({ format: 'date-time' }), {
      description: 'When a short-lived credential expires (keyless connections, `short_lived`); null for a stored credential',
    }),
  },
  { $id: 'ResolvedCredential', required: ['api_key', 'location', 'kind', 'expires_at'], additionalProperties: false },
);

export const ResolveCredentialsResponse = Type.Object(
  {
    mode: Type.String({ enum: ['neo', 'byok'], description: "The owner's effective model use mode (`neo` while the `byok` flag is off)" }),
    resource_type: Type.String({ enum: ['user', 'team'], description: 'Whose settings applied: the team for a team member, else the user' }),
    resource_id: Uuid,
    neo_model_id: Type.String({ description: 'The Neo model to run (what `auto` picked, or the requested id)' }),
    provider: Type.String({ enum: [...PROVIDERS], description: "The provider to call: the model's first-party provider in neo mode; the serving key's provider in byok mode" }),
    provider_model_id: Type.String({ description: 'The model id to send to that provider (Azure: the deployment name)' }),
    credential: Nullable(ref(ResolvedCredential), {
      description: "byok mode: the owner's decrypted credential; neo mode: null (the platform's own key applies)",
    }),

    credential_id: Nullable(Uuid, {
      description:
        "byok mode: the id of the owner's provider key that served (the `id` of its ProviderKey), for attributing usage and for POST /internal/v1/credentials/report; null in neo mode",
    }),
    credential_version: Nullable(Type.Integer({ minimum: 1 }), {
      description: 'byok mode: the version of that key\'s secret (changes whenever the secret is replaced); send it back in reports; null in neo mode',
    }),
  },
  {
    $id: 'ResolveCredentialsResponse',
    required: ['mode', 'resource_type', 'resource_id', 'neo_model_id', 'provider', 'provider_model_id', 'credential', 'credential_id', 'credential_version'],
    additionalProperties: false,
  },
);

export type ResolveBody = Static<typeof ResolveCredentialsRequest>;

export const RESOLVE_COMPONENT_SCHEMAS = [
  ResolveCredentialsRequest,
  ResolvedCredential,
  ResolveCredentialsResponse,
] as (TSchema & { $id: string })[];
