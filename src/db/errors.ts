/**
 * What a database error means for the caller: a conflict worth retrying, a database
 * that cannot answer now (503), or a write whose outcome is unknown (503, then the
 * process stops so that crash recovery decides).
 *
 * SQLite reports extended result codes (`SQLITE_IOERR_FSYNC`, `SQLITE_BUSY_SNAPSHOT`,
 * `SQLITE_CONSTRAINT_UNIQUE`, …): every check here compares the primary code, the part
 * before the second underscore, so no extended code slips through an exact-string test.
 */

/** `SQLITE_IOERR_FSYNC` → `SQLITE_IOERR`; undefined for anything that is not a SQLite code. */
export function sqlitePrimaryCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  return /^SQLITE_[A-Z]+/.exec(code)?.[0];
}

/**
 * SQLite primary codes after which the state on disk is not known to match what the
 * process believes: a failed write or sync (IOERR), a full disk (FULL), a damaged file
 * (CORRUPT, NOTADB). At COMMIT they make the outcome of the transaction unknown.
 */
const SQLITE_FATAL = new Set(['SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/** True when a SQLite error means the file or the disk failed (see SQLITE_FATAL). */
export function isSqliteStorageFailure(err: unknown): boolean {
  const primary = sqlitePrimaryCode(err);
  return primary !== undefined && SQLITE_FATAL.has(primary);
}

/**
 * A COMMIT (or an autocommit write) failed with a storage error: the change may or may
 * not be on disk, and only crash recovery can tell. Every caller whose answer depended on
 * it gets this error (503 "outcome unknown"), and the process stops (see OpenOptions.onFatal).
 */
export class CommitOutcomeUnknownError extends Error {
  readonly code = 'NEO_COMMIT_OUTCOME_UNKNOWN';
  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    super(`the database failed to commit (${typeof code === 'string' ? code : 'storage error'}); the outcome is unknown until the process restarts and recovers`, { cause });
    this.name = 'CommitOutcomeUnknownError';
  }
}

/**
 * A programming error: a nested transaction, or a query on the root database while the
 * current async context is inside a transaction (it would wait for the connection that
 * this very transaction holds: a deadlock). See src/db/write-path.ts.
 */
export class TransactionMisuseError extends Error {
  readonly code = 'NEO_TRANSACTION_MISUSE';
  constructor(message: string) {
    super(message);
    this.name = 'TransactionMisuseError';
  }
}

/** True when a transaction failed only because of a concurrent one and may be retried. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01' || sqlitePrimaryCode(err) === 'SQLITE_BUSY';
}

/** pg's message when a query got no answer within `query_timeout` (the client then discards the connection). */
export const PG_QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  // PostgreSQL: shutdown / cannot connect now / too many connections / connection failures.
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
  // PostgreSQL: idle_in_transaction_session_timeout ended the session.
  '25P03',
  // SQLite: the writer lock stayed taken (by another process) past the wait budget.
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
]);

/**
 * When `err` means the database cannot serve this request now, the answer to give
 * (always a 503 `unavailable`); undefined for any other error.
 */
export function databaseUnavailability(err: unknown): { message: string; retryAfter: number } | undefined {
  if (err instanceof CommitOutcomeUnknownError) {
    return {
      message: 'the outcome of this request is unknown: the database failed to commit it and the service restarts; check the state before retrying',
      retryAfter: 5,
    };
  }
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // PostgreSQL: lock_timeout (55P03) or statement_timeout (57014) hit. Another session
  // holds what this request needs; only this request fails.
  if (code === '55P03' || code === '57014') {
    return { message: 'the database did not grant a lock or finish the statement in time; try again', retryAfter: 2 };
  }
  const primary = sqlitePrimaryCode(err);
  if (UNAVAILABLE_CODES.has(code) || (primary !== undefined && (UNAVAILABLE_CODES.has(primary) || SQLITE_FATAL.has(primary)))) {
    return { message: 'the database is unreachable', retryAfter: 5 };
  }
  const msg = typeof e?.message === 'string' ? e.message : '';
  if (
    msg === PG_QUERY_TIMEOUT_MESSAGE ||
    /driver has already been destroyed|The database connection is not open|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(msg)
  ) {
    return { message: 'the database is unreachable', retryAfter: 5 };
  }
  return undefined;
}

/** True when `err` means the database cannot be reached (answered as 503, not 500). */
export function isDatabaseUnavailable(err: unknown): boolean {
  return databaseUnavailability(err) !== undefined;
}
