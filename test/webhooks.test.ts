/**
 * Webhooks end to end (docs/webhooks.md), with a local receiver on 127.0.0.1
 * (allow-listed through NEO_WEBHOOK_ALLOWED_HTTP_HOSTS), the provider fakes and a clock
 * the test controls: every signature is checked with the Standard Webhooks library
 * (`standardwebhooks`), not with the project's own code.
 *
 * - a key saved, the mode switched, the key found invalid by key health, the key deleted
 *   (auto switch) → the receiver gets each event once, signed, with no secret in a body;
 * - the receiver down → retries after growing delays → delivered once it is back;
 * - 410 → endpoint disabled (audit event); 3 days of failures → disabled (audit event);
 * - rotation: both signatures for 24 h, then only the new one;
 * - creating, changing, rotating and deleting an endpoint are audited (no secret, no URL);
 * - the API: 201 with the secret once, listings without it, PATCH, DELETE, at most 10,
 *   validation, member/viewer 403, flag off 403, another owner's id 404, no secret in logs.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { startRevocableOpenAi, type RevocableOpenAi } from './fakes/revocable-openai.ts';
import { startReceiver, type LocalServer, type ReceivedRequest } from './fakes/webhook-servers.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, setMode, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';

const BASE = '/api/v1/byok/webhooks';
const ALL_EVENTS = [
  'provider_key.created',
  'provider_key.updated',
  'provider_key.deleted',
  'provider_key.status_changed',
  'provider_key.expiring',
  'mode.changed',
  'mode.auto_switched',
];

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
}
interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
}
interface Payload {
  id: string;
  type: string;
  timestamp: string;
  resource_type: string;
  resource_id: string;
  data: Record<string, unknown>;
}

for (const dialect of testDialects()) {
  describe(`webhooks [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let openai: RevocableOpenAi;
    let receiver: LocalServer;
    /** What the receiver answers, per path (default 204). */
    const answers = new Map<string, number>();
    let nowMs = Date.now();

    before(async () => {
      fakes = await startProviderFakes();
      openai = await startRevocableOpenAi();
      receiver = await startReceiver((req: ReceivedRequest, res: ServerResponse) => {
        res.writeHead(answers.get(req.url) ?? 204, { 'content-type': 'text/plain' }).end('ok');
      });
      ctx = await createTestContext({
        dialect,
        env: { ...fakes.env, NEO_PROVIDER_URL_OPENAI: openai.url, NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: receiver.hostPort },
        deps: { clock: () => nowMs },
      });
    });
    after(async () => {
      await ctx?.close();
      await receiver?.close();
      await openai?.close();
      await fakes?.close();
    });

    const round = () => ctx.app.services.webhookWorker.round();
    let pathSeq = 0;
    const newPath = (name: string) => `/hooks/${name}-${++pathSeq}`;
    const received = (path: string) => receiver.requests.filter((r) => r.url === path);

    async function soloUser(prefix = 'wh'): Promise<TestUser> {
      const user = await createUser(ctx, uniqueEmail(prefix));
      await setByok(ctx, user.owner);
      return user;
    }
    async function createEndpoint(user: TestUser, path: string, events: string[] = ALL_EVENTS): Promise<{ webhook: Endpoint; secret: string }> {
      const res = await ctx.app.inject({ method: 'POST', url: BASE, headers: user.headers, payload: { url: receiver.url + path, events, description: 'test receiver' } });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    }
    async function ping(user: TestUser, id: string): Promise<Delivery> {
      const res = await ctx.app.inject({ method: 'POST', url: `${BASE}/${id}/test`, headers: user.headers });
      assert.equal(res.statusCode, 202, res.body);
      return res.json<{ delivery: Delivery }>().delivery;
    }
    async function deliveries(user: TestUser, id: string): Promise<Delivery[]> {
      const res = await ctx.app.inject({ method: 'GET', url: `${BASE}/${id}/deliveries`, headers: user.headers });
      assert.equal(res.statusCode, 200, res.body);
      return res.json<{ data: Delivery[] }>().data;
    }
    async function endpoint(user: TestUser, id: string): Promise<Endpoint> {
      const res = await ctx.app.inject({ method: 'GET', url: BASE, headers: user.headers });
      return res.json<{ webhooks: Endpoint[] }>().webhooks.find((w) => w.id === id)!;
    }
    /** Verifies a received request with the Standard Webhooks library; answers the payload. */
    function verified(req: ReceivedRequest, secret: string): Payload {
      const payload = new Webhook(secret).verify(req.body, req.headers) as Payload;
      assert.equal(req.headers['webhook-id'], payload.id, 'webhook-id is the event id');
      assert.match(req.headers['content-type'] ?? '', /^application\/json/);
      return payload;
    }

    it('a key saved, the mode switched, the key found invalid, the key deleted: each event once, signed, no secret in any body', async () => {
      const user = await soloUser();
      const path = newPath('events');
      const { webhook, secret } = await createEndpoint(user, path);
      assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/);

      const apiKey = acceptedCredential(fakes, 'openai').api_key;
      const save = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: apiKey } });
      assert.equal(save.statusCode, 200, save.body);
      const key = save.json<{ provider_key: { id: string; key_hint: string } }>().provider_key;
      await setMode(ctx, user, 'byok');

      // Key health: two rejections at least 30 s apart make the key invalid.
      openai.revoke(apiKey);
      const report = () =>
        ctx.app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/report',
          headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
          payload: { reports: [{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed' }] },
        });
      nowMs += 120_000;
      await report();
      await ctx.app.services.keyHealthScheduler.round();
      nowMs += 120_000;
      await report();
      await ctx.app.services.keyHealthScheduler.round();

      nowMs += 1000;
      const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/openai', headers: user.headers });
      assert.equal(del.statusCode, 200, del.body);
      assert.equal(del.json<{ auto_switched: boolean }>().auto_switched, true);

      await round();
      // A second round sends nothing again (none twice in the normal path).
      await round();
      const got = received(path);
      const payloads = got.map((r) => verified(r, secret));
      // Per-endpoint ordering is not promised (deliveries go out in parallel): sorted by event id (= time).
      payloads.sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(
        payloads.map((p) => p.type),
        ['provider_key.created', 'mode.changed', 'provider_key.status_changed', 'provider_key.deleted', 'mode.auto_switched'],
      );
      assert.equal(new Set(payloads.map((p) => p.id)).size, payloads.length, 'each event once');
      for (const p of payloads) {
        assert.equal(p.resource_type, 'user');
        assert.equal(p.resource_id, user.id);
        assert.ok(!Number.isNaN(Date.parse(p.timestamp)));
      }
      assert.deepEqual(payloads[0]!.data, { provider: 'openai', key_id: key.id, key_hint: key.key_hint, display_name: null, credential_version: 1, status: 'active', outcome: 'accepted', expires_at: null });
      assert.deepEqual(payloads[1]!.data, { from_mode: 'neo', to_mode: 'byok' });
      assert.equal(payloads[2]!.data.from_status, 'active');
      assert.equal(payloads[2]!.data.to_status, 'invalid');
      assert.equal(payloads[2]!.data.key_id, key.id);
      assert.equal(payloads[3]!.data.key_id, key.id);
      assert.equal(payloads[3]!.data.remaining_keys, 0);
      assert.deepEqual(payloads[4]!.data, { from_mode: 'byok', to_mode: 'neo', reason: 'last_provider_key_deleted', provider: 'openai', key_id: key.id });
      for (const r of got) {
        assert.ok(!r.body.includes(apiKey), 'no provider secret in a body');
        assert.ok(!r.body.includes(secret) && !r.body.includes(secret.slice(6)), 'no signing secret in a body');
      }
      // The delivery log says so.
      const log = await deliveries(user, webhook.id);
      assert.equal(log.length, 5);
      assert.deepEqual(log.map((d) => d.event_type), ['mode.auto_switched', 'provider_key.deleted', 'provider_key.status_changed', 'mode.changed', 'provider_key.created'], 'newest first');
      for (const d of log) {
        assert.equal(d.status, 'delivered');
        assert.equal(d.attempts, 1);
        assert.equal(d.last_status_code, 204);
        assert.equal(d.next_attempt_at, null);
      }
    });

    it('only subscribed events are delivered; an event of another owner never is', async () => {
      const user = await soloUser();
      const other = await soloUser();
      const path = newPath('subscribed');
      const { secret } = await createEndpoint(user, path, ['mode.changed']);
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: acceptedCredential(fakes, 'openai').api_key } });
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: other.headers, payload: { api_key: acceptedCredential(fakes, 'openai').api_key } });
      await setMode(ctx, other, 'byok');
      await setMode(ctx, user, 'byok');
      await round();
      const got = received(path).map((r) => verified(r, secret));
      assert.deepEqual(
        got.map((p) => [p.type, p.resource_id]),
        [['mode.changed', user.id]],
      );
    });

    it('an endpoint receives the changes committed after it was created or enabled; with no enabled endpoint a change writes no event', async () => {
      const user = await soloUser();
      const eventsOf = () => ctx.database.db.selectFrom('outbox').select('event_type').where('owner_type', '=', 'user').where('owner_id', '=', user.id).execute();
      const put = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: acceptedCredential(fakes, 'openai').api_key } });
      assert.equal(put.statusCode, 200, put.body);
      await setMode(ctx, user, 'byok');
      assert.deepEqual(await eventsOf(), [], 'no endpoint: no outbox row');

      const path = newPath('after-creation');
      const { webhook, secret } = await createEndpoint(user, path, ['mode.changed']);
      const off = await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: user.headers, payload: { enabled: false } });
      assert.equal(off.statusCode, 200, off.body);
      await setMode(ctx, user, 'neo');
      assert.deepEqual(await eventsOf(), [], 'a disabled endpoint takes no event: none is written');
      await round();
      assert.equal(received(path).length, 0);

      const on = await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: user.headers, payload: { enabled: true } });
      assert.equal(on.statusCode, 200, on.body);
      await setMode(ctx, user, 'byok');
      assert.deepEqual((await eventsOf()).map((e) => e.event_type), ['mode.changed']);
      await round();
      const got = received(path).map((r) => verified(r, secret));
      assert.deepEqual(
        got.map((p) => [p.type, p.data.from_mode, p.data.to_mode]),
        [['mode.changed', 'neo', 'byok']],
      );
    });

    it('receiver down: retries after growing delays (5 s, 5 min, 30 min, ±10 %), delivered once it is back', async () => {
      const user = await soloUser();
      const path = newPath('retry');
      const { webhook, secret } = await createEndpoint(user, path);
      answers.set(path, 503);
      const d0 = await ping(user, webhook.id);
      assert.equal(d0.status, 'pending');
      assert.equal(d0.event_type, 'ping');

      const expected = [5_000, 300_000, 1_800_000];
      for (const [i, delay] of expected.entries()) {
        await round();
        assert.equal(received(path).length, i + 1, `attempt ${i + 1} made`);
        const [d] = await deliveries(user, webhook.id);
        assert.equal(d!.status, 'pending');
        assert.equal(d!.attempts, i + 1);
        assert.equal(d!.last_status_code, 503);
        const wait = Date.parse(d!.next_attempt_at!) - Date.parse(d!.last_attempt_at!);
        assert.ok(wait >= delay * 0.9 && wait <= delay * 1.1, `delay after attempt ${i + 1}: ${wait} ms, expected ${delay} ms ±10 %`);
        // Not before its time...
        nowMs = Date.parse(d!.next_attempt_at!) - 1000;
        await round();
        assert.equal(received(path).length, i + 1, 'no attempt before next_attempt_at');
        // ...and then at once.
        nowMs = Date.parse(d!.next_attempt_at!);
      }
      answers.delete(path);
      await round();
      const got = received(path);
      assert.equal(got.length, 4);
      const payloads = got.map((r) => verified(r, secret));
      assert.equal(new Set(payloads.map((p) => p.id)).size, 1, 'every attempt carries the same event id');
      assert.equal(payloads[0]!.type, 'ping');
      const [d] = await deliveries(user, webhook.id);
      assert.equal(d!.status, 'delivered');
      assert.equal(d!.attempts, 4);
      assert.equal(d!.last_status_code, 204);
      assert.equal((await endpoint(user, webhook.id)).failing_since, null, 'a success ends the failure streak');

      const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` } });
      assert.match(metrics.body, /neo_webhook_deliveries_total\{event_type="ping",outcome="retrying"\} \d+/);
      assert.match(metrics.body, /neo_webhook_deliveries_total\{event_type="ping",outcome="delivered"\} \d+/);
      assert.match(metrics.body, /neo_webhook_queue_depth \d+/);
      assert.match(metrics.body, /neo_webhook_oldest_pending_age_seconds \d+/);
    });

    it('a receiver answering 410 disables the endpoint (audit event); nothing more is sent to it', async () => {
      const user = await soloUser();
      const path = newPath('gone');
      const { webhook } = await createEndpoint(user, path);
      answers.set(path, 410);
      await ping(user, webhook.id);
      await round();
      const ep = await endpoint(user, webhook.id);
      assert.equal(ep.enabled, false);
      assert.equal(ep.disabled_reason, 'gone');
      const [d] = await deliveries(user, webhook.id);
      assert.equal(d!.status, 'failed');
      assert.equal(d!.last_status_code, 410);
      const audit = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: user.headers });
      const ev = audit.json<{ data: { action: string; webhook_id?: string; outcome?: string; actor: unknown }[] }>().data.find((e) => e.action === 'webhook.disabled');
      assert.ok(ev, audit.body);
      assert.equal(ev.webhook_id, webhook.id);
      assert.equal(ev.outcome, 'gone');
      assert.equal(ev.actor, null);

      // Events after that are not delivered to it; the test call says why.
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: acceptedCredential(fakes, 'openai').api_key } });
      await round();
      assert.equal(received(path).length, 1);
      assertErrorResponse(await ctx.app.inject({ method: 'POST', url: `${BASE}/${webhook.id}/test`, headers: user.headers }), 400, 'invalid_request');

      // Enabling it again clears the reason.
      answers.delete(path);
      const en = await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: user.headers, payload: { enabled: true } });
      assert.equal(en.statusCode, 200, en.body);
      assert.equal(en.json<{ webhook: Endpoint }>().webhook.disabled_reason, null);
      await ping(user, webhook.id);
      await round();
      assert.equal(received(path).length, 2);
    });

    it('an endpoint failing every attempt for 3 days is disabled, with an audit event', async () => {
      const user = await soloUser();
      const path = newPath('failing');
      const { webhook } = await createEndpoint(user, path);
      answers.set(path, 500);
      const start = nowMs;
      await ping(user, webhook.id);
      await round();
      assert.equal((await endpoint(user, webhook.id)).failing_since, new Date(start).toISOString());
      for (let day = 1; day <= 2; day++) {
        nowMs = start + day * 86_400_000;
        await ping(user, webhook.id);
        await round();
        assert.equal((await endpoint(user, webhook.id)).enabled, true, `still enabled on day ${day}`);
      }
      nowMs = start + 3 * 86_400_000 + 1000;
      await ping(user, webhook.id);
      await round();
      const ep = await endpoint(user, webhook.id);
      assert.equal(ep.enabled, false);
      assert.equal(ep.disabled_reason, 'failing');
      const log = await deliveries(user, webhook.id);
      assert.ok(log.every((d) => d.status === 'failed'), JSON.stringify(log.map((d) => d.status)));
      const audit = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: user.headers });
      const ev = audit.json<{ data: { action: string; webhook_id?: string; outcome?: string }[] }>().data.filter((e) => e.action === 'webhook.disabled');
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.outcome, 'failing');
      answers.delete(path);
    });

    it('retention: finished deliveries go after 30 days, dispatched events after 7; pending ones stay', async () => {
      const user = await soloUser();
      const path = newPath('retention');
      const { webhook } = await createEndpoint(user, path);
      await ping(user, webhook.id);
      await round();
      answers.set(path, 500);
      await ping(user, webhook.id);
      await round();
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: acceptedCredential(fakes, 'openai').api_key } });
      // The event is dispatched (and its delivery pending: the receiver fails).
      await round();
      const eventsOf = () => ctx.database.db.selectFrom('outbox').select('id').where('owner_id', '=', user.id).execute();
      assert.equal((await eventsOf()).length, 1);
      nowMs += 8 * 86_400_000;
      await ctx.app.services.webhookWorker.prune();
      assert.equal((await eventsOf()).length, 0, 'a dispatched event goes after 7 days');
      assert.equal((await deliveries(user, webhook.id)).length, 3, 'the delivery log is kept 30 days');
      nowMs += 23 * 86_400_000;
      await ctx.app.services.webhookWorker.prune();
      const left = await deliveries(user, webhook.id);
      assert.ok(left.length >= 1 && left.every((d) => d.status === 'pending'), JSON.stringify(left.map((d) => d.status)));
      answers.delete(path);
    });

    it('rotation: both secrets sign for 24 h, then only the new one', async () => {
      const user = await soloUser();
      const path = newPath('rotate');
      const { webhook, secret: oldSecret } = await createEndpoint(user, path);
      const rot = await ctx.app.inject({ method: 'POST', url: `${BASE}/${webhook.id}/rotate-secret`, headers: user.headers });
      assert.equal(rot.statusCode, 200, rot.body);
      const { secret: newSecret, webhook: rotated } = rot.json<{ secret: string; webhook: Endpoint }>();
      assert.notEqual(newSecret, oldSecret);
      assert.equal(rotated.previous_secret_expires_at, new Date(nowMs + 86_400_000).toISOString());

      await ping(user, webhook.id);
      await round();
      let req = received(path).at(-1)!;
      assert.equal(req.headers['webhook-signature']!.split(' ').length, 2, 'two signatures during the overlap');
      verified(req, newSecret);
      verified(req, oldSecret);

      nowMs += 86_400_000 + 1000;
      await ping(user, webhook.id);
      await round();
      req = received(path).at(-1)!;
      assert.equal(req.headers['webhook-signature']!.split(' ').length, 1);
      verified(req, newSecret);
      assert.throws(() => new Webhook(oldSecret).verify(req.body, req.headers), /signature/i);
      assert.equal((await endpoint(user, webhook.id)).previous_secret_expires_at, null);
    });

    it('the API: secret once, never in a listing or a log; PATCH, DELETE, at most 10, validation', async () => {
      const user = await soloUser();
      const { webhook, secret } = await createEndpoint(user, newPath('api'), ['mode.changed', 'provider_key.created']);
      assert.deepEqual(webhook.events, ['provider_key.created', 'mode.changed']);
      const list = await ctx.app.inject({ method: 'GET', url: BASE, headers: user.headers });
      assert.equal(list.statusCode, 200);
      assert.ok(!list.body.includes(secret) && !list.body.includes('whsec_'), 'no secret in a listing');
      const dl = await ctx.app.inject({ method: 'GET', url: `${BASE}/${webhook.id}/deliveries`, headers: user.headers });
      assert.ok(!dl.body.includes('whsec_'));

      const patched = await ctx.app.inject({
        method: 'PATCH',
        url: `${BASE}/${webhook.id}`,
        headers: user.headers,
        payload: { events: ['mode.auto_switched'], description: 'pager', enabled: false },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      const pw = patched.json<{ webhook: Endpoint & { description: string } }>().webhook;
      assert.deepEqual(pw.events, ['mode.auto_switched']);
      assert.equal(pw.description, 'pager');
      assert.equal(pw.enabled, false);
      assert.equal(pw.disabled_reason, null);

      // Validation: 400 naming the field.
      const bad = async (payload: unknown, pattern: RegExp, method: 'POST' | 'PATCH' = 'POST') => {
        const res = await ctx.app.inject({ method, url: method === 'POST' ? BASE : `${BASE}/${webhook.id}`, headers: user.headers, payload: payload as object });
        const body = assertErrorResponse(res, 400, 'invalid_request', JSON.stringify(payload));
        assert.match(String(body.message), pattern);
      };
      await bad({ url: 'http://example.com/hook', events: ['mode.changed'] }, /url must use https/);
      await bad({ url: `${receiver.url}/x`, events: ['nope'] }, /events/);
      await bad({ url: `${receiver.url}/x`, events: [] }, /events/);
      await bad({ url: `${receiver.url}/x` }, /events/);
      await bad({ url: 'http://127.0.0.1:1/x' }, /url/, 'PATCH');
      await bad({}, /.+/, 'PATCH');

      // At most 10 per owner.
      for (let i = 1; i < 10; i++) await createEndpoint(user, newPath('max'), ['mode.changed']);
      const eleventh = await ctx.app.inject({ method: 'POST', url: BASE, headers: user.headers, payload: { url: `${receiver.url}/11`, events: ['mode.changed'] } });
      assert.match(String(assertErrorResponse(eleventh, 400, 'invalid_request').message), /at most 10/);

      const del = await ctx.app.inject({ method: 'DELETE', url: `${BASE}/${webhook.id}`, headers: user.headers });
      assert.equal(del.statusCode, 200, del.body);
      assert.deepEqual(del.json(), { deleted: true, id: webhook.id });
      assertErrorResponse(await ctx.app.inject({ method: 'DELETE', url: `${BASE}/${webhook.id}`, headers: user.headers }), 404, 'not_exists');
      assertErrorResponse(await ctx.app.inject({ method: 'GET', url: `${BASE}/not-a-uuid/deliveries`, headers: user.headers }), 400, 'invalid_request');

      const logs = ctx.logs.join('\n');
      assert.ok(!logs.includes(secret) && !logs.includes(secret.slice(6)), 'no signing secret in the logs');
    });

    it('managing an endpoint is audited: create, update (changed field names), rotate, delete; by the actor, never the secret or the URL', async () => {
      const user = await soloUser();
      const path = `${newPath('audited')}?token=query-secret-123`;
      const { webhook, secret } = await createEndpoint(user, path, ['mode.changed']);
      // A second between the changes: the trail is ordered by time.
      nowMs += 1_000;
      const patched = await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: { ...user.headers, 'x-request-id': 'req-audit-patch' }, payload: { events: ['mode.auto_switched'], enabled: false } });
      assert.equal(patched.statusCode, 200, patched.body);
      // A PATCH that changes nothing is not a change.
      const same = await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: user.headers, payload: { enabled: false } });
      assert.equal(same.statusCode, 200, same.body);
      nowMs += 1_000;
      const rotated = await ctx.app.inject({ method: 'POST', url: `${BASE}/${webhook.id}/rotate-secret`, headers: user.headers });
      assert.equal(rotated.statusCode, 200, rotated.body);
      const newSecret = rotated.json<{ secret: string }>().secret;
      nowMs += 1_000;
      assert.equal((await ctx.app.inject({ method: 'DELETE', url: `${BASE}/${webhook.id}`, headers: user.headers })).statusCode, 200);
      // A change that fails writes nothing.
      assertErrorResponse(await ctx.app.inject({ method: 'DELETE', url: `${BASE}/${webhook.id}`, headers: user.headers }), 404, 'not_exists');

      const audit = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: user.headers });
      assert.equal(audit.statusCode, 200, audit.body);
      const events = audit.json<{ data: { action: string; webhook_id?: string; changed_fields?: string[]; actor: { id: string } | null; request_id: string | null }[] }>().data;
      assert.deepEqual(
        events.map((e) => e.action),
        ['webhook.deleted', 'webhook.secret_rotated', 'webhook.updated', 'webhook.created'],
        'newest first, one row per change',
      );
      for (const e of events) {
        assert.equal(e.webhook_id, webhook.id);
        assert.equal(e.actor?.id, user.id);
      }
      assert.deepEqual(events.find((e) => e.action === 'webhook.updated')!.changed_fields, ['events', 'enabled']);
      assert.equal(events.find((e) => e.action === 'webhook.updated')!.request_id, 'req-audit-patch');
      for (const text of [secret, secret.slice(6), newSecret, newSecret.slice(6), 'query-secret-123', receiver.hostPort, 'whsec_']) {
        assert.ok(!audit.body.includes(text), `no ${text} in the audit trail`);
      }
      const rows = await ctx.database.db.selectFrom('audit_events').selectAll().where('webhook_id', '=', webhook.id).execute();
      assert.equal(rows.length, 4);
      const stored = JSON.stringify(rows);
      for (const text of [secret.slice(6), newSecret.slice(6), 'query-secret-123', receiver.hostPort]) assert.ok(!stored.includes(text), `no ${text} in a stored row`);
    });

    it('the OpenAPI document describes every webhook operation; no schema but the create/rotate answer has a secret', async () => {
      const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{
        paths: Record<string, Record<string, { tags?: string[]; responses?: Record<string, unknown> }>>;
        components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
      }>();
      const ops: [string, string, string][] = [
        ['post', BASE, '201'],
        ['get', BASE, '200'],
        ['patch', `${BASE}/{id}`, '200'],
        ['delete', `${BASE}/{id}`, '200'],
        ['post', `${BASE}/{id}/rotate-secret`, '200'],
        ['post', `${BASE}/{id}/test`, '202'],
        ['get', `${BASE}/{id}/deliveries`, '200'],
      ];
      for (const [method, path, ok] of ops) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method} ${path}`);
        assert.deepEqual(op.tags, ['Webhooks']);
        for (const code of [ok, '401', '403']) assert.ok(op.responses?.[code], `${method} ${path} ${code}`);
      }
      const withSecret = Object.entries(doc.components.schemas).filter(([, sc]) => sc.properties && 'secret' in sc.properties).map(([n]) => n);
      assert.deepEqual(withSecret, ['WebhookWithSecret']);
    });

    it('access: team admin manages the team\'s; member/viewer 403; flag off 403; another owner\'s id 404', async () => {
      const admin = await createUser(ctx, uniqueEmail('admin'));
      const member = await createUser(ctx, uniqueEmail('member'));
      const viewer = await createUser(ctx, uniqueEmail('viewer'));
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ]);
      await setByok(ctx, team.owner);
      const { webhook } = await createEndpoint(admin, newPath('team'));
      const stranger = await soloUser('stranger');

      for (const u of [member, viewer]) {
        assertErrorResponse(await ctx.app.inject({ method: 'GET', url: BASE, headers: u.headers }), 403, 'forbidden');
        assertErrorResponse(await ctx.app.inject({ method: 'POST', url: BASE, headers: u.headers, payload: { url: `${receiver.url}/m`, events: ['mode.changed'] } }), 403, 'forbidden');
        assertErrorResponse(await ctx.app.inject({ method: 'PATCH', url: `${BASE}/${webhook.id}`, headers: u.headers, payload: { enabled: false } }), 403, 'forbidden');
        assertErrorResponse(await ctx.app.inject({ method: 'POST', url: `${BASE}/${webhook.id}/rotate-secret`, headers: u.headers }), 403, 'forbidden');
        assertErrorResponse(await ctx.app.inject({ method: 'GET', url: `${BASE}/${webhook.id}/deliveries`, headers: u.headers }), 403, 'forbidden');
      }
      const calls: [string, string, object?][] = [
        ['PATCH', `${BASE}/${webhook.id}`, { enabled: false }],
        ['DELETE', `${BASE}/${webhook.id}`],
        ['POST', `${BASE}/${webhook.id}/rotate-secret`],
        ['POST', `${BASE}/${webhook.id}/test`],
        ['GET', `${BASE}/${webhook.id}/deliveries`],
      ];
      for (const [method, url, payload] of calls) {
        const res = await ctx.app.inject({ method: method as 'GET', url, headers: stranger.headers, ...(payload ? { payload } : {}) });
        assertErrorResponse(res, 404, 'not_exists', `${method} ${url}`);
      }
      const list = await ctx.app.inject({ method: 'GET', url: BASE, headers: stranger.headers });
      assert.deepEqual(list.json(), { webhooks: [] });
      assert.equal((await endpoint(admin, webhook.id)).enabled, true, 'the stranger changed nothing');

      const noFlag = await createUser(ctx, uniqueEmail('noflag'));
      assertErrorResponse(await ctx.app.inject({ method: 'GET', url: BASE, headers: noFlag.headers }), 403, 'byok_not_enabled');
      assertErrorResponse(await ctx.app.inject({ method: 'POST', url: BASE, headers: noFlag.headers, payload: { url: `${receiver.url}/f`, events: ['mode.changed'] } }), 403, 'byok_not_enabled');
      assertErrorResponse(await ctx.app.inject({ method: 'GET', url: BASE }), 401, 'unauthorized');
    });
  });
}
