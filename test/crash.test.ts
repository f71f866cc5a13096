/**
 * Crash safety: `kill -9` of a real `bin/neo-byok serve` process in the middle of a
 * burst of writes (key saves, mode changes, deletions from several clients at once),
 * then a restart on the same database:
 * - the database opens (SQLite integrity_check ok) and the server is ready;
 * - every change acknowledged with a 2xx is there; a request cut by the kill either
 *   fully happened or not at all;
 * - every stored key decrypts to exactly the secret that was saved (no half-written key);
 * - the invariant "mode byok ⇒ at least one provider key" holds for every owner.
 * SQLite runs in WAL mode with synchronous=FULL; PostgreSQL (when configured) by
 * transactions.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { KeyVault } from '../src/crypto/vault.ts';
import { openDatabase } from '../src/db/index.ts';
import { LocalBus } from '../src/lib/bus.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { signTestJwt, TEST_MASTER_KEY, testDialects } from './helpers/context.ts';
import { openTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { startServerProcess, type ServerProcess } from './helpers/processes.ts';

const WORKERS = 8;
const KILL_AFTER_ACKS = 160;
const PROVIDERS: ProviderName[] = ['openai', 'anthropic', 'xai'];
const PREFIX: Partial<Record<ProviderName, string>> = { openai: 'sk-proj-', anthropic: 'sk-ant-api03-', xai: 'xai-' };

interface State {
  keys: Map<ProviderName, string>;
  mode: 'neo' | 'byok';
}

type Op = { kind: 'save'; provider: ProviderName; secret: string } | { kind: 'delete'; provider: ProviderName } | { kind: 'mode'; mode: 'neo' | 'byok' };

function apply(state: State, op: Op, response: Record<string, unknown> | null): State {
  const keys = new Map(state.keys);
  let mode = state.mode;
  if (op.kind === 'save') keys.set(op.provider, op.secret);
  if (op.kind === 'delete') {
    keys.delete(op.provider);
    if (keys.size === 0 && (response ? response.auto_switched === true : mode === 'byok')) mode = 'neo';
  }
  if (op.kind === 'mode' && (op.mode === 'neo' || keys.size > 0)) mode = op.mode;
  return { keys, mode };
}

function sameState(a: State, b: State): boolean {
  if (a.mode !== b.mode || a.keys.size !== b.keys.size) return false;
  for (const [p, s] of a.keys) if (b.keys.get(p) !== s) return false;
  return true;
}

function describeState(s: State): string {
  return JSON.stringify({ mode: s.mode, keys: [...s.keys.entries()] });
}

interface Worker {
  email: string;
  token: string;
  /** State after the last acknowledged request. */
  acked: State;
  /** The request in flight when the server died (may or may not have committed). */
  pending: Op | null;
}

for (const dialect of testDialects()) {
  describe(`crash safety: kill -9 during a burst of writes [${dialect}]`, { timeout: 240_000 }, () => {
    let fake: FakeKeyProviders | undefined;
    let dataDir: string | undefined;
    let testDb: TestDatabase | undefined;
    let server: ServerProcess | undefined;
    after(async () => {
      if (server) await server.stop();
      await fake?.close();
      await testDb?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('every acknowledged change survives, nothing is half-written, the invariant holds', async () => {
      fake = await startFakeKeyProviders();
      dataDir = mkdtempSync(join(tmpdir(), 'neo-crash-'));
      testDb = await openTestDatabase(dialect, dataDir);
      const env = { ...fake.env, NEO_DATA_DIR: dataDir, NEO_DATABASE_URL: testDb.url, NEO_BYOK_DEFAULT: 'on' };
      server = await startServerProcess(env);
      const first = server;

      const workers: Worker[] = [];
      for (let i = 0; i < WORKERS; i++) {
        const email = uniqueEmail(`crash${i}`);
        workers.push({ email, token: await signTestJwt(email), acked: { keys: new Map(), mode: 'neo' }, pending: null });
      }
      let acks = 0;
      let dead = false;
      let seq = 0;
      const nextOp = (w: Worker): Op => {
        const r = Math.random();
        const provider = PROVIDERS[Math.floor(Math.random() * PROVIDERS.length)]!;
        if (r < 0.45 || w.acked.keys.size === 0) return { kind: 'save', provider, secret: `${PREFIX[provider]}crash${seq++}x${randomBytes(10).toString('hex')}` };
        if (r < 0.65) return { kind: 'delete', provider: [...w.acked.keys.keys()][0]! };
        return { kind: 'mode', mode: r < 0.85 ? 'byok' : 'neo' };
      };
      const send = (w: Worker, op: Op) => {
        const headers = { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' };
        if (op.kind === 'save') {
          return fetch(`${first.url}/api/v1/byok/providers/${op.provider}`, { method: 'PATCH', headers, body: JSON.stringify({ api_key: op.secret }) });
        }
        if (op.kind === 'delete') return fetch(`${first.url}/api/v1/byok/providers/${op.provider}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
        return fetch(`${first.url}/api/v1/byok/mode`, { method: 'PATCH', headers, body: JSON.stringify({ mode: op.mode }) });
      };

      const run = async (w: Worker) => {
        while (!dead) {
          const op = nextOp(w);
          w.pending = op;
          let res: Response;
          try {
            res = await send(w, op);
          } catch {
            return; // the server died with this request in flight: `pending` stays
          }
          let body: Record<string, unknown> | null = null;
          try {
            body = (await res.json()) as Record<string, unknown>;
          } catch {
            return; // died while sending the answer: not acknowledged
          }
          if (res.status >= 200 && res.status < 300) {
            w.acked = apply(w.acked, op, body);
            acks += 1;
            if (acks === KILL_AFTER_ACKS) {
              // Mid-burst: the other workers have requests in flight right now.
              process.kill(first.pid, 'SIGKILL');
              dead = true;
            }
          } else {
            // Refused requests (e.g. byok with no keys → 400) change nothing.
            assert.ok([400, 404].includes(res.status), `unexpected ${res.status}: ${JSON.stringify(body)}`);
          }
          w.pending = null;
        }
      };
      await Promise.all(workers.map(run));
      const exit = await first.exited;
      assert.equal(exit.signal, 'SIGKILL');
      assert.ok(acks >= KILL_AFTER_ACKS);
      assert.ok(workers.some((w) => w.pending !== null), 'the kill cut requests in flight');

      // Restart on the same database.
      server = await startServerProcess(env);
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);

      const database = await openDatabase(testDb.url, { migrate: false });
      try {
        if (dialect === 'sqlite') {
          const check = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(database.db);
          assert.deepEqual(check.rows, [{ integrity_check: 'ok' }]);
          // The durability settings the server's own openDatabase applies.
          assert.deepEqual((await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db)).rows, [{ journal_mode: 'wal' }]);
          assert.deepEqual((await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db)).rows, [{ synchronous: 2 }], 'synchronous = FULL');
        }
        const vault = new KeyVault({ db: database.db, masterKey: Buffer.from(TEST_MASTER_KEY, 'base64'), bus: new LocalBus() });
        for (const w of workers) {
          const headers = { authorization: `Bearer ${w.token}` };
          const modeRes = await fetch(`${server.url}/api/v1/byok/mode`, { headers });
          assert.equal(modeRes.status, 200);
          const mode = (await modeRes.json()) as { mode: 'neo' | 'byok'; resource_type: 'user' | 'team'; resource_id: string };
          const owner = { type: mode.resource_type, id: mode.resource_id };
          const rows = await database.db
            .selectFrom('provider_keys')
            .select(['provider', 'ciphertext', 'location'])
            .where('owner_type', '=', owner.type)
            .where('owner_id', '=', owner.id)
            .execute();
          const actual: State = { keys: new Map(), mode: mode.mode };
          for (const r of rows) {
            // Every stored key decrypts to a whole secret (no half-written row).
            actual.keys.set(r.provider as ProviderName, await vault.decrypt(owner, r.provider as ProviderName, r.ciphertext, r.location));
          }
          const options = [w.acked, ...(w.pending ? [apply(w.acked, w.pending, null)] : [])];
          assert.ok(
            options.some((o) => sameState(o, actual)),
            `${w.email}: stored ${describeState(actual)}, acknowledged ${describeState(w.acked)}${w.pending ? `, in flight ${JSON.stringify(w.pending)}` : ''}`,
          );
          // The listing agrees with the database.
          const list = (await (await fetch(`${server.url}/api/v1/byok/providers`, { headers })).json()) as { provider_keys: { provider: string; status?: string }[] };
          assert.deepEqual(list.provider_keys.map((k) => k.provider).sort(), [...actual.keys.keys()].sort());
          assert.ok(list.provider_keys.every((k) => k.status !== 'unreadable'), 'every key is readable');
        }
        // The invariant, over every owner in the database.
        const violations = await database.db
          .selectFrom('byok_settings as s')
          .leftJoin('provider_keys as k', (j) => j.onRef('k.owner_type', '=', 's.owner_type').onRef('k.owner_id', '=', 's.owner_id'))
          .select(['s.owner_type', 's.owner_id'])
          .where('s.mode', '=', 'byok')
          .where('k.id', 'is', null)
          .execute();
        assert.deepEqual(violations, []);
        // Every provider key points at an existing data key of its own owner.
        const orphans = await database.db
          .selectFrom('provider_keys as k')
          .leftJoin('data_keys as d', 'd.id', 'k.data_key_id')
          .select('k.id')
          .where((eb) => eb.or([eb('d.id', 'is', null), eb('d.owner_id', '!=', eb.ref('k.owner_id'))]))
          .execute();
        assert.deepEqual(orphans, []);
      } finally {
        await database.close();
      }
    });
  });
}
