/** `neo-byok serve`: start the HTTP server; SIGTERM/SIGINT shut it down gracefully. */
import { ensureSecrets, loadConfig, type Config } from '../config/index.ts';
import { openDatabase, redactDatabaseUrl } from '../db/index.ts';
import { createBus } from '../db/notify.ts';
import { buildApp, type App } from '../app.ts';
import { looseDirMode } from '../lib/private-files.ts';
import type { CliIo } from './io.ts';

const SHUTDOWN_GRACE_MS = 10_000;
/** After a fatal database error: how long answers in flight (all 503 by then) get to leave. */
const FATAL_GRACE_MS = 1_000;

export interface RunningServer {
  app: App;
  config: Config;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string | undefined>): Promise<RunningServer> {
  const generatedSecrets = ensureSecrets(env);
  const config = loadConfig(env);
  // Read before the database opens: a directory created now is private (0700).
  const looseMode = looseDirMode(config.dataDir);
  const database = await openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize, postgres: config.databaseTimeouts });
  // Cross-instance cache invalidation: Redis when configured, else LISTEN/NOTIFY on
  // PostgreSQL, else process-local (src/db/notify.ts).
  let bus: Awaited<ReturnType<typeof createBus>>;
  try {
    bus = await createBus(config, database);
  } catch (err) {
    await database.close();
    throw err;
  }
  let app: App;
  try {
    app = await buildApp({ config, database, bus });
  } catch (err) {
    await bus.close();
    await database.close();
    throw err;
  }
  bus.setLogger?.(app.log);
  // A failed COMMIT (SQLite storage error): its callers got 503 "outcome unknown" and the
  // database refuses everything; stop so that crash recovery decides (docs/deployment.md).
  database.setFatalHandler((err) => {
    app.log.fatal({ err: { message: err.message, code: (err.cause as { code?: unknown } | undefined)?.code } }, 'database commit failed; exiting so that recovery decides');
    const exit = () => process.exit(74);
    setTimeout(exit, FATAL_GRACE_MS).unref();
    app.close().then(exit, exit);
  });
  const startupWarnings = () => {
    if (generatedSecrets.length) {
      app.log.warn(
        { generated: generatedSecrets, file: `${config.dataDir}/secrets.json` },
        'generated missing secrets into the data dir (mode 0600); set them in the environment for production',
      );
    }
    if (looseMode) {
      // Not changed behind the operator's back (a group may be meant to read it); reported.
      app.log.warn(
        { event: 'data_dir_permissions', data_dir: config.dataDir, mode: `0${looseMode.toString(8)}` },
        'the data directory can be read by other local users (it holds the database and may hold secrets.json); chmod 700 it',
      );
    }
    if (config.jwt.jwksUrl && !config.jwt.audience) {
      // Without an audience any token the identity provider signed is accepted, also one
      // it issued to another application (docs/configuration.md).
      app.log.warn(
        { issuer_set: Boolean(config.jwt.issuer) },
        'NEO_JWT_JWKS_URL is set without NEO_JWT_AUDIENCE: tokens the identity provider issued for other applications are accepted; set NEO_JWT_AUDIENCE (and NEO_JWT_ISSUER)',
      );
    }
  };
  app.addHook('onClose', async () => {
    await database.close();
  });
  let address: string;
  try {
    // Fastify's own "listening" line, the first line a newcomer reads, says where to go.
    address = await app.listen({ port: config.port, host: config.host, listenTextResolver: welcomeText });
  } catch (err) {
    startupWarnings();
    throw err;
  }
  startupWarnings();
  const urls = serverUrls(address);
  app.log.info({ address, ...urls, database: redactDatabaseUrl(config.databaseUrl) }, 'neo-byok listening');
  return { app, config, url: address, stop: () => app.close() };
}

/** The API, docs and settings page URLs of a listening address (a wildcard host shown as localhost). */
export function serverUrls(address: string): { api: string; docs: string; settings: string } {
  const base = address.replace(/^(https?:\/\/)(0\.0\.0\.0|\[::\])(?=:\d+$)/, '$1localhost');
  return { api: `${base}/api/v1`, docs: `${base}/docs`, settings: `${base}/` };
}

/** The first log line: where the API, its docs and the settings page are. */
export function welcomeText(address: string): string {
  const { api, docs, settings } = serverUrls(address);
  return `neo-byok is running: API ${api} · API docs ${docs} · settings page ${settings}`;
}

export async function serveCommand(io: CliIo): Promise<number> {
  // Signals are taken from the start: the "neo-byok listening" line is written before
  // startServer returns, and a supervisor may answer it with SIGTERM at once. A signal that
  // arrives during start-up shuts the server down as soon as it is up.
  let received: string | undefined;
  let onSignal: (signal: string) => void = (signal) => {
    received ??= signal;
  };
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
  let server: RunningServer;
  try {
    server = await startServer(io.env);
  } catch (err) {
    process.removeListener('SIGTERM', handler);
    process.removeListener('SIGINT', handler);
    throw err;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.app.log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
      // Fastify closes only the connections idle when close() starts; a keep-alive
      // connection whose in-flight request ends later would hold the server open for
      // keepAliveTimeout (72 s). Close those as soon as they turn idle.
      const reaper = setInterval(() => server.app.server.closeIdleConnections(), 100);
      reaper.unref();
      const force = setTimeout(() => {
        server.app.log.error('in-flight requests did not finish in time; exiting');
        // Bounded: cut what is left so the process can exit (the database closes in onClose).
        clearInterval(reaper);
        server.app.server.closeAllConnections();
        resolve(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      server.stop().then(
        () => {
          clearInterval(reaper);
          clearTimeout(force);
          server.app.log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          clearInterval(reaper);
          clearTimeout(force);
          io.stderr(`shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(1);
        },
      );
    };
    onSignal = shutdown;
    if (received) shutdown(received);
  });
}
