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
import { after, before, describe, it } from 'node:test';
import { PgBus, RedisBus, type RemoteBus } from '../src/db/notify.ts';
import { TEST_INTERNAL_TOKEN } from './helpers/context.ts';
import { postgresTestUrl, redisTestUrl, startTcpProxy, type TcpProxy } from './helpers/databases.ts';
import { byokUserWithApiKey, startTwoInstances, type TwoInstances } from './helpers/two-instances.ts';

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
  let two: TwoInstances;
  let proxy: TcpProxy;
  let busB: RemoteBus;

  before(async () => {
    two = await startTwoInstances({
      dirPrefix: 'neo-busgap-',
      buses: async (tdb, ha, hb) => {
        if (kind === 'postgres') {
          const u = new URL(tdb.url);
          proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
          // Only B's LISTEN connection goes through the proxy; its queries do not.
          busB = new PgBus({ url: proxy.via(tdb.url), db: hb.db, minBackoffMs: 50, maxBackoffMs: 500 });
          return [new PgBus({ url: tdb.url, db: ha.db }), busB];
        }
        const u = new URL(redisTestUrl()!);
        proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 6379) });
        const channel = `neo-byok:test:${randomBytes(6).toString('hex')}`;
        busB = new RedisBus({ url: proxy.via(redisTestUrl()!), channel });
        return [new RedisBus({ url: redisTestUrl()!, channel }), busB];
      },
    });
  });

  after(async () => {
    await two?.close();
    await proxy?.close();
  });

  it('a key deleted and a flag turned off during a 2 s bus cut are refused by the other instance within a second', async () => {
    const { a, b } = two;
    const { user, withKeyOnB: withKey, flagOnB } = await byokUserWithApiKey(two);
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
