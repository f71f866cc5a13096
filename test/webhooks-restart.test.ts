/**
 * Webhooks survive a crash (docs/webhooks.md "Delivery and retries"): a real server
 * process (`bin/neo-byok serve`) raises events while its receiver is failing, is killed
 * with SIGKILL with those deliveries pending, and is started again on the same database:
 * every event is then delivered, once, signed (checked with the `standardwebhooks`
 * library). Black box: the retry schedule is shortened with NEO_WEBHOOK_RETRY_SCHEDULE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { startReceiver, type LocalServer } from './fakes/webhook-servers.ts';
import { signTestJwt, testDialects } from './helpers/context.ts';
import { openTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { eventually, startServerProcess, type ServerProcess } from './helpers/processes.ts';

for (const dialect of testDialects()) {
  describe(`webhooks: killed with pending deliveries, restarted, delivered [${dialect}]`, () => {
    let server: ServerProcess | undefined;
    let fake: FakeKeyProviders | undefined;
    let receiver: LocalServer | undefined;
    let testDb: TestDatabase | undefined;
    let dataDir = '';
    after(async () => {
      if (server) await server.stop();
      await receiver?.close();
      await fake?.close();
      await testDb?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('every event raised before the kill reaches the receiver once after the restart', async () => {
      let answer = 503;
      receiver = await startReceiver((_req, res) => res.writeHead(answer).end());
      fake = await startFakeKeyProviders();
      dataDir = mkdtempSync(join(tmpdir(), 'neo-wh-restart-'));
      testDb = await openTestDatabase(dialect, dataDir);
      const env = {
        ...fake.env,
        NEO_DATA_DIR: dataDir,
        NEO_DATABASE_URL: testDb.url,
        NEO_BYOK_DEFAULT: 'on',
        NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: receiver.hostPort,
        NEO_WEBHOOK_RETRY_SCHEDULE: '1,1,1,1,1,1,1,1,1,1',
      };
      server = await startServerProcess(env);
      const first = server;
      const token = await signTestJwt(uniqueEmail('restart'));
      const call = (base: string, method: string, path: string, body?: unknown) =>
        fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });

      const created = await call(first.url, 'POST', '/api/v1/byok/webhooks', { url: `${receiver.url}/hook`, events: ['provider_key.created', 'mode.changed'] });
      assert.equal(created.status, 201, await created.clone().text());
      const { webhook, secret } = (await created.json()) as { webhook: { id: string }; secret: string };
      const saved = await call(first.url, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-restart0123456789abcdef' });
      assert.equal(saved.status, 200, await saved.clone().text());
      assert.equal((await call(first.url, 'PATCH', '/api/v1/byok/mode', { mode: 'byok' })).status, 200);
      assert.equal((await call(first.url, 'POST', `/api/v1/byok/webhooks/${webhook.id}/test`)).status, 202);

      // The worker tries each of the three events; the receiver fails them.
      const ids = () => new Set(receiver!.requests.map((r) => r.headers['webhook-id']));
      assert.equal((await eventually(async () => ids().size === 3, 60_000)) && ids().size, 3, 'all three events attempted before the kill');
      process.kill(first.pid, 'SIGKILL');
      assert.equal((await first.exited).signal, 'SIGKILL');
      const before = receiver.requests.length;

      answer = 204;
      server = await startServerProcess(env);
      const second = server;
      const deliveries = async () => {
        const res = await call(second.url, 'GET', `/api/v1/byok/webhooks/${webhook.id}/deliveries`);
        return ((await res.json()) as { data: { event_type: string; status: string; last_status_code: number | null }[] }).data;
      };
      const done = await eventually(async () => {
        const d = await deliveries();
        return d.length === 3 && d.every((x) => x.status === 'delivered') ? d : null;
      }, 60_000);
      assert.ok(done, JSON.stringify(await deliveries()));
      assert.deepEqual(done.map((d) => d.event_type).sort(), ['mode.changed', 'ping', 'provider_key.created']);

      const after = receiver.requests.slice(before);
      const types = after.map((r) => (new Webhook(secret).verify(r.body, r.headers) as { type: string }).type).sort();
      assert.deepEqual(types, ['mode.changed', 'ping', 'provider_key.created'], 'each pending event delivered once after the restart');
      for (const r of receiver.requests) assert.ok(!r.body.includes('sk-proj-restart') && !r.body.includes(secret.slice(6)), 'no secret in a body');
      const logs = [...first.logs, ...first.stderr, ...second.logs, ...second.stderr].join('\n');
      assert.match(logs, /webhook delivery attempt/, 'the attempts are logged');
      assert.ok(!logs.includes(secret.slice(6)) && !logs.includes('sk-proj-restart'), 'no secret in the server logs');
    });
  });
}
