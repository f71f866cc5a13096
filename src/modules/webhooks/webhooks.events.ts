/** The webhook event types (docs/webhooks.md). `ping` is sent only by POST …/{id}/test. */
export const WEBHOOK_EVENT_TYPES = [
  'provider_key.created',
  'provider_key.updated',
  'provider_key.deleted',
  'provider_key.status_changed',
  'provider_key.expiring',
  'mode.changed',
  'mode.auto_switched',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Every type a delivery can carry (a bounded metrics label). */
export const DELIVERY_EVENT_TYPES: readonly string[] = [...WEBHOOK_EVENT_TYPES, 'ping'];

export const MAX_ENDPOINTS_PER_OWNER = 10;
/** How long the previous secret still signs after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3600_000;
/** An endpoint failing every attempt this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 3 * 24 * 3600_000;
/** Connect + response timeout of one attempt. */
export const ATTEMPT_TIMEOUT_MS = 5_000;
/** How long a claim holds a delivery: 6× the 5 s deadline of one attempt; an instance that dies mid-attempt delays that delivery by this much. */
export const DELIVERY_LEASE_MS = 30_000;

/**
 * The audit actions of an endpoint (docs/webhooks.md, "Audit"): the four an owner's
 * admin makes through the API, and the one the server makes (410 or 3 days of failures).
 */
export const WEBHOOK_AUDIT_ACTIONS = ['webhook.created', 'webhook.updated', 'webhook.secret_rotated', 'webhook.deleted', 'webhook.disabled'] as const;
export type WebhookAuditAction = (typeof WEBHOOK_AUDIT_ACTIONS)[number];
