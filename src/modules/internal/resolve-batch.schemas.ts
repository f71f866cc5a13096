/**
 * TypeBox schemas of POST /internal/v1/credentials/resolve-batch (issue 15 item 3): up to
 * MAX_BATCH_ITEMS single-resolve bodies in, one entry per item out, in order.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { Nullable } from '../../http/schemas.ts';
import { ref } from '../models/models.schemas.ts';
import { ResolveCredentialsRequest, ResolveCredentialsResponse } from './resolve.schemas.ts';

/** Items of one batch at most. */
export const MAX_BATCH_ITEMS = 100;

export const ResolveCredentialsBatchRequest = Type.Object(
  {
    items: Type.Array(ref(ResolveCredentialsRequest), {
      minItems: 1,
      maxItems: MAX_BATCH_ITEMS,
      description: `1 to ${MAX_BATCH_ITEMS} resolve requests, each exactly the body of POST /internal/v1/credentials/resolve; duplicates are allowed (each is answered)`,
    }),
  },
  { $id: 'ResolveCredentialsBatchRequest', required: ['items'], additionalProperties: false },
);

export const ResolveCredentialsBatchResult = Type.Object(
  {
    status: Type.Integer({
      minimum: 200,
      maximum: 599,
      description: 'The HTTP status POST /internal/v1/credentials/resolve would have answered for this item: 200, or the status of `error`',
    }),
    result: Nullable(ref(ResolveCredentialsResponse), { description: 'status 200: the answer of the single resolve; otherwise null' }),
    error: Nullable(Type.Ref('ErrorResponse'), {
      description: 'Otherwise: the ErrorResponse the single resolve would have answered (404 `not_exists`, 409 `byok_model_unavailable`, 409 `cloud_credential_rejected`, 503 `cloud_credential_unavailable`, 500 `internal`, …); null on 200',
    }),
    retry_after: Nullable(Type.Integer({ minimum: 0 }), {
      description: "Seconds, where the single resolve would have sent `Retry-After` (503): retry this item (not the batch's other items) after it; null otherwise",
    }),
  },
  { $id: 'ResolveCredentialsBatchResult', required: ['status', 'result', 'error', 'retry_after'], additionalProperties: false },
);

export const ResolveCredentialsBatchResponse = Type.Object(
  {
    results: Type.Array(ref(ResolveCredentialsBatchResult), { description: 'One entry per item, in the order of `items`' }),
  },
  { $id: 'ResolveCredentialsBatchResponse', required: ['results'], additionalProperties: false },
);

export const RESOLVE_BATCH_COMPONENT_SCHEMAS = [
  ResolveCredentialsBatchRequest,
  ResolveCredentialsBatchResult,
  ResolveCredentialsBatchResponse,
] as (TSchema & { $id: string })[];
