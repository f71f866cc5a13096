/**
 * Mode and keys are read from one snapshot (issue 12 item 7). While writers cycle
 * "add a key → switch to byok → delete the last key" (the delete switches back to neo
 * in its own transaction), readers call resolve, GET /byok/mode, GET /user and
 * GET /models: none of them may ever see `byok` with no key, a state the write path
 * never commits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { insertKey } from './helpers/byok.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const OWNERS = 6;
const READERS_PER_OWNER = 6;
const MIN_READS = 1500;
// Each cycle passes through every state (key, byok, no key); ten per owner interleave with
// thousands of reads. On SQLite the in-process readers leave the writers little of the
// event loop on a busy machine (16 cycles in 120 s were seen in CI), so more would flake.
const MIN_CYCLES_PER_OWNER = 10;
const INTERNAL = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };

type Endpoint = 'resolve' | 'mode' | 'user' | 'models';
const ENDPOINTS: Endpoint[] = ['resolve', 'mode', 'user', 'models'];

for (const dialect of testDialects()) {
  describe(`mode and keys from one snapshot [${dialect}]`, () => {
    let ctx: TestContext;
    const owners: TestUser[] = [];

    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
      for (let i = 0; i < OWNERS; i++) {
        const u = await createUser(ctx);
        await setByok(ctx, u.owner);
        owners.push(u);
      }
    });
    after(async () => ctx.close());

    /** One read; true when it showed `byok` with no key. */
    async function torn(user: TestUser, endpoint: Endpoint): Promise<boolean> {
      switch (endpoint) {
        case 'resolve': {
          const res = await ctx.app.inject({
            method: 'POST',
            url: '/internal/v1/credentials/resolve',
            headers: INTERNAL,
            payload: { user_id: user.id, model: 'gpt-5' },
          });
          // byok with the key → 200 (openai serves gpt-5); neo → 200; byok with no key → 409.
          if (res.statusCode === 409) return true;
          assert.equal(res.statusCode, 200, res.body);
          return false;
        }
        case 'mode': {
          const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: user.headers });
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json<{ mode: string; provider_keys: number }>();
          return body.mode === 'byok' && body.provider_keys === 0;
        }
        case 'user': {
          const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: user.headers });
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json<{ model_use_mode: string; available_models: string[] }>();
          return body.model_use_mode === 'byok' && body.available_models.length === 0;
        }
        case 'models': {
          const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/models', headers: user.headers });
          assert.equal(res.statusCode, 200, res.body);
          // neo: everything available; byok with the openai key: gpt-5 available.
          return res.json<{ data: { available: boolean }[] }>().data.every((m) => !m.available);
        }
      }
    }

    it('no reader sees byok with no key while writers cycle add → byok → delete', async (t) => {
      let stop = false;
      let reads = 0;
      const seen: Record<Endpoint, number> = { resolve: 0, mode: 0, user: 0, models: 0 };
      const cycles = new Array<number>(OWNERS).fill(0);

      const writer = async (i: number) => {
        const u = owners[i]!;
        while (!stop) {
          await insertKey(ctx, u.owner, 'openai', { models: ['gpt-5'] });
          const byok = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: u.headers, payload: { mode: 'byok' } });
          assert.equal(byok.statusCode, 200, byok.body);
          const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/openai', headers: u.headers });
          assert.equal(del.statusCode, 200, del.body);
          assert.equal(del.json<{ auto_switched: boolean }>().auto_switched, true);
          cycles[i]!++;
        }
      };
      const reader = async (i: number, k: number) => {
        const u = owners[i]!;
        for (let n = k; !stop; n++) {
          const endpoint = ENDPOINTS[n % ENDPOINTS.length]!;
          if (await torn(u, endpoint)) seen[endpoint]++;
          reads++;
        }
      };

      // Invalidations arrive at any time (other instances' writes, flag changes): dropping
      // the cached state continuously makes nearly every read load from the database.
      const invalidator = async () => {
        while (!stop) {
          for (const u of owners) ctx.app.services.bus.publish('owner', `${u.owner.type}:${u.owner.id}`);
          await new Promise((r) => setImmediate(r));
        }
      };

      const writers = owners.map((_u, i) => writer(i));
      const readers = owners.flatMap((_u, i) => Array.from({ length: READERS_PER_OWNER }, (_x, k) => reader(i, k)));
      const noise = invalidator();
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && (reads < MIN_READS || cycles.some((c) => c < MIN_CYCLES_PER_OWNER))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      stop = true;
      await Promise.all([...writers, ...readers, noise]);
      t.diagnostic(`reads ${reads}, cycles ${cycles.join('+')}, seen ${JSON.stringify(seen)}`);

      assert.ok(reads >= MIN_READS, `only ${reads} reads`);
      assert.ok(Math.min(...cycles) >= MIN_CYCLES_PER_OWNER, `writer cycles ${cycles.join(',')}`);
      assert.deepEqual(seen, { resolve: 0, mode: 0, user: 0, models: 0 }, `byok with no key seen in ${reads} reads over ${cycles.join('+')} cycles`);
    });
  });
}
