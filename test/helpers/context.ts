/**
 * Test context: a real app (the same buildApp as production) on a fresh database.
 * SQLite in memory always; PostgreSQL (a fresh database per context) when
 * NEO_TEST_DATABASE_URL is set and the context asks for `dialect: 'postgres'`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { openDatabase, type DatabaseHandle, type OpenOptions } from '../../src/db/index.ts';
import { buildApp, type App, type AppDeps } from '../../src/app.ts';
import { openTestDatabase, type TestDialect } from './databases.ts';

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz';
export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
export const TEST_INTERNAL_TOKEN = 'internal-token-0123456789abcdefghijklmnopqrstuvwxyz';

/** The secrets every test server shares (tokens signed by the tests verify on every instance). */
export const TEST_SECRETS_ENV: Readonly<Record<string, string>> = {
  NEO_JWT_SECRET: TEST_JWT_SECRET,
  NEO_MASTER_KEY: TEST_MASTER_KEY,
  NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
};

/**
 * No rate limits and no load shedding on event-loop delay: a loaded test machine stalls
 * processes for hundreds of ms, and a correctness test must not be answered 503 or 429
 * (test/overload.test.ts and test/hardening-ratelimit.test.ts turn them on).
 */
export const UNTHROTTLED_ENV: Readonly<Record<string, string>> = {
  NEO_RATE_LIMIT: 'off',
  NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
};

export interface TestContextOptions {
  dialect?: TestDialect;
  env?: Record<string, string>;
  /** Capture logs into `ctx.logs` (default true). */
  captureLogs?: boolean;
  deps?: Partial<AppDeps>;
  /** Adds test-only routes or hooks to the app before it is ready. */
  beforeReady?: (app: App) => void;
  /** Options of openDatabase (e.g. `sqliteWrap` to observe the statements a request runs). */
  databaseOptions?: OpenOptions;
}

export interface TestContext {
  app: App;
  config: Config;
  database: DatabaseHandle;
  dataDir: string;
  /** Every log line the app wrote. */
  logs: string[];
  /** A signed HS256 JWT for `email` (sub defaults to `sub|<email>`). */
  token(email: string, opts?: { sub?: string; ttlSeconds?: number; claims?: Record<string, unknown> }): Promise<string>;
  /** Authorization header object for `email`. */
  bearer(email: string): Promise<{ authorization: string }>;
  close(): Promise<void>;
}

export async function signTestJwt(
  email: string | undefined,
  opts: { sub?: string; ttlSeconds?: number; claims?: Record<string, unknown>; secret?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  // A verified address by default (an unverified one creates no account); claims override it.
  return new SignJWT({ ...(email ? { email, email_verified: true } : {}), ...(opts.claims ?? {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.sub ?? `sub|${email}`)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

export async function createTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-test-'));
  const testDb = await openTestDatabase(options.dialect ?? 'sqlite', dataDir);
  const config = loadConfig({
    NEO_DATA_DIR: dataDir,
    NEO_DATABASE_URL: testDb.url,
    ...TEST_SECRETS_ENV,
    ...UNTHROTTLED_ENV,
    NEO_LOG_LEVEL: 'info',
    // Tests run key-health rounds themselves (services.keyHealthScheduler.round()).
    NEO_KEY_RECHECK: 'off',
    // Tests run webhook delivery rounds themselves (services.webhookWorker.round()).
    NEO_WEBHOOK_DELIVERY: 'off',
    ...options.env,
  });
  const database = await openDatabase(config.databaseUrl, { poolSize: 5, ...options.databaseOptions });
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const app = await buildApp({
    config,
    database,
    ...(options.captureLogs === false ? { quiet: true } : { logStream }),
    ...options.deps,
  });
  options.beforeReady?.(app);
  await app.ready();
  return {
    app,
    config,
    database,
    dataDir,
    logs,
    token: (email, opts) => signTestJwt(email, opts),
    bearer: async (email) => ({ authorization: `Bearer ${await signTestJwt(email)}` }),
    close: async () => {
      await app.close();
      await database.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The dialects the HTTP suite runs on in this process: SQLite always, PostgreSQL when configured. */
export function testDialects(): TestDialect[] {
  return process.env.NEO_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

/**
 * Runs `fn` and returns how many queries it started with `selectFrom` on the app's
 * database: the "a warm read touches no table" check of the hot-path tests.
 */
export async function countDatabaseReads(ctx: TestContext, fn: () => Promise<unknown>): Promise<number> {
  const db = ctx.database.db;
  let reads = 0;
  const original = db.selectFrom.bind(db);
  (db as { selectFrom: unknown }).selectFrom = (...args: Parameters<typeof original>) => {
    reads += 1;
    return original(...args);
  };
  try {
    await fn();
  } finally {
    delete (db as { selectFrom?: unknown }).selectFrom;
  }
  return reads;
}
