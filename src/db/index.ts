/**
 * Database access: the only place that knows which SQL dialect is in use.
 *
 * `openDatabase(url)` returns a Kysely instance over better-sqlite3 (embedded default)
 * or PostgreSQL (`postgres://…`), plus the few dialect-specific helpers the services
 * need (row locks, readiness probe). Everything else is one Kysely query per operation.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  sql,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { makePrivateDir, makePrivateSqliteFiles } from '../lib/private-files.ts';
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
  /**
   * SQLite only: a number that changes whenever ANOTHER connection (another process,
   * e.g. the CLI) has committed to the database file (`PRAGMA data_version`).
   */
  externalWriteVersion?: () => number;
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
    // libpq also accepts the password (and key material paths) as query parameters.
    for (const k of ['password', 'sslpassword']) if (u.searchParams.has(k)) u.searchParams.set(k, '***');
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
  /**
   * Kysely runs SQLite migrations outside a transaction (and without a lock). SQLite
   * does support transactional DDL: saying so makes the migrator run inside BEGIN
   * IMMEDIATE, so two processes starting on one file apply the migrations once.
   */
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const begin = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    driver.beginTransaction = begin;
    return driver;
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/**
 * Kysely's SQLite driver calls `prepare()` for every query, so SQLite parsed and planned
 * each statement anew: a large share of a cached read's cost (docs/benchmarks.md). The
 * prepared statements are kept per SQL text (bounded; an application has a fixed set of
 * queries). A statement that is still being iterated (a streamed query) is never handed
 * out twice: a fresh one is prepared instead.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, max = 2000): { close(): void; prepare(sql: string): SqliteDatabase.Statement } {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql) {
      const hit = cache.get(sql);
      if (hit && !hit.busy) return hit;
      const stmt = sqlite.prepare(sql);
      if (!hit && cache.size < max) cache.set(sql, stmt);
      return stmt;
    },
  };
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

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<DatabaseHandle> {
  let handle: DatabaseHandle;
  if (isPostgresUrl(url)) {
    // TLS and other libpq-style options (sslmode, sslrootcert, application_name, …)
    // come from the URL itself; values given in the URL win over these defaults.
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      // Detects connections silently dropped by a network device or a failover.
      keepAlive: true,
      application_name: 'neo-byok',
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
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    handle = {
      db,
      dialect: 'postgres',
      describe: redactDatabaseUrl(url),
      postgresUrl: url,
      ping: async () => {
        await withTimeout(db.executeQuery(CompiledQuery.raw('select 1')), PING_TIMEOUT_MS, 'database ping');
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
    // Private whatever the umask: a new directory 0700, the database files 0600.
    if (path !== ':memory:') {
      makePrivateDir(dirname(path));
      makePrivateSqliteFiles(path);
    }
    const sqlite = new SqliteDatabase(path);
    // WAL + synchronous=FULL: a committed transaction survives kill -9 and power loss;
    // readers never block the writer.
    sqlite.pragma('journal_mode = WAL');
    if (path !== ':memory:') makePrivateSqliteFiles(path);
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
    groupCommits.set(db, new GroupCommit(db));
    handle = {
      db,
      dialect: 'sqlite',
      describe: path,
      ping: async () => {
        sqlite.prepare('select 1').get();
      },
      externalWriteVersion: () => sqlite.pragma('data_version', { simple: true }) as number,
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

/** Work tied to the outcome of the withTransaction running in the current async context. */
interface CommitHooks {
  /** Run inside the transaction, after its body, just before COMMIT (in order). */
  beforeCommit: ((trx: Trx) => Promise<unknown>)[];
  /** Run once COMMIT has returned (in order); dropped when the transaction rolls back. */
  afterCommit: (() => void)[];
}

const commitHooks = new AsyncLocalStorage<CommitHooks>();

/**
 * Runs `fn` once the transaction of the calling code (withTransaction) has committed,
 * or at once outside a transaction; never when it rolls back. For effects that must not
 * be seen before the data they describe is durable (caching, local cache invalidation).
 */
export function afterCommit(fn: () => void): void {
  const hooks = commitHooks.getStore();
  if (hooks) hooks.afterCommit.push(fn);
  else fn();
}

/**
 * Queues `fn(trx)` to run inside the calling code's transaction, after its body and
 * before COMMIT, so that it commits or rolls back with it (PostgreSQL's `pg_notify`).
 * Returns false, running nothing, outside a transaction.
 */
export function beforeCommit(fn: (trx: Trx) => Promise<unknown>): boolean {
  const hooks = commitHooks.getStore();
  if (!hooks) return false;
  hooks.beforeCommit.push(fn);
  return true;
}

/** Runs `fn` in a transaction, retrying (bounded, with jitter) on serialization conflicts. */
export async function withTransaction<T>(db: Db, fn: (trx: Trx) => Promise<T>, attempts = 5): Promise<T> {
  const group = groupCommits.get(db);
  for (let i = 1; ; i++) {
    // Fresh hooks per attempt: a rolled-back attempt's hooks are dropped with it.
    const hooks: CommitHooks = { beforeCommit: [], afterCommit: [] };
    const body = (trx: Trx) =>
      commitHooks.run(hooks, async () => {
        const value = await fn(trx);
        for (const h of hooks.beforeCommit) await h(trx);
        return value;
      });
    try {
      const value = group ? await group.run(body) : await db.transaction().execute(body);
      for (const h of hooks.afterCommit) h();
      return value;
    } catch (err) {
      if (i >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * i)));
    }
  }
}

/**
 * Group commit for SQLite write transactions (withTransaction).
 *
 * With synchronous=FULL every COMMIT waits for an fsync (1–5 ms on common disks), and
 * better-sqlite3 waits synchronously, on the event loop: one fsync per write capped
 * writes at a few hundred per second and stalled every other request meanwhile
 * (docs/benchmarks.md). Here the transactions waiting for the one connection run one
 * after the other inside ONE outer transaction, each in its own SAVEPOINT, and share
 * one COMMIT:
 * - a transaction that throws is rolled back to its savepoint (the others are
 *   unaffected) and its caller gets the error at once;
 * - the others' callers get their results only after the shared COMMIT returned, so an
 *   acknowledged change is durable exactly as before; if the COMMIT fails they all get
 *   its error (withTransaction retries a busy database);
 * - they run serially, in arrival order, each seeing the ones before it: the same
 *   serial order BEGIN IMMEDIATE gave (one writer at a time), so lockOwner's guarantee
 *   holds unchanged.
 * A batch is bounded (MAX_GROUP) so that one outer transaction stays short, and the
 * event loop gets a turn between two transactions.
 */
class GroupCommit {
  private readonly queue: { fn: (trx: Trx) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly db: Db) {}

  run<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) {
        // Start on the next turn of the event loop, after the I/O of this turn: every
        // request that arrived meanwhile joins the batch (else each would commit alone).
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.batch(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.running = false;
    }
  }

  private async batch(jobs: GroupCommit['queue']): Promise<void> {
    let trx: Awaited<ReturnType<ReturnType<Db['startTransaction']>['execute']>>;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (err) {
      for (const j of jobs) j.reject(err);
      return;
    }
    const done: { job: (typeof jobs)[number]; value: unknown }[] = [];
    try {
      for (const [k, job] of jobs.entries()) {
        if (k > 0) await new Promise((r) => setImmediate(r));
        await sql`savepoint neo_group_job`.execute(trx);
        try {
          const value = await job.fn(trx);
          await sql`release savepoint neo_group_job`.execute(trx);
          done.push({ job, value });
        } catch (err) {
          await sql`rollback to savepoint neo_group_job`.execute(trx);
          await sql`release savepoint neo_group_job`.execute(trx);
          job.reject(err);
        }
      }
      await trx.commit().execute();
    } catch (err) {
      await trx.rollback().execute().catch(() => undefined);
      // Every job not already rejected on its own fails with the batch's error (a settled
      // promise ignores a second settlement); withTransaction may retry them.
      for (const j of jobs) j.reject(err);
      return;
    }
    for (const d of done) d.job.resolve(d.value);
  }
}

/** Transactions per shared COMMIT at most. */
const MAX_GROUP = 64;
/** The group committer of each SQLite database (withTransaction uses it when present). */
const groupCommits = new WeakMap<Db, GroupCommit>();

/** True when `err` means the database cannot be reached (answered as 503, not 500). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL'].includes(code)) {
    return true;
  }
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /driver has already been destroyed|The database connection is not open|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(msg);
}
