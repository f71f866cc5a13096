/**
 * A server on SQLite sees what another process (the CLI beside it) commits to the same
 * database file within about a second: its caches are dropped when SQLite's data_version
 * changes (src/db/notify.ts SqliteWatchBus). Without it the CLI's `admin features set`
 * took up to the cache TTL (60 s) to apply.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { createBus, SqliteWatchBus } from '../src/db/notify.ts';
import { buildApp, type App } from '../src/http/app.ts';
import { signTestJwt, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY } from './helpers/context.ts';

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
      NEO_JWT_SECRET: TEST_JWT_SECRET,
      NEO_MASTER_KEY: TEST_MASTER_KEY,
      NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
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

  it('`admin features set` applies to the running server within a second or two', async () => {
    const email = 'ext-writes@example.com';
    const headers = { authorization: `Bearer ${await signTestJwt(email)}` };
    const mode = async () => (await app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers })).json();
    // First request creates the user and caches its (default: off) flag.
    assert.equal((await mode()).byok_enabled, false);
    await new Promise<void>((resolve, reject) => {
      execFile(BIN, ['admin', 'features', 'set', '--email', email, 'byok=on'], { env: { ...process.env, ...env } }, (err, _out, stderr) =>
        err ? reject(new Error(`CLI failed: ${stderr}`)) : resolve(),
      );
    });
    const deadline = Date.now() + 5_000;
    let enabled = false;
    while (!enabled && Date.now() < deadline) {
      enabled = (await mode()).byok_enabled === true;
      if (!enabled) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(enabled, true, 'the flag set by the CLI is visible without waiting for the 60 s cache TTL');
  });

  it('its own writes do not look like another process’s', () => {
    let resets = 0;
    let version = 1;
    const bus = new SqliteWatchBus(() => version, 60_000);
    bus.subscribe('owner', () => resets++);
    bus.poll();
    assert.equal(resets, 0);
    version = 2;
    bus.poll();
    assert.equal(resets, 1);
    void bus.close();
  });
});
