/**
 * Database access: the only place that knows which SQL dialect is in use.
 *
 * `openDatabase(url)` returns a Kysely instance over better-sqlite3 (embedded default)
 * or PostgreSQL (`postgres://…`), plus the few dialect-specific helpers the services
 * need (row locks, readiness probe). Everything else is one Kysely query per operation.
 */
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseIntrospector,
  type Dialect as KyselyDialect,
  type DialectAdapter,
  type Driver,
  type PostgresPool,
  type PostgresPoolClient,
  type QueryCompiler,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { isPostgresUrl } from '../lib/database-url.ts';
import { makePrivateDir, makePrivateSqliteFiles } from '../lib/private-files.ts';
import { PG_QUERY_TIMEOUT_MESSAGE } from './errors.ts';
import { migrations } from './migrations/index.ts';
import type { Database } from './schema.ts';
import { BUSY_TIMEOUT_MS, SqliteWritePathDriver } from './sqlite-driver.ts';
import { assertOutsideTransaction, enableGroupCommit } from './write-path.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;

export interface DatabaseHandle {
  db: Db;
  dialect: Dialect;
  /** A safe description of the database for logs (no password). */
  describe: string;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PostgreSQL connection string (for LISTEN/NOTIFY), when the dialect is postgres. */
  postgresUrl?: string;
  /**
   * SQLite only: a number that changes whenever ANOTHER connection (another process,
   * e.g. the CLI) has committed to the database file (`PRAGMA data_version`).
   */
  externalWriteVersion?: () => number;
  /**
   * Replaces what happens when a COMMIT fails with a storage error (SQLite: I/O error,
   * full disk, corruption; the outcome is unknown). The database already refuses every
   * query (503); the handler must stop the process so that crash recovery decides. The
   * default writes one line on stderr and exits with status 74. No-op on PostgreSQL
   * (the server recovers by itself; the client only sees a lost connection).
   */
  setFatalHandler(handler: (err: Error) => void): void;
}

/** PostgreSQL session limits, in milliseconds (config: NEO_DATABASE_*_TIMEOUT_MS). */
export interface PostgresTimeouts {
  /** statement_timeout; the client gives up on an unanswered query QUERY_TIMEOUT_MARGIN_MS later. */
  statementTimeoutMs: number;
  /** lock_timeout: a lock wait longer than this fails the statement (55P03, a 503 for that request). */
  lockTimeoutMs: number;
  /** idle_in_transaction_session_timeout: ends the session of a client that stopped in a transaction. */
  idleInTransactionTimeoutMs: number;
}

export const POSTGRES_TIMEOUT_DEFAULTS: PostgresTimeouts = {
  statementTimeoutMs: 15_000,
  lockTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 15_000,
};
/** How much longer than statement_timeout the client waits for any answer before it drops the connection. */
export const QUERY_TIMEOUT_MARGIN_MS = 2_000;
/** TCP keepalive starts probing an idle PostgreSQL connection after this. */
const KEEPALIVE_DELAY_MS = 5_000;

export interface OpenOptions {
  poolSize?: number;
  /** Run migrations after opening. Default true. */
  migrate?: boolean;
  /** PostgreSQL timeouts (defaults: POSTGRES_TIMEOUT_DEFAULTS). */
  postgres?: Partial<PostgresTimeouts>;
  /** The initial fatal handler (see DatabaseHandle.setFatalHandler). */
  onFatal?: (err: Error) => void;
  /**
   * SQLite only: wraps each better-sqlite3 connection as it is opened (`writer`, then
   * `reader`). For fault injection in tests (a COMMIT that fails); production passes none.
   */
  sqliteWrap?: (connection: SqliteDatabase.Database, role: 'writer' | 'reader') => SqliteDatabase.Database;
}

/** Strips credentials from a database URL so it can be logged. */
export function redactDatabaseUrl(url: string): string {
  if (!isPostgresUrl(url)) return url.replace(/^sqlite:/, '');
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // libpq also accepts the password (and key material paths) as query parameters.
    for (const k of ['password', 'sslpassword']) if (u.searchParams.has(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * Kysely's SQLite dialect with the write-path driver (sqlite-driver.ts: a writer and a
 * read-only reader connection, BEGIN IMMEDIATE, asynchronous busy waits, fatal commit
 * failures).
 */
class WritePathSqliteDialect implements KyselyDialect {
  constructor(private readonly driver: Driver) {}
  createDriver(): Driver {
    return this.driver;
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  /**
   * Kysely runs SQLite migrations outside a transaction (and without a lock). SQLite
   * does support transactional DDL: saying so makes the migrator run inside BEGIN
   * IMMEDIATE, so two processes starting on one file apply the migrations once.
   */
  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** Kysely's PostgreSQL dialect whose driver refuses root queries inside a transaction (write-path.ts). */
class GuardedPostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    const acquire = driver.acquireConnection.bind(driver);
    driver.acquireConnection = async () => {
      assertOutsideTransaction();
      return acquire();
    };
    return driver;
  }
}

/** How long a readiness ping may take before the database counts as unreachable. */
const PING_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/, '');
}

/** What the default fatal handler does: one line on stderr, exit 74 (EX_IOERR). */
function exitOnFatal(err: Error): void {
  process.stderr.write(`neo-byok: ${err.message}; exiting so that crash recovery decides\n`);
  process.exit(74);
}

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<DatabaseHandle> {
  let handle: DatabaseHandle;
  if (isPostgresUrl(url)) {
    const t = { ...POSTGRES_TIMEOUT_DEFAULTS, ...options.postgres };
    // TLS and other libpq-style options (sslmode, sslrootcert, application_name, …)
    // come from the URL itself; values given in the URL win over these defaults.
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      // Detects connections silently dropped by a network device or a failover within
      // seconds (the operating system's default is two hours).
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      application_name: 'neo-byok',
      // Server side (sent at connect, in milliseconds): no statement runs, no lock is
      // waited for and no transaction stays idle longer than this. A frozen client's
      // session is ended by idle_in_transaction_session_timeout, releasing its locks.
      statement_timeout: t.statementTimeoutMs,
      lock_timeout: t.lockTimeoutMs,
      idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
      // Client side: a query without any answer (the server or the network froze) fails
      // after this, and its connection is discarded (discardTimedOut).
      query_timeout: t.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    // Nor may a checked-out one: pg emits 'error' on the client (besides failing its
    // query) when the connection drops mid-query, and the pool listens only while the
    // client is idle. The query's own error answers the request (503); the pool drops
    // the dead client when it is released.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const db = new Kysely<Database>({ dialect: new GuardedPostgresDialect({ pool: discardTimedOut(pool) }) });
    handle = {
      db,
      dialect: 'postgres',
      describe: redactDatabaseUrl(url),
      postgresUrl: url,
      ping: async () => {
        await withTimeout(db.executeQuery(CompiledQuery.raw('select 1')), PING_TIMEOUT_MS, 'database ping');
      },
      close: () => db.destroy(),
      setFatalHandler: () => {},
    };
    try {
      await handle.ping();
    } catch (err) {
      await db.destroy().catch(() => {});
      throw new DatabaseUnreachableError(handle.describe, err);
    }
  } else {
    const path = sqlitePath(url);
    const memory = path === ':memory:';
    // Private whatever the umask: a new directory 0700, the database files 0600.
    if (!memory) {
      makePrivateDir(dirname(path));
      makePrivateSqliteFiles(path);
    }
    const wrap = options.sqliteWrap ?? ((c: SqliteDatabase.Database) => c);
    const writer = wrap(new SqliteDatabase(path), 'writer');
    // WAL + synchronous=FULL: a committed transaction survives kill -9 and power loss;
    // readers never block the writer.
    writer.pragma('journal_mode = WAL');
    if (!memory) makePrivateSqliteFiles(path);
    writer.pragma('synchronous = FULL');
    writer.pragma('foreign_keys = ON');
    // A few milliseconds at most of synchronous waiting; longer waits are asynchronous (sqlite-driver.ts).
    writer.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    let reader: SqliteDatabase.Database | undefined;
    if (!memory) {
      reader = wrap(new SqliteDatabase(path, { readonly: true }), 'reader');
      reader.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Never writes, but answers `pragma …` for the database: the same settings as the writer.
      reader.pragma('synchronous = FULL');
      reader.pragma('foreign_keys = ON');
    }
    let onFatal: (err: Error) => void = options.onFatal ?? exitOnFatal;
    const driver = new SqliteWritePathDriver({ writer, reader, onFatal: (err) => onFatal(err) });
    const db = new Kysely<Database>({ dialect: new WritePathSqliteDialect(driver) });
    enableGroupCommit(db);
    const probe = reader ?? writer;
    let dataVersion: SqliteDatabase.Statement | undefined;
    handle = {
      db,
      dialect: 'sqlite',
      describe: path,
      ping: async () => {
        driver.assertHealthy();
        probe.prepare('select 1').get();
      },
      // Read before every request (src/db/notify.ts SqliteWatchBus): one statement prepared
      // once, where writer.pragma() prepared it anew each time (the largest single cost of a
      // /healthz request in the profiles of docs/benchmarks.md).
      externalWriteVersion: () => (dataVersion ??= writer.prepare('PRAGMA data_version').pluck()).get() as number,
      close: () => db.destroy(),
      setFatalHandler: (handler) => {
        onFatal = handler;
      },
    };
  }
  if (options.migrate !== false) {
    try {
      await migrateToLatest(handle.db);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }
  return handle;
}

/**
 * Makes Kysely's pool hand back a connection whose query got no answer within
 * `query_timeout` as broken (release(true)): pg-pool then destroys it. Without this the
 * timed-out query stays active on the connection, the pool lends it out again, and
 * every later query on it waits behind the frozen one.
 */
function discardTimedOut(pool: pg.Pool): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient & { broken: boolean }>();
  return {
    connect: async () => {
      const client = await pool.connect();
      let w = wrapped.get(client);
      if (!w) {
        const entry: PostgresPoolClient & { broken: boolean } = {
          broken: false,
          query: ((sqlText: unknown, parameters?: readonly unknown[]) => {
            if (typeof sqlText !== 'string') return client.query(sqlText as never);
            return client.query(sqlText, parameters as unknown[]).catch((err: unknown) => {
              if ((err as { message?: unknown } | null)?.message === PG_QUERY_TIMEOUT_MESSAGE) entry.broken = true;
              throw err;
            });
          }) as unknown as PostgresPoolClient['query'],
          release: (destroy?: boolean) => client.release(destroy || entry.broken ? true : undefined),
        };
        w = entry;
        wrapped.set(client, w);
      }
      return w;
    },
    end: () => pool.end(),
  };
}

export class DatabaseUnreachableError extends Error {
  constructor(where: string, cause: unknown) {
    super(`database unreachable at ${where}: ${describeCause(cause)}`, { cause });
    this.name = 'DatabaseUnreachableError';
  }
}

/** One line naming why a connection failed (AggregateErrors from dual-stack hosts have no message). */
function describeCause(cause: unknown): string {
  const e = cause as { message?: unknown; code?: unknown; errors?: unknown } | null;
  let text = typeof e?.message === 'string' ? e.message : '';
  if (!text && Array.isArray(e?.errors)) {
    text = (e.errors as { message?: unknown }[]).map((x) => (typeof x?.message === 'string' ? x.message : '')).filter(Boolean).join('; ');
  }
  if (!text && typeof e?.code === 'string') text = e.code;
  if (!text) text = String(cause);
  return text.replace(/\s*\n\s*/g, ' ').slice(0, 300);
}

/** Applies every pending migration; safe when several instances do it at once. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('migration failed');
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Current time as the RFC 3339 UTC string stored in every timestamp column. */
/**
 * A row lock for the rest of the transaction: `FOR UPDATE` on PostgreSQL; nothing on
 * SQLite, where the write transaction (BEGIN IMMEDIATE) already excludes other writers.
 */
export function forUpdate<Q extends { forUpdate(): Q }>(query: Q, dialect: Dialect): Q {
  return dialect === 'postgres' ? query.forUpdate() : query;
}

export function nowIso(clock: () => number = Date.now): string {
  return new Date(clock()).toISOString();
}

/** True when `err` is a unique/primary-key violation, on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export { CommitOutcomeUnknownError, TransactionMisuseError, databaseUnavailability, isDatabaseUnavailable, isRetryableConflict } from './errors.ts';
export { afterCommit, beforeCommit, currentTransaction, withTransaction } from './write-path.ts';
