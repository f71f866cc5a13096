/** `neo-byok serve`: start the HTTP server; SIGTERM/SIGINT shut it down gracefully. */
import { loadConfig, type Config } from '../config/index.ts';
import { openDatabase, redactDatabaseUrl } from '../db/index.ts';
import { buildApp, type App } from '../http/app.ts';
import type { CliIo } from './io.ts';

const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningServer {
  app: App;
  config: Config;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string | undefined>): Promise<RunningServer> {
  const config = loadConfig(env);
  const database = await openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize });
  let app: App;
  try {
    app = await buildApp({ config, database });
  } catch (err) {
    await database.close();
    throw err;
  }
  if (config.generatedSecrets.length) {
    app.log.warn(
      { generated: config.generatedSecrets, file: `${config.dataDir}/secrets.json` },
      'generated missing secrets into the data dir (mode 0600); set them in the environment for production',
    );
  }
  app.addHook('onClose', async () => {
    await database.close();
  });
  const address = await app.listen({ port: config.port, host: config.host });
  app.log.info({ address, database: redactDatabaseUrl(config.databaseUrl) }, 'neo-byok listening');
  return { app, config, url: address, stop: () => app.close() };
}

export async function serveCommand(io: CliIo): Promise<number> {
  const server = await startServer(io.env);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.app.log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
      const force = setTimeout(() => {
        server.app.log.error('in-flight requests did not finish in time; exiting');
        resolve(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      server.stop().then(
        () => {
          clearTimeout(force);
          server.app.log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          clearTimeout(force);
          io.stderr(`shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
