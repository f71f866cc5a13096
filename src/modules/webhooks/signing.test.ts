/**
 * Signatures are checked with the Standard Webhooks reference verification
 * (`Webhook.verify` of the `standardwebhooks` package), never with the project's own code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { newWebhookSecret, signDelivery, signedHeaders } from './signing.ts';

const body = JSON.stringify({
  id: 'evt_1',
  type: 'provider_key.status_changed',
  data: { provider: 'openai', key_hint: 'sk-…AbCd' },
});

describe('newWebhookSecret', () => {
  it('is whsec_ and the base64 of 32 random bytes, never repeating', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = newWebhookSecret();
      assert.match(s, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(Buffer.from(s.slice(6), 'base64').length, 32);
      seen.add(s);
    }
    assert.equal(seen.size, 200);
  });

  it('uses the injected random source', () => {
    assert.equal(
      newWebhookSecret((n) => Buffer.alloc(n, 1)),
      `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
    );
  });
});

describe('signDelivery', () => {
  const now = new Date();

  it('produces a header the reference library verifies', () => {
    const secret = newWebhookSecret();
    const headers = signedHeaders([secret], 'msg_2Kx', now, body);
    assert.match(headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.equal(headers['webhook-timestamp'], String(Math.floor(now.getTime() / 1000)));
    assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  });

  it('during a rotation carries both signatures, and each secret alone verifies', () => {
    const next = newWebhookSecret();
    const previous = newWebhookSecret();
    const signature = signDelivery([next, previous], 'msg_rot', now, body);
    assert.equal(signature.split(' ').length, 2);
    for (const part of signature.split(' ')) assert.match(part, /^v1,[A-Za-z0-9+/]{43}=$/);
    const headers = {
      'webhook-id': 'msg_rot',
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    };
    assert.deepEqual(new Webhook(next).verify(body, headers), JSON.parse(body));
    assert.deepEqual(new Webhook(previous).verify(body, headers), JSON.parse(body));
    assert.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), WebhookVerificationError);
  });

  it('binds the id, the timestamp and the exact body', () => {
    const secret = newWebhookSecret();
    const headers = signedHeaders([secret], 'msg_a', now, body);
    const wh = new Webhook(secret);
    assert.throws(() => wh.verify(body.replace('openai', 'anthropic'), headers), WebhookVerificationError);
    assert.throws(() => wh.verify(body, { ...headers, 'webhook-id': 'msg_b' }), WebhookVerificationError);
    const later = String(Number(headers['webhook-timestamp']) + 1);
    assert.throws(
      () => wh.verify(body, { ...headers, 'webhook-timestamp': later }),
      WebhookVerificationError,
    );
  });

  it('needs a secret', () => {
    assert.throws(() => signDelivery([], 'msg', now, body));
  });
});
