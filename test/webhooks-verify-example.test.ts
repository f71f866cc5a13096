/**
 * The receiver example of docs/webhooks.md (docs/examples/verify-webhook.ts) works
 * against what the server sends: deliveries signed and posted by the server's own
 * signing and outbound code (src/modules/webhooks) reach a running copy of the example
 * on 127.0.0.1, which accepts them, acts once per event, and refuses anything else;
 * a ping sent by the app's delivery worker reaches it verified; and docs/webhooks.md
 * shows the file exactly.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createReceiver, type NeoWebhookEvent } from '../docs/examples/verify-webhook.ts';
import { postWebhook } from '../src/modules/webhooks/safe-http.ts';
import { newWebhookSecret, signedHeaders } from '../src/modules/webhooks/signing.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, uniqueEmail } from './helpers/fixtures.ts';

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

describe('docs/webhooks.md', () => {
  it('"Verifying a delivery (TypeScript)" shows docs/examples/verify-webhook.ts exactly', () => {
    const doc = readFileSync(new URL('../docs/webhooks.md', import.meta.url), 'utf8');
    const start = doc.indexOf('\n## Verifying a delivery (TypeScript)\n');
    assert.ok(start >= 0, 'the section exists');
    const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
    const block = /\n```ts\n([\s\S]*?)\n```\n/.exec(section)?.[1];
    assert.equal(
      block,
      readFileSync(new URL('../docs/examples/verify-webhook.ts', import.meta.url), 'utf8').trimEnd(),
    );
  });
});

for (const dialect of testDialects()) {
  describe(`the example receiver gets the server's deliveries [${dialect}]`, () => {
    let ctx: TestContext;
    let server: Server;
    const events: NeoWebhookEvent[] = [];
    let secret = '';
    before(async () => {
      // The secret is known only after the endpoint exists: the receiver reads it late.
      let receiver: Server | undefined;
      server = createServer((req, res) =>
        (receiver ??= createReceiver(secret, (e) => void events.push(e))).emit('request', req, res),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      ctx = await createTestContext({ dialect, env: { NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: hostPort } });
      const user = await createUser(ctx, uniqueEmail('example'));
      await setByok(ctx, user.owner);
      const created = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/byok/webhooks',
        headers: user.headers,
        payload: { url: `http://${hostPort}/neo`, events: ['provider_key.status_changed'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      const body = created.json<{ webhook: { id: string }; secret: string }>();
      secret = body.secret;
      const ping = await ctx.app.inject({
        method: 'POST',
        url: `/api/v1/byok/webhooks/${body.webhook.id}/test`,
        headers: user.headers,
      });
      assert.equal(ping.statusCode, 202, ping.body);
    });
    after(async () => {
      await ctx?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('a ping sent by the delivery worker is verified and handed over', async () => {
      await ctx.app.services.webhookWorker.round();
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'ping');
    });
  });
}
