/** TypeBox schemas of the Neo API key endpoints (CONTRACT.md section 6). */
import { Type, type Static } from '@sinclair/typebox';
import { DateTime } from '../../http/schemas.ts';

export const ApiKeyResponse = Type.Object(
  {
    created_at: DateTime,
    key: Type.String({
      description:
        'The Neo API key. Only the responses of create and rotate carry the full value (shown once); ' +
        'GET returns it masked as `neo_sk_…` followed by its last 4 characters.',
      examples: ['neo_sk_…AbCd'],
    }),
  },
  { additionalProperties: false },
);
export type ApiKeyResponse = Static<typeof ApiKeyResponse>;

export const ApiKeyDeleted = Type.Object({ deleted: Type.Literal(true) }, { additionalProperties: false });
