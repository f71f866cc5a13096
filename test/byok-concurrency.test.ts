/**
 * The invariant "mode byok ⇒ at least one provider key" under concurrency, against a
 * live server (real HTTP on a random port): hundreds of interleaved "delete the only
 * key", "switch to byok", "add the key" and "switch to neo" requests on a few owners,
 * with the invariant checked in the database during and after the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { insertKey } from './helpers/byok.ts';
import { createTeam, createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const REQUESTS = 400;
const IN_FLIGHT = 24;

for (const dialect of testDialects()) {
  describe(`mode byok ⇒ at least one key, under concurrency on a live server [${dialect}]`, () => {
    let fake: FakeKeyProviders;
    let ctx: TestContext;
    let base: string;
    const callers: TestUser[] = [];

    before(async () => {
      fake = await startFakeKeyProviders();
      ctx = await createTestContext({ dialect, env: fake.env, captureLogs: false });
      const soloA = await createUser(ctx);
      const soloB = await createUser(ctx);
      const admin = await createUser(ctx);
      const team = await createTeam(ctx, [{ user: admin, role: 'admin' }]);
      for (const u of [soloA, soloB]) await setByok(ctx, u.owner);
      await setByok(ctx, team.owner);
      for (const u of [soloA, soloB, admin]) {
        await insertKey(ctx, u.owner, 'openai');
        callers.push(u);
      }
      base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(async () => {
      await ctx.close();
      await fake.close();
    });

    /** Owners whose mode is byok but who have no key: must always be empty. */
    const violations = () =>
      ctx.database.db
        .selectFrom('byok_settings as s')
        .select(['s.owner_type', 's.owner_id'])
        .where('s.mode', '=', 'byok')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('provider_keys as k')
                .select(sql`1`.as('one'))
                .whereRef('k.owner_type', '=', 's.owner_type')
                .whereRef('k.owner_id', '=', 's.owner_id'),
            ),
          ),
        )
        .execute();

    it(`${REQUESTS} interleaved deletes, switches and adds leave no byok owner without a key`, async () => {
      const ops = ['delete', 'byok', 'byok', 'add', 'neo'] as const;
      const statuses = new Map<string, number>();
      let autoSwitched = 0;
      let polls = 0;
      let running = true;
      const poller = (async () => {
        while (running) {
          assert.deepEqual(await violations(), [], 'invariant broken during the run');
          polls++;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      let next = 0;
      const worker = async () => {
        while (next < REQUESTS) {
          const i = next++;
          const u = callers[i % callers.length]!;
          const op = ops[(i * 7 + Math.floor(i / 3)) % ops.length]!;
          const headers = { ...u.headers, 'content-type': 'application/json' };
          let res: Response;
          if (op === 'delete') res = await fetch(`${base}/api/v1/byok/providers/openai`, { method: 'DELETE', headers: u.headers });
          else if (op === 'add') res = await fetch(`${base}/api/v1/byok/providers/openai`, { method: 'PATCH', headers, body: JSON.stringify({ api_key: `sk-concurrency-${i}-abcdefghijkl` }) });
          else res = await fetch(`${base}/api/v1/byok/mode`, { method: 'PATCH', headers, body: JSON.stringify({ mode: op }) });
          const body = (await res.json()) as { code?: string; auto_switched?: boolean };
          const key = `${op} ${res.status}${body.code ? ` ${body.code}` : ''}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          if (body.auto_switched) autoSwitched++;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      running = false;
      await poller;

      const allowed = new Set(['delete 200', 'delete 404 not_exists', 'byok 200', 'byok 400 byok_no_provider_keys', 'add 200', 'neo 200']);
      for (const [k, n] of statuses) assert.ok(allowed.has(k), `unexpected answer "${k}" ×${n}`);
      const total = [...statuses.values()].reduce((a, b) => a + b, 0);
      assert.equal(total, REQUESTS);
      // The run really interleaved the racing operations.
      assert.ok((statuses.get('delete 200') ?? 0) > 10, JSON.stringify([...statuses]));
      // Both outcomes of a switch to byok happened (how they split depends on the write path's speed).
      assert.ok((statuses.get('byok 200') ?? 0) > 0, JSON.stringify([...statuses]));
      assert.ok((statuses.get('byok 400 byok_no_provider_keys') ?? 0) > 10, JSON.stringify([...statuses]));
      assert.ok(autoSwitched > 0, 'some deletes switched the mode back to neo');
      assert.ok(polls > 0);

      assert.deepEqual(await violations(), []);
      // Every automatic switch that a client was told about is in the audit trail, and only those.
      const audited = await ctx.database.db.selectFrom('audit_events').select('id').where('action', '=', 'mode.auto_switched').execute();
      assert.equal(audited.length, autoSwitched);
      // Each owner has at most one key per provider.
      const dupes = await ctx.database.db
        .selectFrom('provider_keys')
        .select(['owner_id', 'provider', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy(['owner_id', 'provider'])
        .having((eb) => eb.fn.countAll(), '>', 1)
        .execute();
      assert.deepEqual(dupes, []);
    });
  });
}
