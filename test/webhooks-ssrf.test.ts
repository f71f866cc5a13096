/**
 * Webhook URLs through the API (docs/security.md "Webhook URLs"): every refused URL is a
 * 400 invalid_request naming `url` at creation (and on PATCH), and an endpoint whose host
 * later resolves to an internal address fails its delivery attempt, shown in the
 * delivery log, without any connection being made.
 *
 * DNS is the test's: the app gets an injected lookup (AppDeps.webhookLookup), so no
 * query leaves the machine. Every refused URL aims at a trap server on 127.0.0.1 that
 * counts TCP connections and must see none.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { LookupFn } from '../src/modules/webhooks/safe-http.ts';
import { startReceiver, startTrap, type LocalServer } from './fakes/webhook-servers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';

const BASE = '/api/v1/byok/webhooks';

interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

for (const dialect of testDialects()) {
  describe(`webhook URLs never reach the internal network [${dialect}]`, () => {
    let ctx: TestContext;
    let trap: LocalServer;
    let receiver: LocalServer;
    let user: TestUser;
    /** The test's DNS: name → addresses (anything else does not resolve). */
    const dns = new Map<string, string[]>();
    const lookups: string[] = [];
    const lookup: LookupFn = async (hostname) => {
      lookups.push(hostname);
      const addresses = dns.get(hostname);
      if (!addresses)
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    let answer: (res: ServerResponse) => void = (res) => res.writeHead(204).end();

    before(async () => {
      trap = await startTrap();
      receiver = await startReceiver((_req, res) => answer(res));
      dns.set('localhost', ['127.0.0.1', '::1']); // as /etc/hosts says
      ctx = await createTestContext({
        dialect,
        env: { NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: receiver.hostPort },
        deps: { webhookLookup: lookup },
      });
      user = await createUser(ctx, uniqueEmail('ssrf'));
      await setByok(ctx, user.owner);
    });
    after(async () => {
      await ctx?.close();
      await trap?.close();
      await receiver?.close();
    });

    const create = (url: string) =>
      ctx.app.inject({
        method: 'POST',
        url: BASE,
        headers: user.headers,
        payload: { url, events: ['provider_key.status_changed'] },
      });
    const list = async () =>
      (await ctx.app.inject({ method: 'GET', url: BASE, headers: user.headers })).json<{
        webhooks: { id: string; url: string }[];
      }>().webhooks;

    function refusedUrls(): [string, RegExp][] {
      const p = trap.port;
      return [
        [`http://127.0.0.1:${p}/hook`, /url must use https/],
        [`https://localhost:${p}/hook`, /loopback/],
        [`https://127.0.0.1:${p}/hook`, /loopback/],
        [`https://[::1]:${p}/hook`, /loopback/],
        [`https://0.0.0.0:${p}/hook`, /unspecified/],
        [`https://2130706433:${p}/hook`, /loopback/],
        [`https://0177.0.0.1:${p}/hook`, /loopback/],
        [`https://0x7f.0.0.1:${p}/hook`, /loopback/],
        [`https://[::ffff:127.0.0.1]:${p}/hook`, /loopback/],
        [`https://inward.example.test:${p}/hook`, /loopback/],
        [`https://169.254.169.254/latest/meta-data/`, /link-local/],
        [`https://10.0.0.7/hook`, /private/],
        [`https://user:secret@hooks.example.test/hook`, /url must not contain a user name or password/],
        [`http://user:secret@${receiver.hostPort}/hook`, /url must not contain a user name or password/],
        [`https://nowhere.example.test/hook`, /url host name does not resolve/],
      ];
    }

    it('creating an endpoint with a refused URL is 400 invalid_request naming url; nothing is stored, the trap sees nothing', async () => {
      dns.set('inward.example.test', ['127.0.0.1']);
      dns.set('hooks.example.test', ['93.184.216.34']);
      for (const [url, reason] of refusedUrls()) {
        const res = await create(url);
        const body = assertErrorResponse(res, 400, 'invalid_request', url);
        assert.match(String(body.message), /^invalid request: url /, url);
        assert.match(String(body.message), reason, url);
        assert.ok(!String(body.message).includes('secret'), 'the URL is not echoed');
      }
      assert.deepEqual(await list(), []);
      assert.equal(trap.connections, 0);
    });

    it('changing an endpoint URL to a refused one is refused the same way', async () => {
      dns.set('hooks.example.test', ['93.184.216.34']);
      const res = await create('https://hooks.example.test/patch-me');
      assert.equal(res.statusCode, 201, res.body);
      const { webhook } = res.json<{ webhook: { id: string } }>();
      for (const [url, reason] of refusedUrls()) {
        const patch = await ctx.app.inject({
          method: 'PATCH',
          url: `${BASE}/${webhook.id}`,
          headers: user.headers,
          payload: { url },
        });
        const body = assertErrorResponse(patch, 400, 'invalid_request', url);
        assert.match(String(body.message), reason, url);
      }
      assert.equal(
        (await list()).find((w) => w.id === webhook.id)?.url,
        'https://hooks.example.test/patch-me',
      );
      await ctx.app.inject({ method: 'DELETE', url: `${BASE}/${webhook.id}`, headers: user.headers });
      assert.equal(trap.connections, 0);
    });

    it('an endpoint whose host later resolves inward: the attempt fails, shows in the delivery log, and nothing is contacted', async () => {
      // Public at creation (checked with the injected DNS; nothing is sent then).
      dns.set('rebind.example.test', ['93.184.216.34']);
      const res = await create(`https://rebind.example.test:${trap.port}/hook`);
      assert.equal(res.statusCode, 201, res.body);
      const { webhook } = res.json<{ webhook: { id: string } }>();
      // Then the name points at the trap.
      dns.set('rebind.example.test', ['127.0.0.1']);
      lookups.length = 0;
      const test = await ctx.app.inject({
        method: 'POST',
        url: `${BASE}/${webhook.id}/test`,
        headers: user.headers,
      });
      assert.equal(test.statusCode, 202, test.body);
      await ctx.app.services.webhookWorker.round();
      assert.ok(lookups.includes('rebind.example.test'), 'the host was resolved again at delivery');
      const log = await ctx.app.inject({
        method: 'GET',
        url: `${BASE}/${webhook.id}/deliveries`,
        headers: user.headers,
      });
      assert.equal(log.statusCode, 200, log.body);
      const [delivery] = log.json<{ data: Delivery[] }>().data;
      assert.ok(delivery, 'the ping is in the log');
      assert.equal(delivery.event_type, 'ping');
      assert.equal(delivery.attempts, 1);
      assert.notEqual(delivery.status, 'delivered');
      assert.equal(delivery.last_status_code, null);
      assert.match(
        delivery.last_error ?? '',
        /^refused: url must point to a public address; its host is a loopback address$/,
      );
      assert.equal(trap.connections, 0);
    });

    it('a redirect from an allow-listed receiver to the trap is a failed attempt; the trap sees nothing', async () => {
      answer = (res) => res.writeHead(302, { location: `${trap.url}/internal` }).end();
      const res = await create(`${receiver.url}/redirecting`);
      assert.equal(res.statusCode, 201, res.body);
      const { webhook } = res.json<{ webhook: { id: string } }>();
      const test = await ctx.app.inject({
        method: 'POST',
        url: `${BASE}/${webhook.id}/test`,
        headers: user.headers,
      });
      assert.equal(test.statusCode, 202, test.body);
      await ctx.app.services.webhookWorker.round();
      const log = await ctx.app.inject({
        method: 'GET',
        url: `${BASE}/${webhook.id}/deliveries`,
        headers: user.headers,
      });
      const [delivery] = log.json<{ data: Delivery[] }>().data;
      assert.ok(delivery);
      assert.equal(delivery.attempts, 1);
      assert.equal(delivery.last_status_code, 302);
      assert.notEqual(delivery.status, 'delivered');
      assert.ok(receiver.requests.some((r) => r.url === '/redirecting'));
      assert.equal(trap.connections, 0);
    });
  });
}
