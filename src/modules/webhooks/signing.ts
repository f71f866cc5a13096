/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/): the signature is
 * computed by the specification's reference library (`standardwebhooks`), not by
 * hand-written HMAC code, so what a receiver verifies with that library is exactly
 * what was signed.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The prefix of a Standard Webhooks signing secret. */
export const SECRET_PREFIX = 'whsec_';

/**
 * A new signing secret: `whsec_` and the base64 of 32 random bytes (the specification
 * asks for 24 to 64 bytes).
 */
export function newWebhookSecret(random: (n: number) => Buffer = randomBytes): string {
  return `${SECRET_PREFIX}${random(32).toString('base64')}`;
}

/**
 * The `webhook-signature` header value: one `v1,<base64 HMAC-SHA256>` per secret,
 * space-separated (during a rotation: the new secret's and the old one's). The signed
 * content is `msgId.timestamp-in-seconds.body`, with `body` exactly the bytes sent.
 */
export function signDelivery(
  secrets: readonly string[],
  msgId: string,
  timestamp: Date,
  body: string,
): string {
  if (secrets.length === 0) throw new Error('signDelivery needs at least one secret');
  return secrets.map((secret) => new Webhook(secret).sign(msgId, timestamp, body)).join(' ');
}

/** The three Standard Webhooks headers of one delivery. */
export function signedHeaders(
  secrets: readonly string[],
  msgId: string,
  timestamp: Date,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signDelivery(secrets, msgId, timestamp, body),
  };
}
