/**
 * Two app instances, A and B, on one fresh PostgreSQL database, each with its own
 * connection pool and cache bus, as two servers of one deployment: the setup of the
 * cache-bus tests (test/bus-gap.test.ts, test/bus-transactional.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { nowIso, openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import type { RemoteBus } from '../../src/db/notify.ts';
import { TEST_SECRETS_ENV, UNTHROTTLED_ENV, type TestContext } from './context.ts';
import { createPostgresDatabase, type TestDatabase } from './databases.ts';
import { createUser, type TestUser } from './fixtures.ts';

export interface TwoInstances {
  a: App;
  b: App;
  /** The database, through A's pool (fixtures write here). */
  database: DatabaseHandle;
  tdb: TestDatabase;
  close(): Promise<void>;
}

export interface TwoInstancesOptions {
  /** Prefix of the data directory's name. */
  dirPrefix: string;
  env?: Record<string, string>;
  /** The buses of A and B over their own pools (started by the helper). */
  buses(tdb: TestDatabase, a: DatabaseHandle, b: DatabaseHandle): Promise<[RemoteBus, RemoteBus]>;
}

export async function startTwoInstances(options: TwoInstancesOptions): Promise<TwoInstances> {
  const tdb = await createPostgresDatabase();
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix));
  const config = loadConfig({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: tdb.url, ...TEST_SECRETS_ENV, ...UNTHROTTLED_ENV, ...options.env });
  const ha = await openDatabase(tdb.url, { poolSize: 3 });
  const hb = await openDatabase(tdb.url, { poolSize: 3, migrate: false });
  const [busA, busB] = await options.buses(tdb, ha, hb);
  await Promise.all([busA.start(), busB.start()]);
  const a = await buildApp({ config, database: ha, bus: busA, quiet: true });
  const b = await buildApp({ config, database: hb, bus: busB, quiet: true });
  return {
    a,
    b,
    database: ha,
    tdb,
    close: async () => {
      await a.close();
      await b.close();
      await ha.close();
      await hb.close();
      await tdb.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ByokUserOnTwo {
  user: TestUser;
  /** The status B answers GET /byok/mode with the user's API key. */
  withKeyOnB: () => Promise<number>;
  /** Whether B says the user's `byok` flag is on. */
  flagOnB: () => Promise<boolean>;
}

/** A solo user with the `byok` flag on and an API key made through A. */
export async function byokUserWithApiKey(two: TwoInstances): Promise<ByokUserOnTwo> {
  const fx = { database: two.database } as unknown as TestContext;
  const user = await createUser(fx);
  await two.database.db.insertInto('features').values({ owner_type: 'user', owner_id: user.id, name: 'byok', enabled: 1, updated_at: nowIso() }).execute();
  const created = await two.a.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers });
  assert.equal(created.statusCode, 201, created.body);
  const apiKey = created.json<{ key: string }>().key;
  return {
    user,
    withKeyOnB: async () => (await two.b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-api-key': apiKey } })).statusCode,
    flagOnB: async () => (await two.b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: user.headers })).json<{ byok_enabled: boolean }>().byok_enabled,
  };
}
