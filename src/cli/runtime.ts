/**
 * What every CLI command and the server share: configuration and the database.
 * The database drivers (kysely, pg, better-sqlite3, ioredis) are loaded when a command
 * opens the runtime, not when the CLI starts: `neo-byok --help` stays fast.
 */
import type { Config } from '../config/index.ts';
import type { DatabaseHandle } from '../db/index.ts';
import { LocalBus, type CacheBus } from '../lib/bus.ts';
import type { CliIo } from './io.ts';

export interface Runtime {
  config: Config;
  database: DatabaseHandle;
  /**
   * Where the command publishes its cache invalidations. With `bus: true`, the servers'
   * own bus (createBus): Redis when NEO_REDIS_URL is set, else PostgreSQL LISTEN/NOTIFY,
   * so running servers drop the changed entries at once. On SQLite without Redis it is
   * process-local: nothing reaches the servers, but a server of that kind compares
   * SQLite's data_version at the start of every request and empties its caches when
   * another process has committed, so the first request after the command sees the
   * change (test/sqlite-external-writes.test.ts), published or not. Without `bus: true`
   * the bus is process-local: servers on Redis or PostgreSQL then see the change when
   * their cache entries expire (within 60 s).
   */
  bus: CacheBus;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** Connect to the cross-instance bus (default false: most commands publish nothing). */
  bus?: boolean;
}

export async function openRuntime(io: CliIo, options: RuntimeOptions = {}): Promise<Runtime> {
  // The schema (TypeBox, Ajv) loads with the command, not with `neo-byok --help`.
  const { ensureSecrets, loadConfig } = await import('../config/index.ts');
  ensureSecrets(io.env);
  const config = loadConfig(io.env);
  const [{ openDatabase }, { createBus, RemoteBus }] = await Promise.all([import('../db/index.ts'), import('../db/notify.ts')]);
  const database = await openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    postgres: config.databaseTimeouts,
    migrate: options.migrate !== false,
  });
  let bus: CacheBus = new LocalBus();
  if (options.bus) {
    try {
      bus = await createBus(config, database);
    } catch (err) {
      // The change itself still lands; servers pick it up when their cache entries expire.
      io.stderr(
        `neo-byok: warning: cannot reach the cache bus (${err instanceof Error ? err.message : String(err)}); running servers see this change within 60 s\n`,
      );
    }
  }
  return {
    config,
    database,
    bus,
    close: async () => {
      // Every invalidation the command published leaves this process before the
      // connections go; a backend stuck for 5 s is given up (servers then see the change
      // when their cache entries expire, within 60 s).
      if (bus instanceof RemoteBus) await bus.flush(5000);
      await bus.close();
      await database.close();
    },
  };
}
