/**
 * Database access: the only place that knows which SQL dialect is in use.
 *
 * `openDatabase(url)` returns a Kysely instance over better-sqlite3 (embedded default)
 * or PostgreSQL (`postgres://…`), plus the few dialect-specific helpers the services
 * need (row locks, readiness probe). Everything else is one Kysely query per operation.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { migrations } from './migrations/index.ts';
import type { Database, OwnerType } from './schema.ts';

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
}

export interface OpenOptions {
  poolSize?: number;
  /** Run migrations after opening. Default true. */
  migrate?: boolean;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** Strips credentials from a database URL so it can be logged. */
export function redactDatabaseUrl(url: string): string {
  if (!isPostgresUrl(url)) return url.replace(/^sqlite:/, '');
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * Kysely's SQLite driver begins transactions with a plain (deferred) BEGIN. A deferred
 * transaction that reads and then writes can fail with SQLITE_BUSY when another process
 * (the CLI beside a running server) writes meanwhile; BEGIN IMMEDIATE takes the write
 * lock up front and waits for it under busy_timeout instead.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    const begin = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    driver.beginTransaction = begin;
    return driver;
  }
}

function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/, '');
}

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<DatabaseHandle> {
  let handle: DatabaseHandle;
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    handle = {
      db,
      dialect: 'postgres',
      describe: redactDatabaseUrl(url),
      postgresUrl: url,
      ping: async () => {
        await db.executeQuery(CompiledQuery.raw('select 1'));
      },
      close: () => db.destroy(),
    };
    try {
      await handle.ping();
    } catch (err) {
      await db.destroy().catch(() => {});
      throw new DatabaseUnreachableError(handle.describe, err);
    }
  } else {
    const path = sqlitePath(url);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SqliteDatabase(path);
    // WAL + synchronous=FULL: a committed transaction survives kill -9 and power loss;
    // readers never block the writer.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
    handle = {
      db,
      dialect: 'sqlite',
      describe: path,
      ping: async () => {
        sqlite.prepare('select 1').get();
      },
      close: () => db.destroy(),
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

export class DatabaseUnreachableError extends Error {
  constructor(where: string, cause: unknown) {
    super(`database unreachable at ${where}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DatabaseUnreachableError';
  }
}

/** Applies every pending migration; safe when several instances do it at once. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('migration failed');
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Locks the owner's BYOK settings row for the rest of the transaction (creating it
 * first if missing). Every write that can change "mode = byok ⇒ at least one key"
 * takes this lock first, so such writes on one owner are serialized on every dialect:
 * PostgreSQL by `SELECT … FOR UPDATE`, SQLite by BEGIN IMMEDIATE (one writer).
 */
export async function lockOwner(
  trx: Trx,
  dialect: Dialect,
  owner: { type: OwnerType; id: string },
  now: string,
): Promise<{ mode: 'neo' | 'byok' }> {
  await trx
    .insertInto('byok_settings')
    .values({ owner_type: owner.type, owner_id: owner.id, mode: 'neo', updated_at: now })
    .onConflict((oc) => oc.columns(['owner_type', 'owner_id']).doNothing())
    .execute();
  let q = trx
    .selectFrom('byok_settings')
    .select('mode')
    .where('owner_type', '=', owner.type)
    .where('owner_id', '=', owner.id);
  if (dialect === 'postgres') q = q.forUpdate();
  const row = await q.executeTakeFirstOrThrow();
  return { mode: row.mode };
}

/** Current time as the RFC 3339 UTC string stored in every timestamp column. */
export function nowIso(clock: () => number = Date.now): string {
  return new Date(clock()).toISOString();
}

/** True when `err` is a unique/primary-key violation, on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when a transaction failed only because of a concurrent one and may be retried. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01' || code === 'SQLITE_BUSY';
}

/** Runs `fn` in a transaction, retrying (bounded, with jitter) on serialization conflicts. */
export async function withTransaction<T>(db: Db, fn: (trx: Trx) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      if (i >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * i)));
    }
  }
}

/** True when `err` means the database cannot be reached (answered as 503, not 500). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL'].includes(code)) {
    return true;
  }
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(msg);
}
