/**
 * A server on SQLite sees what another process (the CLI beside it) commits to the same
 * database file on the very next request: before a cache trusts an entry, SQLite's
 * data_version is compared (src/db/notify.ts SqliteWatchBus). Before, the server polled
 * it every 500 ms, so the request right after `admin features set` could still be
 * answered from the old flag (README step 4, issue 14 item 10).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { createBus, SqliteWatchBus } from '../src/db/notify.ts';
import { buildApp, type App } from '../src/app.ts';
import { signTestJwt, TEST_SECRETS_ENV, UNTHROTTLED_ENV } from './helpers/context.ts';

const BIN = new URL('../bin/neo-byok', import.meta.url).pathname;

describe('SQLite: writes by another process reach a running server', () => {
  let dir: string;
  let env: Record<string, string>;
  let database: DatabaseHandle;
  let app: App;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'neo-extwrite-'));
    env = {
      NEO_DATA_DIR: dir,
      ...TEST_SECRETS_ENV,
      ...UNTHROTTLED_ENV,
      NEO_LOG_LEVEL: 'silent',
    };
    const config = loadConfig(env);
    database = await openDatabase(config.databaseUrl);
    const bus = await createBus(config, database);
    assert.ok(bus instanceof SqliteWatchBus, 'a SQLite server without Redis watches for external writes');
    app = await buildApp({ config, database, bus, quiet: true });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Synchronous: nothing of the server runs between the CLI's commit and the next
  // request (a timer that happened to fire meanwhile cannot make the test pass).
  const cli = (args: string[]) => {
    execFileSync(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  };

  it('`admin features set` applies to the very next request of the running server (no waiting)', async () => {
    const email = 'ext-writes@example.com';
    const headers = { authorization: `Bearer ${await signTestJwt(email)}` };
    const mode = async () => (await app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers })).json();
    // First request creates the user and caches its (default: off) flag.
    assert.equal((await mode()).byok_enabled, false);
    // Several rounds, so a change that happened to be picked up by a timer cannot pass by luck.
    for (const on of [true, false, true]) {
      assert.equal((await mode()).byok_enabled, !on, 'the cached flag is in use before the change');
      cli(['admin', 'features', 'set', '--email', email, `byok=${on ? 'on' : 'off'}`]);
      assert.equal((await mode()).byok_enabled, on, 'the first request after the CLI exits sees its change');
    }
  });

  it('its own writes do not look like another process’s', () => {
    let version = 1;
    const bus = new SqliteWatchBus(() => version);
    let resets = 0;
    bus.register({ name: 'probe', counts: { hits: 0, misses: 0, loads: 0, invalidations: 0 }, size: 0, clear: () => resets++ });
    bus.poll();
    assert.equal(resets, 0);
    version = 2;
    bus.poll();
    assert.equal(resets, 1);
    void bus.close();
  });
});
