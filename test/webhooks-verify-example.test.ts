/**
 * The receiver example of docs/webhooks.md (docs/examples/verify-webhook.ts) works
 * against what the server sends: deliveries signed and posted by the server's own
 * signing and outbound code (src/modules/webhooks) reach a running copy of the example
 * on 127.0.0.1, which accepts them, acts once per event, and refuses anything else.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createReceiver, type NeoWebhookEvent } from '../docs/examples/verify-webhook.ts';
import { postWebhook } from '../src/modules/webhooks/safe-http.ts';
import { newWebhookSecret, signedHeaders } from '../src/modules/webhooks/signing.ts';

describe('docs/examples/verify-webhook.ts', () => {
  const secret = newWebhookSecret();
  const events: NeoWebhookEvent[] = [];
  let server: Server;
  let url: string;
  let hostPort: string;
  before(async () => {
    server = createReceiver(secret, (e) => void events.push(e));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    url = `http://${hostPort}/neo`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const event = (id: string): NeoWebhookEvent => ({
    id,
    type: 'provider_key.status_changed',
    timestamp: new Date().toISOString(),
    resource_type: 'team',
    resource_id: '0193a1b2-0000-7000-8000-000000000001',
    data: {
      provider: 'openai',
      key_id: '0193a1b2-0000-7000-8000-000000000002',
      key_hint: 'sk-…AbCd',
      from: 'valid',
      to: 'invalid',
    },
  });
  const send = (body: string, headers: Record<string, string>) =>
    postWebhook(url, body, headers, { allowedHttpHosts: [hostPort] });

  it('accepts a signed delivery and hands the event over once, however often it arrives', async () => {
    const e = event('evt_once');
    const body = JSON.stringify(e);
    const headers = signedHeaders([secret], e.id, new Date(), body);
    assert.equal((await send(body, headers)).status, 204);
    assert.equal((await send(body, headers)).status, 204);
    assert.deepEqual(
      events.filter((x) => x.id === 'evt_once'),
      [e],
    );
  });

  it('accepts both signatures during a rotation, whichever secret it holds', async () => {
    const e = event('evt_rotation');
    const body = JSON.stringify(e);
    assert.equal(
      (await send(body, signedHeaders([newWebhookSecret(), secret], e.id, new Date(), body))).status,
      204,
    );
    assert.ok(events.some((x) => x.id === 'evt_rotation'));
  });

  it('refuses 401 a wrong secret, a changed body, an old timestamp and a missing signature, and acts on none', async () => {
    const before = events.length;
    const e = event('evt_forged');
    const body = JSON.stringify(e);
    const now = new Date();
    const cases: [string, Record<string, string>][] = [
      [body, signedHeaders([newWebhookSecret()], e.id, now, body)],
      [body.replace('invalid', 'valid'), signedHeaders([secret], e.id, now, body)],
      [body, signedHeaders([secret], e.id, new Date(now.getTime() - 10 * 60_000), body)],
      [body, { 'webhook-id': e.id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)) }],
    ];
    for (const [b, h] of cases) assert.equal((await send(b, h)).status, 401);
    assert.equal(events.length, before);
  });
});
