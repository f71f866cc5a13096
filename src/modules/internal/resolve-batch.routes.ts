/**
 * POST /internal/v1/credentials/resolve-batch (issue 15 item 3): the single resolve of
 * CONTRACT.md section 8 for up to 100 items in one request, answered per item, in order.
 *
 * A path of its own rather than a second body shape on /internal/v1/credentials/resolve:
 * there the body and the 200 answer would become unions, so the single form's OpenAPI
 * operation (and its validation messages) would change, while the contract fixes it.
 *
 * Same authentication as resolve (the internal service token only), same
 * `Cache-Control: no-store`. A malformed batch (no items, more than 100, an item that is
 * not a valid resolve body) is a 400 for the whole request; an item that resolves to an
 * error (unknown user or model, byok model unavailable, a cloud exchange refused or
 * unreachable, a fault) is that item's entry only, and the batch answers 200.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { errorBody } from '../../errors/index.ts';
import { logFault, toAppError } from '../../http/errors.ts';
import { errorResponses } from '../../http/schemas.ts';
import { ownerKey } from '../auth/owner.ts';
import { ref } from '../models/models.schemas.ts';
import { MAX_BATCH_ITEMS, RESOLVE_BATCH_COMPONENT_SCHEMAS, ResolveCredentialsBatchRequest, ResolveCredentialsBatchResponse } from './resolve-batch.schemas.ts';
import type { ResolveBatchService } from './resolve-batch.service.ts';
import { RESOLVE_COMPONENT_SCHEMAS } from './resolve.schemas.ts';

export const resolveBatchRoutes: FastifyPluginAsync<{ batch: ResolveBatchService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // The item and result schemas are resolve's own (the same objects, also added by its plugin).
  for (const s of [...RESOLVE_COMPONENT_SCHEMAS, ...RESOLVE_BATCH_COMPONENT_SCHEMAS]) app.addSchema(s);

  app.post(
    '/internal/v1/credentials/resolve-batch',
    {
      config: { auth: 'internal' },
      schema: {
        tags: ['Internal'],
        operationId: 'post-internal-v1-credentials-resolve-batch',
        summary: 'Resolve the model and credential for up to 100 agent calls',
        description: `The batch form of POST /internal/v1/credentials/resolve, for a runtime that prepares several LLM calls at once: \`items\` holds 1 to ${MAX_BATCH_ITEMS} bodies of the single resolve (\`user_id\`, \`model\`, \`short_lived\`), and \`results\` answers each, in the same order, with what the single resolve would have answered: \`status\` 200 and \`result\` (the single resolve's answer, credential included), or the single resolve's error status and \`error\` (its ErrorResponse: 404 \`not_exists\` for an unknown user or model, 409 \`byok_model_unavailable\`, 409 \`cloud_credential_rejected\`, 503 \`cloud_credential_unavailable\` with \`retry_after\`, 500 \`internal\`). An item's error never fails the batch: the answer is 200 whenever the batch itself is well formed.

Same authentication as the single resolve: \`Authorization: Bearer <NEO_INTERNAL_TOKEN>\` only (a user JWT or API key gets 401). A batch with no items, more than ${MAX_BATCH_ITEMS}, or an item that is not a valid resolve body is refused as a whole with 400 \`invalid_request\` (the message names the item). Duplicate items are allowed and each is answered.

Every item of one owner is answered from one read of that owner's mode, flag and keys (and each user's team membership is read once per batch), so the items of a batch never disagree about an owner even when a change lands meanwhile. Each item counts in \`neo_credential_resolves_total\` exactly as a single resolve does. Do not cache the credentials beyond the calls they are for (docs/runtime-integration.md).`,
        security: [{ InternalToken: [] }],
        body: ref(ResolveCredentialsBatchRequest),
        response: { 200: ref(ResolveCredentialsBatchResponse), ...errorResponses(400, 401, 413, 415) },
      },
    },
    async (request, reply) => {
      // The answer carries secrets: never stored by a cache on the way.
      void reply.header('Cache-Control', 'no-store');
      const owners = new Set<string>();
      const outcomes = await opts.batch.resolveAll(request.body.items, (owner) => owners.add(ownerKey(owner)));
      // The owners go into this request's log line, as the single resolve's owner does (one
      // string of `type:id`s: metrics carry no per-owner label).
      request.log = request.log.child({ batch_items: outcomes.length, owners: [...owners].join(' ') });
      reply.log = request.log;
      const results = outcomes.map((o, index) => {
        if (o.ok) return { status: 200, result: o.value, error: null, retry_after: null };
        const err = toAppError(o.error);
        if (err.status >= 500) logFault(request, o.error, { batch_item: index }, 'batch resolve item failed');
        return { status: err.status, result: null, error: errorBody(err, request.id), retry_after: err.retryAfter ?? null };
      });
      return { results };
    },
  );
};
