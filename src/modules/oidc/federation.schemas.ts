/**
 * TypeBox schemas of `GET /api/v1/byok/federation` (one definition drives the response
 * serialization, the types and the OpenAPI component `FederationHelp`).
 */
import { Type, type Static } from '@sinclair/typebox';

const Strings = (description: string) => Type.Array(Type.String(), { description });

const CredentialField = Type.Object(
  {
    name: Type.String({ description: 'Field name of the federated credential (or `location`)' }),
    required: Type.Boolean(),
    description: Type.String(),
    example: Type.String(),
  },
  { $id: 'FederationCredentialField', additionalProperties: false },
);
const fieldRef = Type.Unsafe<Static<typeof CredentialField>>(Type.Ref('FederationCredentialField'));
const JsonDocument = (description: string) => Type.Record(Type.String(), Type.Unknown(), { description });

export const FederationHelp = Type.Object(
  {
    resource_type: Type.Union([Type.Literal('user'), Type.Literal('team')], { description: 'Whose connections this help is for (the caller\'s owner)' }),
    resource_id: Type.String(),
    issuer: Type.String({ description: 'NEO_OIDC_ISSUER: the `iss` of the tokens; what the clouds trust' }),
    subject: Type.String({ description: 'The exact `sub` of this owner\'s tokens: `neo:team:<id>` or `neo:user:<id>`' }),
    discovery_url: Type.String(),
    jwks_uri: Type.String(),
    token_lifetime_seconds: Type.Integer({ description: 'Lifetime of a token the service presents to a cloud' }),
    aws: Type.Object(
      {
        provider: Type.Literal('amazon-bedrock'),
        audience: Type.String({ description: '`aud` of the tokens presented to AWS STS' }),
        oidc_provider_url: Type.String({ description: 'URL of the IAM OIDC identity provider to create' }),
        condition_keys: Type.Object({ sub: Type.String(), aud: Type.String() }, { additionalProperties: false, description: 'IAM condition keys of this issuer' }),
        trust_policy: JsonDocument('Trust policy of the IAM role (replace <ACCOUNT_ID>)'),
        permissions_policy: JsonDocument('Permissions the role needs on Bedrock'),
        commands: Strings('AWS CLI commands, with comments'),
        verify: Strings('Commands that show the setup'),
        credential_fields: Type.Array(fieldRef),
      },
      { additionalProperties: false },
    ),
    google: Type.Object(
      {
        provider: Type.Literal('google-vertex'),
        audience_format: Type.String({ description: '`aud` of the tokens presented to Google STS: the provider\'s full resource name (the default allowed audience)' }),
        attribute_mapping: Type.String(),
        attribute_condition: Type.String({ description: 'CEL condition that admits this owner\'s tokens only' }),
        principal_format: Type.String({ description: 'IAM principal of this owner in the pool' }),
        commands: Strings('gcloud commands (pool, provider, access to Vertex AI), with comments'),
        service_account_commands: Strings('Optional: a service account the service acts as'),
        verify: Strings('Commands that show the setup'),
        credential_fields: Type.Array(fieldRef),
      },
      { additionalProperties: false },
    ),
    azure: Type.Object(
      {
        provider: Type.Literal('azure-foundry'),
        audience: Type.String({ description: '`aud` of the client assertion presented to Microsoft Entra' }),
        federated_credential: Type.Object(
          { name: Type.String(), issuer: Type.String(), subject: Type.String(), audiences: Type.Array(Type.String()), description: Type.String() },
          { additionalProperties: false, description: 'The federated identity credential of the app registration' },
        ),
        commands: Strings('az commands (app registration, federated credential, role assignment), with comments'),
        verify: Strings('Commands that show the setup'),
        credential_fields: Type.Array(fieldRef),
      },
      { additionalProperties: false },
    ),
  },
  { $id: 'FederationHelp', additionalProperties: false },
);

export const FEDERATION_COMPONENT_SCHEMAS = [CredentialField, FederationHelp];
