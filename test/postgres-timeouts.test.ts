/**
 * PostgreSQL connections that stop answering (issue 13 item 1), with a TCP proxy that
 * freezes without closing (test/helpers/databases.ts):
 * (a) an instance whose database connections freeze answers 503 meanwhile and 200 again
 *     within its configured timeouts once the database is reachable, without a restart;
 * (b) a transaction frozen while it holds an owner's row lock: a second, directly
 *     connected instance keeps answering other tenants 200, answers that owner's writes
 *     503 with Retry-After within the lock timeout, and 200 again once PostgreSQL ended
 *     the frozen session (idle_in_transaction_session_timeout).
 * Real `neo-byok serve` processes, so the configuration (NEO_DATABASE_*_TIMEOUT_MS) is
 * what is tested.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { databaseUnavailability, openDatabase } from '../src/db/index.ts';
import { signTestJwt } from './helpers/context.ts';
import { createPostgresDatabase, postgresTestUrl, startTcpProxy, type TcpProxy, type TestDatabase } from './helpers/databases.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { startServerProcess } from './helpers/processes.ts';

const pgUrl = postgresTestUrl();
const skip = !pgUrl && 'NEO_TEST_DATABASE_URL is not set';

async function eventually(check: () => Promise<boolean>, timeoutMs: number, stepMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

async function call(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; ms: number; retryAfter: string | null; body: string }> {
  const t0 = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) });
  const body = await res.text();
  return { status: res.status, ms: Date.now() - t0, retryAfter: res.headers.get('retry-after'), body };
}

const auth = async (email: string) => ({ authorization: `Bearer ${await signTestJwt(email)}` });

function proxyFor(url: string): Promise<TcpProxy> {
  const target = new URL(url);
  return startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
}

describe('PostgreSQL: frozen connections', { skip }, () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createPostgresDatabase();
  });
  after(async () => {
    await tdb?.drop();
  });

  it('(a) freeze, then thaw: 503 meanwhile, 200 again within the configured timeouts, no restart', async () => {
    const proxy = await proxyFor(tdb.url);
    const server = await startServerProcess({
      NEO_DATABASE_URL: proxy.via(tdb.url),
      NEO_DATABASE_POOL_SIZE: '2',
      NEO_DATABASE_STATEMENT_TIMEOUT_MS: '1000',
      NEO_DATABASE_LOCK_TIMEOUT_MS: '500',
      NEO_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '2000',
    });
    try {
      assert.equal((await call(`${server.url}/readyz`)).status, 200);
      const first = await call(`${server.url}/api/v1/user/apikey`, { method: 'POST', headers: await auth(uniqueEmail('frz')) });
      assert.equal(first.status, 201, first.body);
      // Every pooled connection established (a busy instance): the freeze catches them all.
      for (const r of await Promise.all(Array.from({ length: 10 }, () => call(`${server.url}/readyz`)))) assert.equal(r.status, 200);

      proxy.freeze();
      // More requests than the pool (2) has connections; every one is answered, none hangs.
      const during = await Promise.all([
        ...Array.from({ length: 6 }, () => call(`${server.url}/readyz`)),
        ...Array.from({ length: 3 }, async () => call(`${server.url}/api/v1/user/apikey`, { method: 'POST', headers: await auth(uniqueEmail('frz')) })),
      ]);
      for (const r of during) {
        assert.equal(r.status, 503, r.body);
        assert.equal((JSON.parse(r.body) as { code: string }).code, 'unavailable');
      }
      assert.equal((await call(`${server.url}/healthz`)).status, 200);

      proxy.thaw();
      const thawedAt = Date.now();
      // Within query timeout (statement 1 s + 2 s) + connect timeout (5 s) + margin.
      const ready = await eventually(async () => (await call(`${server.url}/readyz`)).status === 200, 15_000);
      assert.equal(ready, true, `/readyz still 503 ${Date.now() - thawedAt} ms after the database became reachable again`);
      const write = await call(`${server.url}/api/v1/user/apikey`, { method: 'POST', headers: await auth(uniqueEmail('frz')) });
      assert.equal(write.status, 201, write.body);
    } finally {
      await server.stop();
      await proxy.close();
    }
  });

  it('(b) a frozen transaction holding an owner lock: other tenants 200 throughout, that owner 503 + Retry-After, then 200', async () => {
    const LOCK_MS = 1000;
    const IDLE_MS = 8000;
    const server = await startServerProcess({
      NEO_DATABASE_URL: tdb.url,
      NEO_DATABASE_STATEMENT_TIMEOUT_MS: '5000',
      NEO_DATABASE_LOCK_TIMEOUT_MS: String(LOCK_MS),
      NEO_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: String(IDLE_MS),
      NEO_BYOK_DEFAULT: 'on',
    });
    const proxy = await proxyFor(tdb.url);
    // Another instance's session (same session settings as neo-byok's), through the proxy.
    const frozen = new pg.Client({ connectionString: proxy.via(tdb.url), idle_in_transaction_session_timeout: IDLE_MS });
    frozen.on('error', () => {});
    const direct = new pg.Client({ connectionString: tdb.url });
    let polling = true;
    let poller: Promise<void> | undefined;
    try {
      const victim = uniqueEmail('locked');
      const other = uniqueEmail('other');
      const setMode = async (email: string) =>
        call(`${server.url}/api/v1/byok/mode`, {
          method: 'PATCH',
          headers: { ...(await auth(email)), 'content-type': 'application/json' },
          body: JSON.stringify({ mode: 'neo' }),
        });
      assert.equal((await setMode(victim)).status, 200);
      assert.equal((await setMode(other)).status, 200);

      await direct.connect();
      const { rows } = await direct.query<{ id: string }>('select id from users where email = $1', [victim]);
      assert.equal(rows.length, 1);
      await frozen.connect();
      await frozen.query('begin');
      await frozen.query(`select mode from byok_settings where owner_type = 'user' and owner_id = $1 for update`, [rows[0]!.id]);
      const lockedAt = Date.now();
      proxy.freeze();
      const frozenAt = Date.now();

      // Other tenants, all along.
      const otherAnswers: { status: number; ms: number; body?: string }[] = [];
      poller = (async () => {
        while (polling) {
          otherAnswers.push(await setMode(other).catch((err: unknown) => ({ status: 0, ms: 0, body: String(err) })));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      // The locked owner's writes, more of them than the pool has connections.
      const locked = await Promise.all(Array.from({ length: 6 }, async () => ({ ...(await setMode(victim)), endedAt: Date.now() })));
      assert.ok(locked.filter((r) => r.status === 503).length >= 4, JSON.stringify(locked.map((r) => [r.status, r.ms])));
      for (const r of locked) {
        // On a slow machine a late one may run after PostgreSQL reclaimed the session: then it succeeds.
        if (r.status === 200 && r.endedAt - lockedAt >= IDLE_MS) continue;
        assert.equal(r.status, 503, r.body);
        assert.equal((JSON.parse(r.body) as { code: string }).code, 'unavailable');
        assert.ok(r.retryAfter !== null && Number(r.retryAfter) > 0, 'Retry-After is set');
        assert.ok(r.ms < LOCK_MS + 4000, `answered after ${r.ms} ms (lock timeout ${LOCK_MS} ms)`);
      }

      // PostgreSQL ends the frozen session after IDLE_MS; its lock goes with it.
      const recovered = await eventually(async () => (await setMode(victim)).status === 200, IDLE_MS + 10_000);
      assert.equal(recovered, true, `the owner's writes still fail ${Date.now() - frozenAt} ms after the freeze`);
      polling = false;
      await poller;
      assert.ok(otherAnswers.length >= 5, `other tenant polled ${otherAnswers.length} times`);
      assert.deepEqual(
        otherAnswers.filter((a) => a.status !== 200),
        [],
        'another tenant was answered 200 throughout',
      );
      const ended = await direct.query<{ n: string }>(
        `select count(*) as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`,
      );
      assert.equal(ended.rows[0]!.n, '0', 'the frozen session was reclaimed');
    } finally {
      polling = false;
      await poller;
      await server.stop();
      await direct.end().catch(() => {});
      await proxy.close();
      await frozen.end().catch(() => {});
    }
  });
});

describe('PostgreSQL: session settings', { skip }, () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createPostgresDatabase();
  });
  after(async () => {
    await tdb?.drop();
  });

  it('pooled connections carry the configured timeouts; a statement past statement_timeout is a 503 for that request', async () => {
    const handle = await openDatabase(tdb.url, {
      poolSize: 2,
      postgres: { statementTimeoutMs: 700, lockTimeoutMs: 300, idleInTransactionTimeoutMs: 9000 },
    });
    try {
      const show = async (name: string) => (await sql<Record<string, string>>`select current_setting(${name}) as v`.execute(handle.db)).rows[0]!.v;
      assert.equal(await show('statement_timeout'), '700ms');
      assert.equal(await show('lock_timeout'), '300ms');
      assert.equal(await show('idle_in_transaction_session_timeout'), '9s');
      const slow = await sql`select pg_sleep(3)`.execute(handle.db).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.equal((slow as { code?: string }).code, '57014');
      assert.ok(databaseUnavailability(slow)?.retryAfter);
      // The connection is fine afterwards.
      assert.equal(await show('lock_timeout'), '300ms');
    } finally {
      await handle.close();
    }
  });

  it('defaults: 15 s statement, 5 s lock, 15 s idle in transaction', async () => {
    const handle = await openDatabase(tdb.url, { poolSize: 1 });
    try {
      const show = async (name: string) => (await sql<Record<string, string>>`select current_setting(${name}) as v`.execute(handle.db)).rows[0]!.v;
      assert.deepEqual(
        [await show('statement_timeout'), await show('lock_timeout'), await show('idle_in_transaction_session_timeout')],
        ['15s', '5s', '15s'],
      );
    } finally {
      await handle.close();
    }
  });
});
