/** What every CLI command and the server share: configuration and the database. */
import { loadConfig, type Config } from '../config/index.ts';
import { openDatabase, type DatabaseHandle } from '../db/index.ts';
import type { CliIo } from './io.ts';

export interface Runtime {
  config: Config;
  database: DatabaseHandle;
  close(): Promise<void>;
}

export async function openRuntime(io: CliIo, options: { migrate?: boolean } = {}): Promise<Runtime> {
  const config = loadConfig(io.env);
  const database = await openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    migrate: options.migrate !== false,
  });
  return { config, database, close: () => database.close() };
}
