/**
 * The cross-instance cache buses against real servers: PostgreSQL LISTEN/NOTIFY (when
 * NEO_TEST_DATABASE_URL is set) and Redis pub/sub (when NEO_TEST_REDIS_URL is set).
 * Two buses stand for two instances.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createPostgresDatabase, postgresTestUrl, redisTestUrl, type TestDatabase } from '../../test/helpers/databases.ts';
import type { Topic } from '../lib/bus.ts';
import { LocalBus } from '../lib/bus.ts';
import { openDatabase, type DatabaseHandle } from './index.ts';
import { createBus, PgBus, RedisBus, RemoteBus } from './notify.ts';

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return pred();
}

function recorder(bus: RemoteBus, topic: Topic): string[] {
  const got: string[] = [];
  bus.subscribe(topic, (k) => got.push(k));
  return got;
}

/** The checks both implementations must pass. */
function busContract(make: () => Promise<[RemoteBus, RemoteBus]>, breakConnection: (bus: RemoteBus) => Promise<void>): void {
  let a: RemoteBus;
  let b: RemoteBus;
  before(async () => {
    [a, b] = await make();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('delivers locally at once and to the other instance within a second, each exactly once', async () => {
    const onA = recorder(a, 'apikey');
    const onB = recorder(b, 'apikey');
    const onBUser = recorder(b, 'user');
    a.publish('apikey', 'hash-1');
    // Synchronous local delivery: the instance that made the change never serves it stale.
    assert.deepEqual(onA, ['hash-1']);
    assert.equal(await until(() => onB.length > 0, 1000), true, 'the other instance got the message within 1 s');
    assert.deepEqual(onB, ['hash-1']);
    assert.deepEqual(onBUser, [], 'topics stay apart');
    // A reply from B arrives at A after A's own echo would have: A still saw its message once.
    const onAUser = recorder(a, 'user');
    b.publish('user', 'user-1');
    assert.equal(await until(() => onAUser.length > 0, 1000), true);
    assert.deepEqual(onA, ['hash-1']);
    assert.deepEqual(onAUser, ['user-1']);
    assert.deepEqual(onBUser, ['user-1']);
  });

  it('ignores malformed messages and unknown topics', async () => {
    const onB = recorder(b, 'owner');
    const before = b.received;
    (b as unknown as { receive(p: string): void }).receive('not json');
    (b as unknown as { receive(p: string): void }).receive(JSON.stringify({ o: 'x', t: 'nope', k: 'k' }));
    (b as unknown as { receive(p: string): void }).receive(JSON.stringify({ o: 'x', t: 'owner', k: 5 }));
    assert.equal(b.received, before);
    assert.deepEqual(onB, []);
  });

  it('reconnects after losing its connection and delivers again', async () => {
    const onB = recorder(b, 'owner');
    await breakConnection(b);
    assert.equal(await until(() => !b.connected, 5000), true, 'the lost connection is noticed');
    assert.equal(await until(() => b.connected, 15_000), true, 'and re-established without help');
    let n = 0;
    const got = await until(() => {
      // Keep publishing until the resubscribed connection hears one.
      if (onB.length === 0 && n++ % 20 === 0) a.publish('owner', 'team:t1');
      return onB.length > 0;
    }, 5000);
    assert.equal(got, true);
    assert.equal(onB[0], 'team:t1');
  });
}

/** A RemoteBus whose backend is a queue the test settles by hand. */
class ManualBus extends RemoteBus {
  readonly sent: string[] = [];
  readonly pending: { payload: string; settle: (ok: boolean) => void }[] = [];
  get connected(): boolean {
    return true;
  }
  async start(): Promise<void> {}
  protected forward(payload: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        payload,
        settle: (ok) => {
          if (ok) {
            this.sent.push(payload);
            resolve(undefined);
          } else reject(new Error('backend down'));
        },
      });
    });
  }
  settleAll(ok = true): void {
    this.settle(this.pending.length, ok);
  }
  settle(n: number, ok = true): void {
    for (const p of this.pending.splice(0, n)) p.settle(ok);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('RemoteBus.flush', () => {
  it('resolves at once when nothing is queued', async () => {
    await new ManualBus().flush();
  });

  it('waits until every queued message is sent, including those published while it waits', async () => {
    const bus = new ManualBus();
    bus.publish('user', 'u1');
    bus.publish('apikey', 'h1');
    let done = false;
    const flushed = bus.flush(5000).then(() => (done = true));
    await tick();
    assert.equal(done, false, 'still waiting for the backend');
    // A message published during the flush (e.g. by a handler) is waited for too.
    bus.publish('owner', 'team:t1');
    bus.settle(2);
    await tick();
    assert.equal(done, false, 'the message published meanwhile is not sent yet');
    bus.settleAll();
    await flushed;
    assert.deepEqual(bus.sent.map((p) => (JSON.parse(p) as { k: string }).k), ['u1', 'h1', 'team:t1']);
  });

  it('never rejects: a failed forward counts as done (logged), a stuck one is given up after the timeout', async () => {
    const warnings: string[] = [];
    const bus = new ManualBus();
    bus.setLogger({ info: () => {}, warn: (_o, msg) => warnings.push(msg) });
    bus.publish('user', 'u1');
    const flushed = bus.flush(5000);
    bus.settleAll(false);
    await flushed;
    assert.deepEqual(warnings, ['cache bus: could not forward an invalidation to other instances']);
    bus.publish('user', 'stuck');
    await bus.flush(50);
    assert.equal(bus.pending.length, 1, 'flush returned while the backend still holds the message');
    bus.settleAll();
  });
});

describe('PgBus (LISTEN/NOTIFY)', { skip: postgresTestUrl() ? false : 'NEO_TEST_DATABASE_URL is not set' }, () => {
  let tdb: TestDatabase;
  let h1: DatabaseHandle;
  let h2: DatabaseHandle;
  let admin: DatabaseHandle;
  after(async () => {
    await h1?.close();
    await h2?.close();
    await admin?.close();
    await tdb?.drop();
  });
  busContract(
    async () => {
      tdb = await createPostgresDatabase();
      [h1, h2, admin] = await Promise.all([
        openDatabase(tdb.url, { poolSize: 2 }),
        openDatabase(tdb.url, { poolSize: 2, migrate: false }),
        openDatabase(tdb.url, { poolSize: 1, migrate: false }),
      ]);
      const a = new PgBus({ url: tdb.url, db: h1.db, minBackoffMs: 50, maxBackoffMs: 500 });
      const b = new PgBus({ url: tdb.url, db: h2.db, minBackoffMs: 50, maxBackoffMs: 500 });
      await Promise.all([a.start(), b.start()]);
      return [a, b];
    },
    async () => {
      // Terminate every backend listening on the channel (both instances' LISTEN connections).
      const { rows } = await sql<{ n: number }>`
        select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
        where datname = current_database() and query ilike 'LISTEN %'`.execute(admin.db);
      assert.ok(rows[0]!.n >= 1);
    },
  );

  it('createBus picks PgBus for PostgreSQL and LocalBus for SQLite', async () => {
    const bus = await createBus({}, h1);
    try {
      assert.ok(bus instanceof PgBus);
      assert.equal(bus.connected, true);
    } finally {
      await bus.close();
    }
    const local = await createBus({}, { ...h1, dialect: 'sqlite' });
    assert.ok(local instanceof LocalBus && !(local instanceof PgBus));
  });
});

describe('RedisBus (pub/sub)', { skip: redisTestUrl() ? false : 'NEO_TEST_REDIS_URL is not set' }, () => {
  // A channel of its own: parallel test runs share the Redis server.
  const channel = `neo-byok:test:${randomBytes(6).toString('hex')}`;
  let admin: Redis;
  after(async () => {
    await admin?.quit();
  });
  busContract(
    async () => {
      admin = new Redis(redisTestUrl()!);
      const a = new RedisBus({ url: redisTestUrl()!, channel });
      const b = new RedisBus({ url: redisTestUrl()!, channel });
      await Promise.all([a.start(), b.start()]);
      return [a, b];
    },
    async (bus) => {
      // Kill the subscriber connection of `bus`, found by its connection name.
      const clients = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      const line = clients.split('\n').find((l) => l.includes(`name=neo-byok-bus-sub-${bus.instanceId} `));
      const id = line && /\bid=(\d+)/.exec(line)?.[1];
      assert.ok(id, 'the subscriber connection is listed under its name');
      await admin.call('CLIENT', 'KILL', 'ID', id);
    },
  );

  it('createBus prefers Redis when NEO_REDIS_URL is set', async () => {
    const bus = await createBus({ redisUrl: redisTestUrl()! }, { dialect: 'sqlite' } as DatabaseHandle);
    try {
      assert.ok(bus instanceof RedisBus);
      assert.equal(bus.connected, true);
    } finally {
      await bus.close();
    }
  });

  it('start() fails clearly when Redis is unreachable', async () => {
    const bus = new RedisBus({ url: 'redis://:hunter2@127.0.0.1:1', channel });
    await assert.rejects(bus.start(), (err: unknown) => {
      assert.match(String(err), /^Error: redis unreachable at redis:\/\/:\*\*\*@127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1$/);
      return true;
    });
    await bus.close();
  });
});
