/**
 * POST /internal/v1/credentials/resolve-batch (issue 15 item 3): up to 100 resolve items
 * in one request, each answered exactly as the single resolve would answer it (the same
 * result object, or the same ErrorResponse as the item's entry), in order; an item's error
 * never fails the batch; the internal token only; one state per owner per batch.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../src/errors/index.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { insertKey } from './helpers/byok.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { setMode } from './helpers/model-fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';

const INTERNAL = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };
const BATCH = '/internal/v1/credentials/resolve-batch';
const SINGLE = '/internal/v1/credentials/resolve';

interface Item {
  user_id: string;
  model: string;
  short_lived?: boolean;
}
interface Entry {
  status: number;
  result: Record<string, unknown> | null;
  error: { error: string; code: string; error_id: string; kind: string; message: string } | null;
  retry_after: number | null;
}

for (const dialect of testDialects()) {
  describe(`batch credential resolution [${dialect}]`, () => {
    let ctx: TestContext;
    /** Every secret stored in this suite (none may reach a log line). */
    const secrets: string[] = [];

    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => ctx.close());

    const batch = (items: unknown, headers: Record<string, string> = INTERNAL) =>
      ctx.app.inject({ method: 'POST', url: BATCH, headers, payload: { items } as object });
    const single = (item: Item) => ctx.app.inject({ method: 'POST', url: SINGLE, headers: INTERNAL, payload: item as object });

    async function batchOk(items: Item[]): Promise<Entry[]> {
      const res = await batch(items);
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      assert.equal(res.headers['cache-control'], 'no-store');
      const body = res.json<{ results: Entry[] }>();
      assert.deepEqual(Object.keys(body), ['results']);
      assert.equal(body.results.length, items.length);
      return body.results;
    }

    /** A solo user, flag on, with these keys (stored directly), in `mode`. */
    async function soloWith(keys: { provider: ProviderName; models: string[] }[], mode: 'neo' | 'byok' = 'byok'): Promise<TestUser> {
      const user = await createUser(ctx, uniqueEmail('batch'));
      await setByok(ctx, user.owner);
      for (const k of keys) {
        const secret = `sk-batch-${k.provider}-${randomUUID().replace(/-/g, '')}`;
        secrets.push(secret);
        await insertKey(ctx, user.owner, k.provider, { secret, models: k.models });
      }
      if (mode === 'byok') await setMode(ctx, user, 'byok');
      return user;
    }

    /** Sum of neo_credential_resolves_total per outcome. */
    async function resolveCounts(): Promise<Record<string, number>> {
      const text = (await ctx.app.inject({ method: 'GET', url: '/metrics', headers: INTERNAL })).body;
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^neo_credential_resolves_total\{[^}]*outcome="(\w+)"[^}]*\} (\S+)$/gm)) {
        out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
      }
      return out;
    }

    describe('answers', () => {
      it('answers each item, in order, with the single resolve\'s own answer (byok, neo, auto, a team member, duplicates)', async () => {
        const byok = await soloWith([
          { provider: 'openai', models: ['gpt-5'] },
          { provider: 'anthropic', models: ['claude-sonnet-4-5-20250929'] },
        ]);
        const neo = await soloWith([{ provider: 'openai', models: ['gpt-5'] }], 'neo');
        const admin = await createUser(ctx, uniqueEmail('batch-admin'));
        const member = await createUser(ctx, uniqueEmail('batch-member'));
        const team = await createTeam(ctx, [
          { user: admin, role: 'admin' },
          { user: member, role: 'member' },
        ]);
        await setByok(ctx, team.owner);
        const teamSecret = `sk-batch-team-${randomUUID()}`;
        secrets.push(teamSecret);
        await insertKey(ctx, team.owner, 'xai', { secret: teamSecret, models: ['grok-4'] });
        await setMode(ctx, admin, 'byok');

        const items: Item[] = [
          { user_id: byok.id, model: 'gpt-5' },
          { user_id: byok.id, model: 'claude-sonnet-4-5' },
          { user_id: byok.id, model: 'auto' },
          { user_id: neo.id, model: 'gpt-5' },
          { user_id: member.id, model: 'grok-4' },
          { user_id: admin.id, model: 'auto' },
          { user_id: byok.id, model: 'gpt-5' },
          { user_id: byok.id, model: 'gpt-5', short_lived: true },
        ];
        const results = await batchOk(items);
        for (const [i, item] of items.entries()) {
          const one = await single(item);
          assert.equal(one.statusCode, 200, one.body);
          assert.deepEqual(results[i], { status: 200, result: one.json(), error: null, retry_after: null }, `item ${i}`);
        }
        assert.equal(results[0]!.result!.provider, 'openai');
        assert.equal(results[1]!.result!.provider, 'anthropic');
        assert.equal(results[3]!.result!.mode, 'neo');
        assert.equal(results[3]!.result!.credential, null);
        assert.equal(results[4]!.result!.resource_type, 'team');
        assert.equal(results[4]!.result!.resource_id, team.id);
        assert.equal((results[4]!.result!.credential as { api_key: string }).api_key, teamSecret);
      });

      it('answers 100 items', async () => {
        const user = await soloWith([{ provider: 'openai', models: ['gpt-5'] }]);
        const results = await batchOk(Array.from({ length: 100 }, () => ({ user_id: user.id, model: 'gpt-5' })));
        assert.ok(results.every((r) => r.status === 200 && r.result!.provider === 'openai'));
      });
    });

    describe('per-item errors do not fail the batch', () => {
      it('unknown user, unknown model and byok model unavailable are the items\' entries, as the single resolve answers them', async () => {
        const user = await soloWith([{ provider: 'openai', models: ['gpt-5'] }]);
        const items: Item[] = [
          { user_id: randomUUID(), model: 'gpt-5' },
          { user_id: user.id, model: 'gpt-6' },
          { user_id: user.id, model: 'claude-sonnet-4-5' },
          { user_id: user.id, model: 'gpt-5' },
        ];
        const res = await batch(items);
        assert.equal(res.statusCode, 200, res.body);
        const results = res.json<{ results: Entry[] }>().results;
        const expected: [number, string][] = [
          [404, 'not_exists'],
          [404, 'not_exists'],
          [409, 'byok_model_unavailable'],
        ];
        for (const [i, [status, code]] of expected.entries()) {
          const one = await single(items[i]!);
          const body = assertErrorResponse(one, status, code, `single ${i}`);
          const entry = results[i]!;
          assert.equal(entry.status, status, `item ${i}`);
          assert.equal(entry.result, null);
          assert.equal(entry.retry_after, null);
          // The single form's ErrorResponse; error_id is the batch's request id.
          assert.deepEqual(entry.error, { ...body, error_id: res.headers['x-request-id'] }, `item ${i}`);
        }
        assert.equal(results[3]!.status, 200);
        assert.equal(results[3]!.result!.provider, 'openai');
      });

      it('keyless cloud errors (rejected, unreachable with retry_after) and a fault (500, logged by error_id) are entries too', async () => {
        const user = await soloWith([{ provider: 'openai', models: ['gpt-5'] }]);
        const shortLived = ctx.app.services.shortLived;
        const original = shortLived.get.bind(shortLived);
        const faults = ['rejected', 'unavailable', 'fault'];
        let calls = 0;
        shortLived.get = async () => {
          const f = faults[calls++ % faults.length];
          if (f === 'rejected') throw new AppError('cloud_credential_rejected', 'amazon-bedrock: the role trust policy does not admit this owner');
          if (f === 'unavailable') throw new AppError('cloud_credential_unavailable', 'amazon-bedrock: the exchange failed', { retryAfter: 5 });
          throw new Error('boom: internal detail xyz-secret-cause');
        };
        let res;
        try {
          // Items run concurrently: which item gets which fault is not asserted, only that each is its entry.
          res = await batch([
            { user_id: user.id, model: 'gpt-5', short_lived: true },
            { user_id: user.id, model: 'gpt-5', short_lived: true },
            { user_id: user.id, model: 'gpt-5', short_lived: true },
            { user_id: user.id, model: 'gpt-5' },
          ]);
        } finally {
          shortLived.get = original;
        }
        assert.equal(res.statusCode, 200, res.body);
        const results = res.json<{ results: Entry[] }>().results;
        const byCode = new Map(results.filter((r) => r.error).map((r) => [r.error!.code, r]));
        assert.deepEqual([...byCode.keys()].sort(), ['cloud_credential_rejected', 'cloud_credential_unavailable', 'internal']);
        assert.equal(byCode.get('cloud_credential_rejected')!.status, 409);
        assert.equal(byCode.get('cloud_credential_rejected')!.retry_after, null);
        assert.equal(byCode.get('cloud_credential_unavailable')!.status, 503);
        assert.equal(byCode.get('cloud_credential_unavailable')!.retry_after, 5);
        const internal = byCode.get('internal')!;
        assert.equal(internal.status, 500);
        assert.ok(!internal.error!.message.includes('xyz-secret-cause'), 'a 500 never echoes its cause');
        assert.equal(internal.error!.error_id, res.headers['x-request-id']);
        assert.equal(results[3]!.status, 200, 'the item without short_lived is answered');
        // The cause is logged, findable by error_id, with the item's index.
        const lines = ctx.logs.map((l) => JSON.parse(l) as { error_id?: string; batch_item?: number; err?: { message?: string } });
        const line = lines.find((l) => l.error_id === res.headers['x-request-id'] && l.err?.message?.includes('xyz-secret-cause'));
        assert.ok(line, 'the fault is logged with error_id');
        assert.equal(line.batch_item, results.indexOf(internal), 'and the index of its item');
      });
    });

    describe('limits and shape', () => {
      it('0 items, 101 items, no items field → 400 invalid_request for the whole batch', async () => {
        const user = await createUser(ctx, uniqueEmail('batch'));
        const b0 = assertErrorResponse(await batch([]), 400, 'invalid_request', '0 items');
        assert.match(String(b0.message), /items must have at least 1 item/);
        const b101 = assertErrorResponse(await batch(Array.from({ length: 101 }, () => ({ user_id: user.id, model: 'gpt-5' }))), 400, 'invalid_request', '101 items');
        assert.match(String(b101.message), /items must have at most 100 items/);
        const send = (payload: unknown) => ctx.app.inject({ method: 'POST', url: BATCH, headers: INTERNAL, payload: payload as object });
        assertErrorResponse(await send({}), 400, 'invalid_request', 'no items');
        assertErrorResponse(await send({ items: { user_id: user.id, model: 'gpt-5' } }), 400, 'invalid_request', 'items not a list');
        assertErrorResponse(await send({ user_id: user.id, model: 'gpt-5' }), 400, 'invalid_request', 'a single-form body');
        assertErrorResponse(await send({ items: [{ user_id: user.id, model: 'gpt-5' }], extra: 1 }), 400, 'invalid_request', 'unknown field');
      });

      it('a malformed item fails the batch with 400 naming the item', async () => {
        const user = await createUser(ctx, uniqueEmail('batch'));
        const ok = { user_id: user.id, model: 'gpt-5' };
        const cases: [unknown, RegExp][] = [
          [{ user_id: 'not-a-uuid', model: 'gpt-5' }, /items\.1\.user_id must be a UUID/],
          [{ user_id: user.id }, /items\.1\.model is required/],
          [{ user_id: user.id, model: '' }, /items\.1\.model must not be empty/],
          [{ user_id: user.id, model: 5 }, /items\.1\.model must be text/],
          [{ user_id: user.id, model: 'gpt-5', api_key: 'sk-should-not-echo-1234' }, /items\.1 has a field that this operation does not accept/],
          ['gpt-5', /items\.1 must be a JSON object/],
        ];
        for (const [item, message] of cases) {
          const body = assertErrorResponse(await batch([ok, item]), 400, 'invalid_request', JSON.stringify(item));
          assert.match(String(body.message), message);
          assert.ok(!String(body.message).includes('sk-should-not-echo'));
        }
      });

      it('a body over 64 KiB → 413, not JSON → 415', async () => {
        const big = await ctx.app.inject({ method: 'POST', url: BATCH, headers: { ...INTERNAL, 'content-type': 'application/json' }, payload: JSON.stringify({ items: [], pad: 'x'.repeat(70_000) }) });
        assertErrorResponse(big, 413, 'payload_too_large');
        const text = await ctx.app.inject({ method: 'POST', url: BATCH, headers: { ...INTERNAL, 'content-type': 'text/plain' }, payload: 'items' });
        assertErrorResponse(text, 415, 'unsupported_media_type');
      });
    });

    describe('authentication: the internal token only', () => {
      it('no token, a wrong token, a user JWT, a platform admin JWT or an API key → 401', async () => {
        const user = await createUser(ctx, uniqueEmail('batch'));
        const items = [{ user_id: user.id, model: 'gpt-5' }];
        assertErrorResponse(await batch(items, {}), 401, 'unauthorized', 'no token');
        assertErrorResponse(await batch(items, { authorization: 'Bearer wrong-token-0123456789abcdefghijklmnop' }), 401, 'unauthorized', 'wrong token');
        assertErrorResponse(await batch(items, { authorization: `Bearer ${TEST_INTERNAL_TOKEN}x` }), 401, 'unauthorized', 'token + 1 char');
        assertErrorResponse(await batch(items, { authorization: TEST_INTERNAL_TOKEN }), 401, 'unauthorized', 'token without Bearer');
        assertErrorResponse(await batch(items, user.headers), 401, 'unauthorized', 'user JWT');
        const admin = await createUser(ctx, uniqueEmail('batch-admin'), { role: 'admin' });
        assertErrorResponse(await batch(items, admin.headers), 401, 'unauthorized', 'platform admin JWT');
        const key = await createApiKey(ctx, user);
        assertErrorResponse(await batch(items, { 'x-api-key': key }), 401, 'unauthorized', 'API key');
        // An unauthenticated malformed batch is a 401, not a 400 (auth runs first).
        assertErrorResponse(await batch([], {}), 401, 'unauthorized', 'no token, no items');
      });
    });

    describe('metrics, usage and logs as for single resolves', () => {
      it('counts each item in neo_credential_resolves_total by its outcome, as the single form does', async () => {
        const user = await soloWith([{ provider: 'openai', models: ['gpt-5'] }]);
        const items: Item[] = [
          { user_id: user.id, model: 'gpt-5' },
          { user_id: user.id, model: 'gpt-5' },
          { user_id: randomUUID(), model: 'gpt-5' },
          { user_id: user.id, model: 'gpt-6' },
          { user_id: user.id, model: 'claude-sonnet-4-5' },
        ];
        const delta = async (run: () => Promise<unknown>) => {
          const before = await resolveCounts();
          await run();
          const afterRun = await resolveCounts();
          return Object.fromEntries(Object.keys(afterRun).map((k) => [k, afterRun[k]! - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
        };
        const viaBatch = await delta(() => batchOk(items));
        const viaSingles = await delta(async () => {
          for (const item of items) await single(item);
        });
        assert.deepEqual(viaBatch, { resolved: 2, unknown_user: 1, unknown_model: 1, model_unavailable: 1 });
        assert.deepEqual(viaBatch, viaSingles);
        const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics', headers: INTERNAL })).body;
        assert.ok(!metrics.includes(user.id), 'no owner id in any metric');
      });

      it('notes the keys handed out for last_used_at, written by the batched flush as for single resolves', async () => {
        const user = await soloWith([
          { provider: 'openai', models: ['gpt-5'] },
          { provider: 'xai', models: ['grok-4'] },
        ]);
        const keys = async () => {
          const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
          assert.equal(res.statusCode, 200, res.body);
          return new Map(res.json<{ provider_keys: { provider: string; last_used_at: string | null }[] }>().provider_keys.map((k) => [k.provider, k.last_used_at]));
        };
        await ctx.app.services.usage.flush();
        await batchOk([
          { user_id: user.id, model: 'gpt-5' },
          { user_id: user.id, model: 'gpt-5' },
        ]);
        assert.equal((await keys()).get('openai'), null, 'nothing written on the request path');
        await ctx.app.services.usage.flush();
        const used = await keys();
        assert.notEqual(used.get('openai'), null, 'the served key is marked used');
        assert.equal(used.get('xai'), null, 'a key not handed out is not');
      });

      it('logs the owners of the batch on its request line, and never a secret', async () => {
        const user = await soloWith([{ provider: 'openai', models: ['gpt-5'] }]);
        const other = await soloWith([{ provider: 'openai', models: ['gpt-5'] }], 'neo');
        const res = await batch([
          { user_id: user.id, model: 'gpt-5' },
          { user_id: other.id, model: 'gpt-5' },
          { user_id: user.id, model: 'gpt-5' },
        ]);
        assert.equal(res.statusCode, 200, res.body);
        const line = ctx.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === res.headers['x-request-id'] && l.msg === 'request completed');
        assert.ok(line, 'the request completed line');
        assert.equal(line.batch_items, 3);
        assert.equal(line.owners, `user:${user.id} user:${other.id}`);
        const logs = ctx.logs.join('');
        assert.ok(logs.includes(BATCH), 'the batch requests were logged');
        for (const s of secrets) assert.ok(!logs.includes(s), 'a stored secret appears in the logs');
      });
    });

    describe('one state per batch', () => {
      it("every item of an owner sees the state the batch's first read of that owner saw, even when a change lands meanwhile", async () => {
        const admin = await createUser(ctx, uniqueEmail('batch-state'));
        const member = await createUser(ctx, uniqueEmail('batch-state'));
        const team = await createTeam(ctx, [
          { user: admin, role: 'admin' },
          { user: member, role: 'member' },
        ]);
        await setByok(ctx, team.owner);
        await insertKey(ctx, team.owner, 'openai', { models: ['gpt-5'] });
        await setMode(ctx, admin, 'byok');

        // The first read of the owner's state switches the owner to neo mode (committed,
        // caches invalidated) before any other item of the batch reads it.
        const models = ctx.app.services.models;
        const original = models.effectiveNow.bind(models);
        let reads = 0;
        models.effectiveNow = async (owner) => {
          const e = await original(owner);
          if (++reads === 1) await setMode(ctx, admin, 'neo');
          return e;
        };
        let results: Entry[];
        try {
          results = await batchOk([
            { user_id: admin.id, model: 'gpt-5' },
            { user_id: member.id, model: 'gpt-5' },
            { user_id: admin.id, model: 'auto' },
            { user_id: member.id, model: 'gpt-5' },
          ]);
        } finally {
          models.effectiveNow = original;
        }
        assert.equal(reads, 1, "the owner's state is read once per batch");
        assert.deepEqual(
          results.map((r) => [r.status, r.result?.mode, r.result?.resource_id]),
          results.map(() => [200, 'byok', team.id]),
        );
        // The next batch sees the change.
        const next = await batchOk([{ user_id: member.id, model: 'gpt-5' }]);
        assert.equal(next[0]!.result!.mode, 'neo');
      });
    });
  });
}
