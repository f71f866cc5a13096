/**
 * Transactions: `withTransaction`, the "in transaction" mark, after-commit callbacks and
 * SQLite's group commit.
 *
 * Rules this module enforces (both dialects):
 * - **No nesting.** `withTransaction` inside a transaction's callback throws a
 *   TransactionMisuseError (a programming error) instead of joining: a joined inner
 *   "transaction" could not keep the promise its caller reads into it (that its writes
 *   are committed when it returns), and on SQLite the nested call used to wait for the
 *   batch that was waiting for it, forever.
 * - **No root queries inside a transaction.** While a transaction's callback runs, its
 *   async context carries a mark (AsyncLocalStorage); the drivers refuse to hand out a
 *   connection in that context (`assertOutsideTransaction`), so a query on the root `db`
 *   instead of `trx` throws at once instead of waiting for the connection this very
 *   transaction holds. Work the callback started that outlives it (a late cache load) is
 *   not affected: the mark is cleared when the callback settles.
 * - **Commit hooks.** `afterCommit(fn)` inside a transaction's callback runs `fn` once
 *   the transaction has committed (never if it rolled back or its COMMIT failed), before
 *   `withTransaction` returns to its caller; `beforeCommit(fn)` runs `fn(trx)` inside the
 *   transaction after the callback, so it commits or rolls back with it (PostgreSQL's
 *   `pg_notify`). `currentTransaction()` gives the executor of the transaction in progress.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type ControlledTransaction, type Kysely, type Transaction } from 'kysely';
import { isRetryableConflict, TransactionMisuseError } from './errors.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;
type Trx = Transaction<Database>;

interface Scope {
  trx: Trx;
  /** True while the transaction's callback (and its beforeCommit hooks) runs. */
  open: boolean;
  beforeCommit: ((trx: Trx) => Promise<unknown>)[];
  afterCommit: (() => void)[];
}

const scopes = new AsyncLocalStorage<Scope>();
/**
 * Transaction callbacks running now. While an AsyncLocalStorage is enabled, Node 20 runs
 * async hooks on every promise of the process (a measurable share of every cached
 * request in the profiles of docs/benchmarks.md), so the storage is disabled whenever no
 * callback runs: outside a transaction `getStore()` then answers undefined, which is what
 * it means (no open scope), and the next `run` enables it again. Work a callback started
 * that outlives it sees its scope closed (`open` false) either way.
 */
let openScopes = 0;

/** Throws when the current async context is inside a transaction's callback (drivers call it before handing out a connection). */
export function assertOutsideTransaction(): void {
  if (scopes.getStore()?.open) {
    throw new TransactionMisuseError(
      'a query on the root database ran inside a transaction; it would wait for the connection this transaction holds. Use the transaction executor (trx) passed to withTransaction',
    );
  }
}

/** The executor of the transaction whose callback is running in this async context, if any. */
export function currentTransaction(): Trx | undefined {
  const s = scopes.getStore();
  return s?.open ? s.trx : undefined;
}

/**
 * Runs `fn` once the transaction of the calling code (withTransaction) has committed,
 * before withTransaction returns to its caller, or at once outside a transaction; never
 * when it rolls back or its COMMIT fails. For effects that must not be seen before the
 * data they describe is durable (caching, local cache invalidation). Hooks run in the
 * order registered; one that throws is ignored (the commit stands).
 */
export function afterCommit(fn: () => void): void {
  const s = scopes.getStore();
  if (s?.open) s.afterCommit.push(fn);
  else fn();
}

/**
 * Queues `fn(trx)` to run inside the calling code's transaction, after its callback and
 * before COMMIT, so that it commits or rolls back with it (PostgreSQL's `pg_notify`).
 * Returns false, running nothing, outside a transaction.
 */
export function beforeCommit(fn: (trx: Trx) => Promise<unknown>): boolean {
  const s = scopes.getStore();
  if (!s?.open) return false;
  s.beforeCommit.push(fn);
  return true;
}

async function runInScope<T>(trx: Trx, fn: (trx: Trx) => Promise<T>): Promise<{ value: T; scope: Scope }> {
  const scope: Scope = { trx, open: true, beforeCommit: [], afterCommit: [] };
  openScopes += 1;
  try {
    const value = await scopes.run(scope, async () => {
      const v = await fn(trx);
      for (const hook of scope.beforeCommit) await hook(trx);
      return v;
    });
    return { value, scope };
  } finally {
    scope.open = false;
    openScopes -= 1;
    if (openScopes === 0) scopes.disable();
  }
}

function runAfterCommit(scope: Scope): void {
  for (const callback of scope.afterCommit) {
    try {
      scopes.exit(callback);
    } catch {
      // The transaction is committed whatever a hook does (see afterCommit).
    }
  }
}

/**
 * Runs `fn` in a transaction and returns its result once the transaction committed,
 * retrying (bounded, with jitter) on serialization conflicts. On SQLite the transaction
 * joins a group commit (below). Throws TransactionMisuseError when called inside
 * another transaction's callback.
 */
export async function withTransaction<T>(db: Db, fn: (trx: Trx) => Promise<T>, attempts = 5): Promise<T> {
  if (scopes.getStore()?.open) {
    throw new TransactionMisuseError('withTransaction was called inside a transaction; nested transactions are not supported: pass the outer transaction (trx) down instead');
  }
  const group = groupCommits.get(db);
  for (let i = 1; ; i++) {
    try {
      const { value, scope } = group ? await group.run(fn) : await db.transaction().execute((trx) => runInScope(trx, fn));
      runAfterCommit(scope);
      return value;
    } catch (err) {
      if (i >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * i)));
    }
  }
}

/** Makes withTransaction on `db` use a group commit (SQLite: one writer connection). */
export function enableGroupCommit(db: Db): void {
  groupCommits.set(db, new GroupCommit(db));
}

/** Transactions per shared COMMIT at most. */
export const MAX_GROUP = 64;
/** The group committer of each SQLite database (withTransaction uses it when present). */
const groupCommits = new WeakMap<Db, GroupCommit>();

interface Job {
  fn: (trx: Trx) => Promise<unknown>;
  resolve: (v: { value: unknown; scope: Scope }) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for SQLite write transactions (withTransaction).
 *
 * With synchronous=FULL every COMMIT waits for an fsync (1–5 ms on common disks), and
 * better-sqlite3 waits synchronously, on the event loop: one fsync per write bounded
 * the write rate by the disk's fsync rate and stalled every other request meanwhile
 * (figures in docs/benchmarks.md). Here the transactions waiting for the writer connection run one
 * after the other inside ONE outer transaction, each in its own SAVEPOINT, and share
 * one COMMIT:
 * - **No caller is answered before the COMMIT its answer depends on has returned**,
 *   whether its callback succeeded or threw: a job's error can rest on earlier jobs'
 *   uncommitted writes (e.g. "no provider keys" because of a delete in the same batch),
 *   so a thrown error, too, is delivered only after the COMMIT succeeded. A job that
 *   threw is rolled back to its savepoint; the others are unaffected.
 * - If the COMMIT fails, every caller of the batch gets the COMMIT's error, the ones
 *   whose callback threw included (their error may rest on writes that are now gone).
 *   A storage failure at COMMIT arrives as CommitOutcomeUnknownError (503, and the
 *   process stops: src/db/sqlite-driver.ts); a busy database may be retried by
 *   withTransaction.
 * - Jobs run serially, in arrival order, each seeing the ones before it: the same serial
 *   order BEGIN IMMEDIATE gave (one writer at a time), so ByokRepo.lockOwner's guarantee holds.
 * - Reads outside a transaction use the read-only connection (sqlite-driver.ts): they
 *   never see a batch's uncommitted savepoints and never wait for a batch.
 * A batch is bounded (MAX_GROUP) so that one outer transaction stays short, and the
 * event loop gets a turn between two jobs.
 */
class GroupCommit {
  private readonly queue: Job[] = [];
  private running = false;

  constructor(private readonly db: Db) {}

  run(fn: (trx: Trx) => Promise<unknown>): Promise<{ value: never; scope: Scope }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as Job['resolve'], reject });
      if (!this.running) {
        // Start on the next turn of the event loop, after the I/O of this turn: every
        // request that arrived meanwhile joins the batch (else each would commit alone).
        // Outside the caller's async context: the batch belongs to no one request.
        this.running = true;
        scopes.exit(() => setImmediate(() => void this.drain()));
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

  private async batch(jobs: Job[]): Promise<void> {
    let trx: ControlledTransaction<Database>;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (err) {
      for (const j of jobs) j.reject(err);
      return;
    }
    type Outcome = { job: Job; ok: true; value: unknown; scope: Scope } | { job: Job; ok: false; error: unknown };
    const outcomes: Outcome[] = [];
    let batchError: { error: unknown } | undefined;
    for (const [k, job] of jobs.entries()) {
      if (k > 0) await new Promise((r) => setImmediate(r));
      try {
        await sql`savepoint neo_group_job`.execute(trx);
      } catch (error) {
        batchError = { error };
        break;
      }
      let outcome: Outcome;
      try {
        const { value, scope } = await runInScope(trx, job.fn);
        outcome = { job, ok: true, value, scope };
      } catch (error) {
        outcome = { job, ok: false, error };
      }
      try {
        if (!outcome.ok) await sql`rollback to savepoint neo_group_job`.execute(trx);
        await sql`release savepoint neo_group_job`.execute(trx);
      } catch (error) {
        // The whole transaction is gone (SQLite rolls back everything on some errors,
        // e.g. SQLITE_FULL): nothing of this batch can commit. The job's own error says
        // why better than "no such savepoint".
        batchError = { error: outcome.ok ? error : outcome.error };
        break;
      }
      outcomes.push(outcome);
    }
    if (!batchError) {
      try {
        await trx.commit().execute();
      } catch (error) {
        batchError = { error };
      }
    }
    if (batchError) {
      await trx.rollback().execute().catch(() => undefined);
      for (const j of jobs) j.reject(batchError.error);
      return;
    }
    for (const o of outcomes) {
      if (o.ok) o.job.resolve({ value: o.value, scope: o.scope });
      else o.job.reject(o.error);
    }
  }
}
