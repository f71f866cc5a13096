/** TypeBox schemas of the webhook endpoints (docs/webhooks.md). */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../http/schemas.ts';
import { MAX_ENDPOINTS_PER_OWNER, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhooks.events.ts';
import { MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH } from './webhooks.service.ts';

const EventType = Type.Unsafe<WebhookEventType>({ type: 'string', enum: [...WEBHOOK_EVENT_TYPES] });

const Events = Type.Array(EventType, {
  minItems: 1,
  maxItems: 32,
  description: 'The event types to receive (at least one). `ping` is sent only by the test call and needs no subscription.',
});

const Url = Type.String({
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  description: 'Where events are POSTed: `https` only, a public address (no loopback, private, link-local or other internal address; no user info). See docs/webhooks.md.',
});

const Description = Nullable(Type.String({ maxLength: MAX_DESCRIPTION_LENGTH }), { description: 'A note for people (e.g. "PagerDuty on-call")' });

export const WebhookEndpoint = Type.Object(
  {
    id: Uuid,
    url: Type.String(),
    description: Nullable(Type.String()),
    events: Type.Array(EventType),
    enabled: Type.Boolean({ description: 'Whether events are delivered to it' }),
    disabled_reason: Type.Unsafe<'gone' | 'failing' | null>({
      type: ['string', 'null'],
      enum: ['gone', 'failing', null],
      description: 'Why the server disabled it: `gone` (the receiver answered 410), `failing` (every attempt failed for 3 days); null otherwise',
    }),
    previous_secret_expires_at: Nullable(DateTime, { description: 'After a rotation: until when deliveries also carry a signature with the previous secret' }),
    failing_since: Nullable(DateTime, { description: 'Since when every attempt has failed; null while deliveries succeed' }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { $id: 'WebhookEndpoint', additionalProperties: false },
);
const EndpointRef = Type.Unsafe<Static<typeof WebhookEndpoint>>(Type.Ref('WebhookEndpoint'));

export const CreateWebhookRequest = Type.Object(
  { url: Url, events: Events, description: Type.Optional(Description) },
  { $id: 'CreateWebhookRequest', additionalProperties: false },
);

export const UpdateWebhookRequest = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean({ description: 'false stops deliveries (pending ones fail); true resumes them and clears `disabled_reason`' })),
  },
  { $id: 'UpdateWebhookRequest', additionalProperties: false, minProperties: 1 },
);

const Secret = Type.String({
  pattern: '^whsec_',
  description: 'The signing secret (`whsec_…`, Standard Webhooks). Shown only in this response: store it now.',
});

export const WebhookWithSecret = Type.Object({ webhook: EndpointRef, secret: Secret }, { $id: 'WebhookWithSecret', additionalProperties: false });

export const WebhookResponse = Type.Object({ webhook: EndpointRef }, { $id: 'WebhookResponse', additionalProperties: false });

export const ListWebhooksResponse = Type.Object(
  { webhooks: Type.Array(EndpointRef, { maxItems: MAX_ENDPOINTS_PER_OWNER }) },
  { $id: 'ListWebhooksResponse', additionalProperties: false },
);

export const DeleteWebhookResponse = Type.Object({ deleted: Type.Boolean(), id: Uuid }, { $id: 'DeleteWebhookResponse', additionalProperties: false });

export const WebhookDelivery = Type.Object(
  {
    id: Uuid,
    event_id: Type.String({ description: 'The event id: the `webhook-id` header and the payload `id`; the same on every attempt (deduplicate on it)' }),
    event_type: Type.String({ description: 'One of the event types, or `ping`' }),
    status: Type.Unsafe<'pending' | 'delivered' | 'failed'>({
      type: 'string',
      enum: ['pending', 'delivered', 'failed'],
      description: '`pending` (not yet sent, or waiting for a retry), `delivered` (a 2xx answer), `failed` (gave up: retries exhausted, 410, or the endpoint was disabled)',
    }),
    attempts: Type.Integer({ minimum: 0 }),
    last_status_code: Nullable(Type.Integer(), { description: "The receiver's HTTP status at the last attempt; null if none (not sent yet, refused, timed out)" }),
    last_error: Nullable(Type.String(), { description: 'Why the last attempt failed before a status (refused address, timeout, connection error)' }),
    last_response_excerpt: Nullable(Type.String(), { description: 'A short, sanitized excerpt of the last answer' }),
    last_attempt_at: Nullable(DateTime),
    next_attempt_at: Nullable(DateTime, { description: 'When it is attempted next, while pending' }),
    delivered_at: Nullable(DateTime),
    created_at: DateTime,
  },
  { $id: 'WebhookDelivery', additionalProperties: false },
);
const DeliveryRef = Type.Unsafe<Static<typeof WebhookDelivery>>(Type.Ref('WebhookDelivery'));

export const TestWebhookResponse = Type.Object({ delivery: DeliveryRef }, { $id: 'TestWebhookResponse', additionalProperties: false });

export const DeliveriesResponse = Type.Object(
  { data: Type.Array(DeliveryRef), has_more: Type.Boolean(), total: Type.Integer({ minimum: 0 }) },
  { $id: 'WebhookDeliveriesResponse', additionalProperties: false },
);

export const WebhookParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The webhook endpoint id' }) }, { additionalProperties: false });

export const DELIVERIES_DEFAULT_LIMIT = 50;
export const DeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DELIVERIES_DEFAULT_LIMIT, description: 'Deliveries per page (1–200)' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'Deliveries to skip, newest first' })),
  },
  { additionalProperties: false },
);

export const WEBHOOK_COMPONENT_SCHEMAS = [
  WebhookEndpoint,
  CreateWebhookRequest,
  UpdateWebhookRequest,
  WebhookWithSecret,
  WebhookResponse,
  ListWebhooksResponse,
  DeleteWebhookResponse,
  WebhookDelivery,
  TestWebhookResponse,
  DeliveriesResponse,
] as (TSchema & { $id: string })[];
