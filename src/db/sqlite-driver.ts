/**
 * The SQLite driver: one writer connection, one read-only reader connection (WAL).
 *
 * - **Reads outside a transaction go to the reader.** In WAL mode a reader sees the last
 *   committed state and is never blocked by the writer: a group-commit batch's
 *   uncommitted savepoints are invisible to it by construction, and a point read does
 *   not queue behind a batch of writes. A statement is a read when SQLite says so
 *   (`sqlite3_stmt_readonly`); anything else outside a transaction (an autocommit
 *   write, DDL, a hand-written BEGIN) takes the writer, and that connection keeps the
 *   writer until it is released.
 * - **Transactions take the writer** (one at a time, FIFO) and begin with BEGIN
 *   IMMEDIATE, so the write lock is taken up front.
 * - **The event loop never sleeps on a lock.** better-sqlite3 is synchronous, so a
 *   `busy_timeout` would stop the whole process while another process (the CLI, a
 *   backup, an operator's shell) holds the write lock. The busy timeout is kept at a few
 *   milliseconds and a busy statement is retried asynchronously, with backoff, for up to
 *   BUSY_WAIT_MS; after that it fails with SQLITE_BUSY (a 503).
 * - **A storage failure at COMMIT is fatal.** When COMMIT (or an autocommit write) fails
 *   with an I/O, full-disk or corruption error, the transaction may or may not be on
 *   disk: crash recovery will decide, not this process. The driver then refuses every
 *   further query (CommitOutcomeUnknownError, a 503 "outcome unknown") and calls
 *   `onFatal`, which in production logs and exits non-zero so a supervisor restarts
 *   the process (PostgreSQL's rule for a failed fsync).
 * Prepared statements are cached per connection and SQL text (see StatementCache).
 *
 * `:memory:` databases cannot be shared between two connections: there the writer also
 * serves reads, under the same FIFO lock as transactions (tests and experiments only).
 */
import type SqliteDatabase from 'better-sqlite3';
import { SelectQueryNode, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from 'kysely';
import { CommitOutcomeUnknownError, isSqliteStorageFailure, sqlitePrimaryCode } from './errors.ts';
import { assertOutsideTransaction } from './write-path.ts';

/** How long a statement waits, asynchronously, for a lock another process holds. */
export const BUSY_WAIT_MS = 5000;
/** SQLite's own (synchronous) busy wait per attempt: short enough not to stall the event loop. */
export const BUSY_TIMEOUT_MS = 10;

export interface SqliteDriverOptions {
  writer: SqliteDatabase.Database;
  /** A read-only connection to the same file; undefined for `:memory:` (the writer reads). */
  reader: SqliteDatabase.Database | undefined;
  /** Called once when a storage failure makes a commit's outcome unknown. */
  onFatal: (err: CommitOutcomeUnknownError) => void;
  busyWaitMs?: number;
}

/**
 * Kysely's SQLite driver calls `prepare()` for every query, so SQLite parsed and planned
 * each statement anew: a large share of a cached read's cost (docs/benchmarks.md). The
 * prepared statements are kept per SQL text (bounded; an application has a fixed set of
 * queries). A statement that is still being iterated (a streamed query) is never handed
 * out twice: a fresh one is prepared instead.
 */
class StatementCache {
  private readonly cache = new Map<string, SqliteDatabase.Statement>();

  constructor(
    readonly db: SqliteDatabase.Database,
    private readonly max = 2000,
  ) {}

  prepare(sqlText: string): SqliteDatabase.Statement {
    const hit = this.cache.get(sqlText);
    if (hit && !hit.busy) return hit;
    const stmt = this.db.prepare(sqlText);
    if (!hit && this.cache.size < this.max) this.cache.set(sqlText, stmt);
    return stmt;
  }
}

/** A FIFO lock: the writer connection belongs to one Kysely connection at a time. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const previous = this.tail;
    this.tail = previous.then(() => next);
    await previous;
    return release;
  }
}

const TRANSACTION_CONTROL = /^\s*(begin|commit|end|rollback|savepoint|release)\b/i;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SqliteWritePathDriver implements Driver {
  private readonly writer: StatementCache;
  private readonly reader: StatementCache | undefined;
  private readonly writerLock = new Mutex();
  private readonly busyWaitMs: number;
  private failure: CommitOutcomeUnknownError | undefined;

  constructor(private readonly options: SqliteDriverOptions) {
    this.writer = new StatementCache(options.writer);
    this.reader = options.reader ? new StatementCache(options.reader) : undefined;
    this.busyWaitMs = options.busyWaitMs ?? BUSY_WAIT_MS;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    assertOutsideTransaction();
    this.assertHealthy();
    return new RoutedConnection(this);
  }

  async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    const c = connection as RoutedConnection;
    await c.takeWriter();
    await this.retryBusy(() => this.writer.prepare('begin immediate').run());
    c.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RoutedConnection;
    try {
      this.assertHealthy();
      this.writer.prepare('commit').run();
    } catch (err) {
      if (isSqliteStorageFailure(err)) throw this.fail(err);
      throw err;
    } finally {
      c.inTransaction = false;
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RoutedConnection;
    c.inTransaction = false;
    // SQLite may already have rolled back by itself (after an I/O error or SQLITE_FULL).
    if (this.options.writer.open && this.options.writer.inTransaction) this.writer.prepare('rollback').run();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as RoutedConnection).release();
  }

  async destroy(): Promise<void> {
    this.options.reader?.close();
    this.options.writer.close();
  }

  /** The writer's FIFO lock (RoutedConnection). */
  lockWriter(): Promise<() => void> {
    return this.writerLock.lock();
  }

  assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  /** Runs one statement outside or inside a transaction (RoutedConnection). */
  async run(c: RoutedConnection, query: CompiledQuery): Promise<QueryResult<unknown>> {
    this.assertHealthy();
    const { sql: text, parameters } = query;
    if (!c.onWriter && this.reader) {
      const stmt = this.readerStatement(text);
      if (stmt) return this.retryBusy(() => execute(stmt, parameters));
    }
    await c.takeWriter();
    const stmt = this.writer.prepare(text);
    if (c.inTransaction || this.options.writer.inTransaction) return execute(stmt, parameters);
    // An autocommit write: its implicit COMMIT can fail like an explicit one.
    try {
      return await this.retryBusy(() => execute(stmt, parameters));
    } catch (err) {
      if (!stmt.readonly && isSqliteStorageFailure(err)) throw this.fail(err);
      throw err;
    }
  }

  /** A streamed read (Kysely's `.stream()`): on the reader unless this connection holds the writer. */
  async *stream(c: RoutedConnection, query: CompiledQuery): AsyncIterableIterator<QueryResult<unknown>> {
    this.assertHealthy();
    if (!SelectQueryNode.is(query.query)) throw new Error('the SQLite driver streams select queries only');
    let stmt = !c.onWriter ? this.readerStatement(query.sql) : undefined;
    if (!stmt) {
      await c.takeWriter();
      stmt = this.writer.prepare(query.sql);
    }
    for (const row of stmt.iterate(query.parameters)) yield { rows: [row] };
  }

  /** The reader's prepared statement for `text` when it is a plain read, else undefined (the writer runs it). */
  private readerStatement(text: string): SqliteDatabase.Statement | undefined {
    if (!this.reader || TRANSACTION_CONTROL.test(text)) return undefined;
    let stmt: SqliteDatabase.Statement;
    try {
      stmt = this.reader.prepare(text);
    } catch {
      return undefined; // e.g. a statement on a table the reader's schema does not show yet: the writer says why
    }
    return stmt.readonly ? stmt : undefined;
  }

  /**
   * Retries `fn` while SQLite answers BUSY (another process holds the lock), waiting
   * asynchronously between attempts (5 ms doubling to 100 ms, with jitter) for up to
   * busyWaitMs; the event loop keeps serving meanwhile.
   */
  private async retryBusy<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.busyWaitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (sqlitePrimaryCode(err) !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
        const backoff = Math.min(100, 5 * 2 ** attempt);
        await sleep(Math.min(backoff / 2 + Math.random() * (backoff / 2), Math.max(1, deadline - Date.now())));
        this.assertHealthy();
      }
    }
  }

  /** Records a storage failure at commit: every later query is refused; onFatal runs once. */
  private fail(cause: unknown): CommitOutcomeUnknownError {
    if (!this.failure) {
      this.failure = new CommitOutcomeUnknownError(cause);
      const failure = this.failure;
      // After the callers of the failed commit have been answered (their promises reject first).
      setImmediate(() => this.options.onFatal(failure));
    }
    return this.failure;
  }
}

function execute(stmt: SqliteDatabase.Statement, parameters: readonly unknown[]): QueryResult<unknown> {
  if (stmt.reader) return { rows: stmt.all(parameters) };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return {
    numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
    insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
    rows: [],
  };
}

/**
 * One Kysely connection. It starts without the writer: reads go to the reader; the
 * first transaction, write or transaction-control statement takes the writer, which it
 * keeps until Kysely releases it.
 */
class RoutedConnection implements DatabaseConnection {
  inTransaction = false;
  private releaseWriter: (() => void) | undefined;

  constructor(private readonly driver: SqliteWritePathDriver) {}

  get onWriter(): boolean {
    return this.releaseWriter !== undefined;
  }

  async takeWriter(): Promise<void> {
    if (this.releaseWriter) return;
    this.releaseWriter = await this.driver.lockWriter();
    try {
      this.driver.assertHealthy();
    } catch (err) {
      this.release();
      throw err;
    }
  }

  release(): void {
    const release = this.releaseWriter;
    this.releaseWriter = undefined;
    this.inTransaction = false;
    release?.();
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.run(this, query) as Promise<QueryResult<R>>;
  }

  streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    return this.driver.stream(this, query) as AsyncIterableIterator<QueryResult<R>>;
  }
}

