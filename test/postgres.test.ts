/**
 * PostgreSQL operations (issue 6, items 1–2): connection options from the URL, pool
 * size, a clear start-up error when the database is unreachable, 503s and /readyz
 * during an outage with recovery without a restart (through a TCP proxy we cut), and
 * migrations that are safe when several instances start at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/index.ts';
import { DatabaseUnreachableError, isDatabaseUnavailable, migrateToLatest, openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { migrations } from '../src/db/migrations/index.ts';
import { createBus, PgBus } from '../src/db/notify.ts';
import { buildApp, type App } from '../src/app.ts';
import { signTestJwt, TEST_SECRETS_ENV, UNTHROTTLED_ENV } from './helpers/context.ts';
import { closedPort, createPostgresDatabase, postgresTestUrl, startTcpProxy, type TcpProxy, type TestDatabase } from './helpers/databases.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { eventually, runCli, startServerProcess } from './helpers/processes.ts';

const pgUrl = postgresTestUrl();
const skipPg = pgUrl ? false : 'NEO_TEST_DATABASE_URL is not set';
const MIGRATION_NAMES = Object.keys(migrations).sort();

function assertUnavailable(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }): void {
  assert.equal(res.statusCode, 503);
  const body = res.json() as Record<string, unknown>;
  assert.equal(body.code, 'unavailable');
  assert.equal(body.kind, 'service unavailable');
  assert.equal(body.error_id, res.headers['x-request-id']);
  assert.equal(body.message, 'service unavailable: the database is unreachable');
  assert.match(String(res.headers['retry-after']), /^\d+$/);
}

describe('database unreachable at start', () => {
  it('`neo-byok serve` prints one clear line without the password and exits non-zero', async () => {
    const port = await closedPort();
    const res = await runCli(['serve'], { NEO_DATABASE_URL: `postgres://neo:hunter2secret@127.0.0.1:${port}/neo` });
    assert.equal(res.code, 1);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0]!, new RegExp(`^neo-byok serve: database unreachable at postgres://neo:\\*\\*\\*@127\\.0\\.0\\.1:${port}/neo: .*ECONNREFUSED`));
    assert.doesNotMatch(res.stderr + res.stdout, /hunter2secret/);
  });

  it('`neo-byok serve` with NEO_REDIS_URL set but Redis unreachable: one line, non-zero exit', async () => {
    const port = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'neo-redis-'));
    try {
      const res = await runCli(['serve'], { NEO_DATABASE_URL: join(dir, 'neo.db'), NEO_REDIS_URL: `redis://:hunter2secret@127.0.0.1:${port}` });
      assert.equal(res.code, 1);
      assert.equal(res.stderr, `neo-byok serve: redis unreachable at redis://:***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`neo-byok migrate` fails the same way', async () => {
    const port = await closedPort();
    const res = await runCli(['migrate'], { NEO_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/neo` });
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.match(res.stderr.trim(), /^neo-byok migrate: database unreachable at postgres:\/\/postgres@127\.0\.0\.1:\d+\/neo: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  });

  it('openDatabase rejects with DatabaseUnreachableError when every connection is dropped during the handshake', { skip: skipPg }, async () => {
    // A proxy that drops every connection: the PostgreSQL handshake never completes.
    // (Its target is never dialled while it is cut.)
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 1 });
    proxy.cut();
    try {
      await assert.rejects(openDatabase(proxy.via(pgUrl!)), (err: unknown) => {
        assert.ok(err instanceof DatabaseUnreachableError);
        assert.match(err.message, /^database unreachable at postgres:\/\/.*: \S/);
        return true;
      });
    } finally {
      await proxy.close();
    }
  });
});

describe('PostgreSQL connection options', { skip: skipPg }, () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createPostgresDatabase();
  });
  after(async () => tdb?.drop());

  it('passes sslmode from the URL to the driver', async () => {
    // The local test server runs without TLS: sslmode=require must be refused by it,
    // sslmode=disable must connect. Either way the option reached the driver.
    const { rows } = await (async () => {
      const h = await openDatabase(`${tdb.url}?sslmode=disable`, { migrate: false });
      try {
        return await sql<{ ssl: boolean | null }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(h.db);
      } finally {
        await h.close();
      }
    })();
    assert.equal(rows[0]?.ssl, false);
    await assert.rejects(openDatabase(`${tdb.url}?sslmode=require`, { migrate: false }), (err: unknown) => {
      assert.ok(err instanceof DatabaseUnreachableError);
      assert.match(err.message, /SSL/i);
      return true;
    });
  });

  it('never opens more connections than the pool size', async () => {
    const h = await openDatabase(tdb.url, { poolSize: 3, migrate: false });
    try {
      const counts = await Promise.all(
        Array.from({ length: 9 }, async () => {
          const { rows } = await sql<{ n: string }>`
            select (select count(*) from pg_stat_activity where datname = current_database() and application_name = 'neo-byok') as n,
                   pg_sleep(0.15)`.execute(h.db);
          return Number(rows[0]!.n);
        }),
      );
      assert.equal(Math.max(...counts), 3);
    } finally {
      await h.close();
    }
  });
});

describe('database outage while running', { skip: skipPg }, () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let database: DatabaseHandle;
  let app: App;
  let bus: Awaited<ReturnType<typeof createBus>>;
  let dataDir: string;

  before(async () => {
    tdb = await createPostgresDatabase();
    const target = new URL(pgUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    dataDir = mkdtempSync(join(tmpdir(), 'neo-outage-'));
    const config = loadConfig({
      NEO_DATA_DIR: dataDir,
      NEO_DATABASE_URL: proxy.via(tdb.url),
      ...TEST_SECRETS_ENV,
      ...UNTHROTTLED_ENV,
    });
    database = await openDatabase(config.databaseUrl, { poolSize: 3 });
    bus = await createBus(config, database);
    app = await buildApp({ config, database, bus, quiet: true });
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await database?.close();
    await proxy?.close();
    await tdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const userRequest = async () =>
    app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { authorization: `Bearer ${await signTestJwt(uniqueEmail('outage'))}` } });

  it('answers 503 ErrorResponses while PostgreSQL is unreachable and recovers without a restart', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const before = await userRequest();
    assert.equal(before.statusCode, 404, before.body);
    assert.ok(bus instanceof PgBus && bus.connected);

    // A query in flight when the connection drops fails as "unavailable" and does not
    // crash the process (pg emits 'error' on a checked-out client).
    const inFlight = sql`select pg_sleep(5)`.execute(database.db).then(
      () => undefined,
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 100));
    proxy.cut();
    assert.equal(isDatabaseUnavailable(await inFlight), true);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assertUnavailable(ready);
    // A request that needs the database (a first-seen JWT user is provisioned).
    const during = await userRequest();
    assertUnavailable(during);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness does not depend on the database');
    assert.equal(await eventually(async () => !(bus as PgBus).connected, 5000), true, 'the LISTEN connection noticed the outage');

    proxy.restore();
    const readyAgain = await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 15_000);
    assert.equal(readyAgain, true, '/readyz recovers by itself');
    const after = await userRequest();
    assert.equal(after.statusCode, 404, after.body);
    assert.equal(await eventually(async () => (bus as PgBus).connected, 15_000), true, 'the LISTEN connection came back');
  });
});

describe('migrations on an empty database, several instances at once', () => {
  it('SQLite: three `neo-byok migrate` processes on one new file apply each migration exactly once', async () => {
    // Processes, not handles: better-sqlite3 waits for a lock synchronously, so several
    // handles in one process would block each other's event loop.
    const dir = mkdtempSync(join(tmpdir(), 'neo-mig-'));
    const file = join(dir, 'neo.db');
    try {
      const runs = await Promise.all(Array.from({ length: 3 }, () => runCli(['migrate'], { NEO_DATABASE_URL: file })));
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const applied = runs.map((r) => (JSON.parse(r.stdout) as { applied: string[] }).applied);
      assert.deepEqual(applied.flat().sort(), MIGRATION_NAMES);
      const h = await openDatabase(file, { migrate: false });
      try {
        const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(h.db);
        assert.deepEqual(rows.map((r) => r.name), MIGRATION_NAMES);
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: four pools migrating one database at once apply each migration exactly once', { skip: skipPg }, async () => {
    const tdb = await createPostgresDatabase();
    const handles = await Promise.all(Array.from({ length: 4 }, () => openDatabase(tdb.url, { migrate: false, poolSize: 2 })));
    try {
      const applied = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
      assert.deepEqual(applied.flat().sort(), MIGRATION_NAMES);
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(handles[0]!.db);
      assert.deepEqual(rows.map((r) => r.name), MIGRATION_NAMES);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await tdb.drop();
    }
  });

  it('PostgreSQL: two `neo-byok serve` processes started together on an empty database both come up', { skip: skipPg }, async () => {
    const tdb = await createPostgresDatabase();
    const servers = await Promise.allSettled([startServerProcess({ NEO_DATABASE_URL: tdb.url }), startServerProcess({ NEO_DATABASE_URL: tdb.url })]);
    try {
      for (const s of servers) assert.equal(s.status, 'fulfilled', s.status === 'rejected' ? String(s.reason) : '');
      const up = servers.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof startServerProcess>>>).value);
      assert.notEqual(up[0]!.url, up[1]!.url);
      for (const s of up) {
        const res = await fetch(`${s.url}/readyz`);
        assert.equal(res.status, 200);
      }
      const h = await openDatabase(tdb.url, { migrate: false, poolSize: 1 });
      try {
        const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(h.db);
        assert.deepEqual(rows.map((r) => r.name), MIGRATION_NAMES);
      } finally {
        await h.close();
      }
      // Graceful shutdown: SIGTERM → exit 0.
      const codes = await Promise.all(up.map((s) => s.stop()));
      assert.deepEqual(codes, [0, 0]);
    } finally {
      for (const s of servers) if (s.status === 'fulfilled') await s.value.stop();
      await tdb.drop();
    }
  });

  it('`neo-byok migrate` against PostgreSQL applies everything once, then nothing', { skip: skipPg }, async () => {
    const tdb = await createPostgresDatabase();
    try {
      const first = await runCli(['migrate'], { NEO_DATABASE_URL: tdb.url });
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout), { applied: MIGRATION_NAMES });
      const second = await runCli(['migrate'], { NEO_DATABASE_URL: tdb.url });
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), { applied: [] });
    } finally {
      await tdb.drop();
    }
  });
});
