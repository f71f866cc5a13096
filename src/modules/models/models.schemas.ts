/**
 * TypeBox schemas of the Models endpoints (CONTRACT.md section 5). Named component
 * schemas carry an `$id` and are registered by the routes plugin.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Nullable } from '../../http/schemas.ts';
import { PROVIDERS } from '../../providers/types.ts';

/** A `$ref` to a named component schema, typed as the schema itself. */
export function ref<T extends TSchema>(schema: T & { $id?: string }): T {
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id!)) as unknown as T;
}

export const ModelCapabilities = Type.Object(
  {
    tools: Type.Boolean({ description: 'Supports tool (function) calling' }),
    vision: Type.Boolean({ description: 'Accepts image input' }),
    reasoning: Type.Boolean({ description: 'Has an extended reasoning / thinking mode' }),
  },
  { $id: 'ModelCapabilities', additionalProperties: false },
);

export const Model = Type.Object(
  {
    id: Type.String({ description: 'Neo model id (or `auto`)', examples: ['claude-sonnet-4-5'] }),
    name: Type.String({ examples: ['Claude Sonnet 4.5'] }),
    family: Type.String({ description: 'Model family: claude, gpt, o-series, gemini, grok (`auto` for the alias)' }),
    context_window: Type.Integer({ minimum: 0, description: 'Context window in tokens' }),
    capabilities: ref(ModelCapabilities),
    available: Type.Boolean({ description: 'Whether the caller may use this model now (mode- and key-aware)' }),
    served_by: Nullable(Type.String({ enum: ['neo', ...PROVIDERS] }), {
      description:
        "`neo` in neo mode; in byok mode the provider of the caller's keys that would serve it (first-party provider first, then cloud providers, then gateways); null when unavailable",
    }),
    reason: Nullable(Type.String(), { description: 'Why the model is unavailable; null when available' }),
    resolves_to: Type.Optional(
      Nullable(Type.String(), { description: 'Only on `auto`: the Neo model id it picks for the caller now; null when none is available' }),
    ),
  },
  { $id: 'Model', required: ['id', 'name', 'family', 'context_window', 'capabilities', 'available', 'served_by', 'reason'], additionalProperties: false },
);

export const ListModelsResponse = Type.Object(
  { data: Type.Array(ref(Model)) },
  { $id: 'ListModelsResponse', required: ['data'], additionalProperties: false },
);

export const ModelParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 200, description: 'Neo model id, or `auto`' }) },
  { additionalProperties: false },
);

export const MODELS_COMPONENT_SCHEMAS = [ModelCapabilities, Model, ListModelsResponse] as (TSchema & { $id: string })[];
