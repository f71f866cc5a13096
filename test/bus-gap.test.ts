/**
 * Nothing lost in a gap (issue 12 item 9): two instances on one PostgreSQL database,
 * instance B reaching the invalidation bus through a TCP proxy that the test cuts for
 * 2 s. Meanwhile instance A deletes a user's API key and turns their BYOK flag off.
 * PostgreSQL and Redis keep no backlog for a subscriber, so B never hears of those
 * changes: before, B kept accepting the deleted key (and saying BYOK was on) until the
 * 60 s TTL. Now B empties its caches when it loses the bus and after it is back, and
 * keeps entries 1 s at most while it is down, so it refuses the key within a second.
 * Over PostgreSQL LISTEN/NOTIFY and over Redis pub/sub.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { nowIso, openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { PgBus, RedisBus, type RemoteBus } from '../src/db/notify.ts';
import { buildApp, type App } from '../src/app.ts';
import { TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, type TestContext } from './helpers/context.ts';
import { createPostgresDatabase, postgresTestUrl, redisTestUrl, startTcpProxy, type TcpProxy, type TestDatabase } from './helpers/databases.ts';
import { createUser } from './helpers/fixtures.ts';

const CUT_MS = 2000;

async function until(pred: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

type BusKind = 'postgres' | 'redis';

function gapSuite(kind: BusKind): void {
  let tdb: TestDatabase;
  let dir: string;
  let proxy: TcpProxy;
  const handles: DatabaseHandle[] = [];
  let a: App;
  let b: App;
  let busB: RemoteBus;

  before(async () => {
    tdb = await createPostgresDatabase();
    dir = mkdtempSync(join(tmpdir(), 'neo-busgap-'));
    const config = loadConfig({
      NEO_DATA_DIR: dir,
      NEO_DATABASE_URL: tdb.url,
      NEO_JWT_SECRET: TEST_JWT_SECRET,
      NEO_MASTER_KEY: TEST_MASTER_KEY,
      NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
      NEO_RATE_LIMIT: 'off',
      // This machine may be busy: no load shedding in a correctness test.
      NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    const [ha, hb] = [await openDatabase(tdb.url, { poolSize: 3 }), await openDatabase(tdb.url, { poolSize: 3, migrate: false })];
    handles.push(ha, hb);
    let busA: RemoteBus;
    if (kind === 'postgres') {
      const u = new URL(tdb.url);
      proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
      busA = new PgBus({ url: tdb.url, db: ha.db });
      // Only B's LISTEN connection goes through the proxy; its queries do not.
      busB = new PgBus({ url: proxy.via(tdb.url), db: hb.db, minBackoffMs: 50, maxBackoffMs: 500 });
    } else {
      const u = new URL(redisTestUrl()!);
      proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 6379) });
      const channel = `neo-byok:test:${randomBytes(6).toString('hex')}`;
      busA = new RedisBus({ url: redisTestUrl()!, channel });
      busB = new RedisBus({ url: proxy.via(redisTestUrl()!), channel });
    }
    await Promise.all([busA.start(), busB.start()]);
    a = await buildApp({ config, database: ha, bus: busA, quiet: true });
    b = await buildApp({ config, database: hb, bus: busB, quiet: true });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    for (const h of handles) await h.close();
    await proxy?.close();
    await tdb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a key deleted and a flag turned off during a 2 s bus cut are refused by the other instance within a second', async () => {
    const fx = { database: handles[0] } as unknown as TestContext;
    const user = await createUser(fx);
    await handles[0]!.db
      .insertInto('features')
      .values({ owner_type: 'user', owner_id: user.id, name: 'byok', enabled: 1, updated_at: nowIso() })
      .execute();
    const created = await a.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers });
    assert.equal(created.statusCode, 201, created.body);
    const apiKey = created.json<{ key: string }>().key;
    const withKey = async () => (await b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-api-key': apiKey } })).statusCode;
    const flagOnB = async () => (await b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: user.headers })).json<{ byok_enabled: boolean }>().byok_enabled;
    const readyB = async () => (await b.inject({ method: 'GET', url: '/readyz' })).json<{ cache_bus: string }>().cache_bus;
    // B has the key and the flag in its caches.
    assert.equal(await withKey(), 200);
    assert.equal(await flagOnB(), true);
    assert.equal(await readyB(), 'up');

    proxy.cut();
    const cutAt = Date.now();
    assert.equal(await until(() => busB.state === 'down', 1000), true, 'B notices the lost bus');
    const ready = await b.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, 'a bus that is down leaves the instance ready');
    assert.equal(ready.json<{ cache_bus: string }>().cache_bus, 'down');
    const metrics = await b.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` } });
    assert.match(metrics.body, /^neo_cache_bus_up 0$/m);
    // B keeps serving meanwhile (from the database, entries living 1 s at most).
    assert.equal(await withKey(), 200);

    // A's changes: their messages never reach B.
    const del = await a.inject({ method: 'DELETE', url: '/api/v1/user/apikey', headers: user.headers });
    assert.equal(del.statusCode, 200, del.body);
    await a.services.features.set(user.owner, 'byok', false);
    const changedAt = Date.now();
    assert.equal(await until(async () => (await withKey()) === 401, 1000), true, `B refuses the deleted key within 1 s while the bus is down (${Date.now() - changedAt} ms)`);
    assert.equal(await until(async () => (await flagOnB()) === false, 1000), true, 'and sees the flag off');

    await new Promise((r) => setTimeout(r, Math.max(0, CUT_MS - (Date.now() - cutAt))));
    proxy.restore();
    assert.equal(await until(() => busB.state === 'up', 15_000), true, 'B resubscribes by itself');
    assert.equal(await readyB(), 'up');
    assert.equal(await withKey(), 401);
    assert.equal(await flagOnB(), false);
    // And the bus works again: a change on A reaches B's caches.
    await a.services.features.set(user.owner, 'byok', true);
    assert.equal(await until(async () => (await flagOnB()) === true, 1000), true);
  });
}

describe('bus gap: PostgreSQL LISTEN/NOTIFY', { skip: postgresTestUrl() ? false : 'NEO_TEST_DATABASE_URL is not set', timeout: 120_000 }, () => {
  gapSuite('postgres');
});

describe('bus gap: Redis pub/sub', { skip: postgresTestUrl() && redisTestUrl() ? false : 'NEO_TEST_DATABASE_URL and NEO_TEST_REDIS_URL are needed', timeout: 120_000 }, () => {
  gapSuite('redis');
});
