/**
 * Webhook endpoints (docs/webhooks.md) under /api/v1/byok/webhooks. Access is the BYOK
 * write rule, checked in preValidation like the other BYOK routes: 401 → 403
 * `forbidden` (team member/viewer) → 403 `byok_not_enabled` → 400 (validation) → the
 * operation. Another owner's endpoint id answers 404 like a missing one.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { principal } from '../../http/auth.ts';
import { BEARER_AND_KEY, errorResponses } from '../../http/schemas.ts';
import type { Owner } from '../auth/owner.ts';
import { ref } from '../byok/byok.schemas.ts';
import type { Actor, ByokService } from '../byok/byok.service.ts';
import { MAX_ENDPOINTS_PER_OWNER, ROTATION_OVERLAP_MS } from './webhooks.events.ts';
import {
  CreateWebhookRequest,
  DeleteWebhookResponse,
  DELIVERIES_DEFAULT_LIMIT,
  DeliveriesQuery,
  DeliveriesResponse,
  ListWebhooksResponse,
  TestWebhookResponse,
  UpdateWebhookRequest,
  WEBHOOK_COMPONENT_SCHEMAS,
  WebhookParams,
  WebhookResponse,
  WebhookWithSecret,
} from './webhooks.schemas.ts';
import type { WebhooksService } from './webhooks.service.ts';

const SECURITY = BEARER_AND_KEY as unknown as { [scheme: string]: string[] }[];

const ACCESS_NOTE = `

Access: solo users manage their own webhooks; team admins manage the team's; team members and viewers get 403 \`forbidden\`. While the owner's \`byok\` feature flag is off the call answers 403 \`byok_not_enabled\`. Another owner's endpoint id answers 404 \`not_exists\`.`;

function actorOf(request: FastifyRequest): Actor {
  const p = principal(request);
  return { id: p.user.id, email: p.user.email, requestId: request.id };
}

export const webhooksRoutes: FastifyPluginAsync<{ byok: ByokService; webhooks: WebhooksService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const svc = opts.webhooks;
  for (const s of WEBHOOK_COMPONENT_SCHEMAS) app.addSchema(s);

  // The owner whose webhooks the request manages, per request (set by the access check).
  const owners = new WeakMap<FastifyRequest, Owner>();
  const manage = async (request: FastifyRequest) => {
    owners.set(request, await opts.byok.authorizeManage(principal(request)));
  };
  const ownerOf = (request: FastifyRequest): Owner => {
    const o = owners.get(request);
    if (!o) throw new Error('webhook access check did not run');
    return o;
  };
  const common = { config: { auth: 'user' as const }, preValidation: async (request: FastifyRequest) => manage(request) };

  app.post(
    '/api/v1/byok/webhooks',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'post-v1-byok-webhooks',
        summary: 'Create a webhook endpoint',
        description: `Registers a URL that receives the owner's events, signed by the Standard Webhooks specification. The answer carries the signing secret (\`whsec_…\`): it is shown only here (and on rotation), never in a listing. At most ${MAX_ENDPOINTS_PER_OWNER} endpoints per owner (400 beyond). A URL that is not \`https\`, or whose host resolves to an internal address (loopback, private, link-local, unique-local, multicast, unspecified), or that carries user info, is refused with 400 \`invalid_request\` naming \`url\`.${ACCESS_NOTE}`,
        security: SECURITY,
        body: ref(CreateWebhookRequest),
        response: { 201: ref(WebhookWithSecret), ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const out = await svc.create(ownerOf(request), actorOf(request), request.body);
      return reply.code(201).send(out);
    },
  );

  app.get(
    '/api/v1/byok/webhooks',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'get-v1-byok-webhooks',
        summary: 'List webhook endpoints',
        description: `The owner's endpoints, oldest first. Never contains a signing secret.${ACCESS_NOTE}`,
        security: SECURITY,
        response: { 200: ref(ListWebhooksResponse), ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ webhooks: await svc.list(ownerOf(request)) }),
  );

  app.patch(
    '/api/v1/byok/webhooks/:id',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'patch-v1-byok-webhooks-id',
        summary: 'Change a webhook endpoint',
        description: `Changes the URL (checked like at creation), the events, the description, or enables/disables it. Disabling fails the deliveries still pending; enabling clears \`disabled_reason\` (an endpoint the server disabled after a 410 or 3 days of failures is enabled again this way).${ACCESS_NOTE}`,
        security: SECURITY,
        params: WebhookParams,
        body: ref(UpdateWebhookRequest),
        response: { 200: ref(WebhookResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => ({ webhook: await svc.update(ownerOf(request), actorOf(request), request.params.id, request.body) }),
  );

  app.delete(
    '/api/v1/byok/webhooks/:id',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'delete-v1-byok-webhooks-id',
        summary: 'Delete a webhook endpoint',
        description: `Deletes the endpoint and its delivery log; nothing more is sent to it.${ACCESS_NOTE}`,
        security: SECURITY,
        params: WebhookParams,
        response: { 200: ref(DeleteWebhookResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => svc.delete(ownerOf(request), actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/byok/webhooks/:id/rotate-secret',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'post-v1-byok-webhooks-id-rotate-secret',
        summary: 'Rotate the signing secret',
        description: `Makes a new signing secret, shown only in this answer. For the next ${ROTATION_OVERLAP_MS / 3600_000} hours (until \`previous_secret_expires_at\`) every delivery carries two signatures in \`webhook-signature\`, one per secret, so a receiver can switch to the new secret at any time in that window. No request body.${ACCESS_NOTE}`,
        security: SECURITY,
        params: WebhookParams,
        response: { 200: ref(WebhookWithSecret), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => svc.rotateSecret(ownerOf(request), actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/byok/webhooks/:id/test',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'post-v1-byok-webhooks-id-test',
        summary: 'Send a test event',
        description: `Queues a \`ping\` event to the endpoint, sent at once, and answers its delivery (202); follow it in the delivery log. It is retried like any event. A disabled endpoint → 400. No request body.${ACCESS_NOTE}`,
        security: SECURITY,
        params: WebhookParams,
        response: { 202: ref(TestWebhookResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(202).send({ delivery: await svc.test(ownerOf(request), actorOf(request), request.params.id) }),
  );

  app.get(
    '/api/v1/byok/webhooks/:id/deliveries',
    {
      ...common,
      schema: {
        tags: ['Webhooks'],
        operationId: 'get-v1-byok-webhooks-id-deliveries',
        summary: 'Delivery log of a webhook endpoint',
        description: `The endpoint's deliveries, newest first: event, attempts, last status code or error, next attempt time, delivered or failed. Never contains a secret; answers are kept only as a short, sanitized excerpt.${ACCESS_NOTE}`,
        security: SECURITY,
        params: WebhookParams,
        querystring: DeliveriesQuery,
        response: { 200: ref(DeliveriesResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => svc.deliveries(ownerOf(request), request.params.id, request.query.limit ?? DELIVERIES_DEFAULT_LIMIT, request.query.offset ?? 0),
  );
};
