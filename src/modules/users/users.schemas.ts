/**
 * TypeBox schemas of GET /api/v1/user (CONTRACT.md section 5). Named component schemas
 * carry an `$id` and are registered by the routes plugin.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { Nullable, Uuid } from '../../http/schemas.ts';
import { PROVIDERS } from '../../providers/types.ts';
import { ref } from '../models/models.schemas.ts';

export const ByokModel = Type.Object(
  {
    id: Type.String({ description: 'The model id as the provider listed it', examples: ['claude-sonnet-4-5-20250929'] }),
    provider: Type.String({ enum: [...PROVIDERS], description: 'The provider whose key listed it' }),
    supported: Type.Boolean({ description: 'Whether Neo supports it (maps it to a catalogue model)' }),
    neo_model_id: Type.Optional(Type.String({ description: 'The Neo model id it serves (supported models only)' })),
    provider_model_id: Type.Optional(
      Type.String({
        description:
          'The id Neo sends to the provider for it (supported models only); usually `id`, but e.g. a Bedrock model that needs an inference profile gets the profile of the key region',
      }),
    ),
    reason: Type.Optional(Type.String({ description: 'Why Neo does not support it (unsupported models only)' })),
  },
  { $id: 'ByokModel', required: ['id', 'provider', 'supported'], additionalProperties: false },
);

export const UserTeam = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    role: Type.String({ enum: ['admin', 'member', 'viewer'], description: "The caller's role in the team" }),
  },
  { $id: 'UserTeam', required: ['id', 'name', 'role'], additionalProperties: false },
);

export const UserProfile = Type.Object(
  {
    id: Uuid,
    email: Type.String({ format: 'email' }),
    role: Type.String({ enum: ['user', 'admin'], description: 'System role' }),
    features: Type.Object(
      { byok: Type.Boolean({ description: "The owner's `byok` feature flag (the team's for a team member)" }) },
      { required: ['byok'], additionalProperties: Type.Boolean(), description: 'Feature flags of the caller\'s owner' },
    ),
    tag: Nullable(Type.String()),
    team: Nullable(ref(UserTeam), { description: "The caller's team, or null for a solo user" }),
    model_use_mode: Type.String({
      enum: ['neo', 'byok'],
      description: "The effective model use mode of the caller's owner (`neo` while the `byok` flag is off)",
    }),
    available_models: Type.Array(Type.String(), {
      description: 'Neo model ids the caller may use now: the whole catalogue in neo mode, the models served by the owner\'s keys in byok mode. `auto` is accepted whenever this is not empty.',
    }),
    byok_models: Type.Optional(
      Type.Array(ref(ByokModel), {
        description: "Only in byok mode: every model the owner's providers listed, whether Neo supports it and why not",
      }),
    ),
  },
  {
    $id: 'UserProfile',
    required: ['id', 'email', 'role', 'features', 'tag', 'team', 'model_use_mode', 'available_models'],
    additionalProperties: false,
  },
);

export const USERS_COMPONENT_SCHEMAS = [ByokModel, UserTeam, UserProfile] as (TSchema & { $id: string })[];
