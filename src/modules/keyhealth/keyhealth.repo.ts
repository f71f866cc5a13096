/**
 * SQL of key health: the re-check schedule and its lease, health columns, the batched
 * `last_used_at` write, and events (audit row + outbox row, in the caller's
 * transaction). Keys are addressed by id here because the callers (the runtime's
 * reports, the scheduler) are system-side; every write that follows a report also
 * matches the stored credential_version, so a report about a replaced secret changes
 * nothing.
 *
 * Bound to one executor (the root database or a transaction) chosen by the service;
 * transactions open only in services. The methods that lock rows need a transaction.
 */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../../db/index.ts';
import type { Database, KeyStatus, OwnerType, ProviderKeyRow } from '../../db/schema.ts';
import { insertAudit } from '../../db/audit.ts';
import { outboxRow } from '../../db/outbox.ts';
import type { Owner } from '../auth/owner.ts';
import type { HealthColumns } from './keyhealth.rules.ts';

/** The columns the report path and the scheduler read (never the ciphertext). */
export interface KeyHealthRow {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  provider: string;
  key_hint: string;
  credential_version: number;
  status: KeyStatus;
  last_checked_at: string | null;
  check_requested_at: string | null;
  expires_at: string | null;
  expiry_notice: ProviderKeyRow['expiry_notice'];
}

export type HealthEventType = 'provider_key.status_changed' | 'provider_key.expiring' | 'provider_key.expired';

export interface HealthEvent {
  id: string;
  owner: Owner;
  /** The audit action; also the outbox event type, except `provider_key.expired` (see docs/key-health.md). */
  action: HealthEventType;
  provider: string;
  keyId: string;
  fromStatus: KeyStatus | null;
  toStatus: KeyStatus | null;
  outcome: string | null;
  createdAt: string;
  /** The outbox payload's `data` (never a secret). */
  data: Record<string, unknown>;
}

const HEALTH_COLUMNS = [
  'id',
  'owner_type',
  'owner_id',
  'provider',
  'key_hint',
  'credential_version',
  'status',
  'last_checked_at',
  'check_requested_at',
  'expires_at',
  'expiry_notice',
] as const;

/** Rowids per slice of the SQLite key count (a few milliseconds of the event loop each). */
const COUNT_SLICE_ROWS = 5_000;

export class KeyHealthRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    /** Rowids per slice of the SQLite key count (tests make it small). */
    private readonly countSliceRows = COUNT_SLICE_ROWS,
  ) {}

  private requireTransaction(what: string): void {
    if (!this.db.isTransaction) throw new Error(`${what} needs a transaction: open one in the service`);
  }

  /** The keys among `ids`, and those among `invalidIds` that are invalid (one read; unknown ids are simply absent). */
  async findKeys(ids: readonly string[], invalidIds: readonly string[] = []): Promise<KeyHealthRow[]> {
    if (ids.length === 0 && invalidIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('provider_keys')
      .select(HEALTH_COLUMNS)
      .where((eb) => {
        const any = ids.length > 0 ? [eb('id', 'in', ids)] : [];
        const invalid = invalidIds.length > 0 ? [eb.and([eb('id', 'in', invalidIds), eb('status', '=', 'invalid')])] : [];
        return eb.or([...any, ...invalid]);
      })
      .execute();
    return rows.map(normalize);
  }

  /** Makes these keys due for a re-check now (one write). */
  async requestChecks(ids: readonly string[], now: string): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.db.updateTable('provider_keys').set({ check_requested_at: now, next_check_at: now }).where('id', 'in', ids).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Every key of an owner, or of every owner, made due now (admin `keys recheck`). */
  async requestAll(owner: Owner | null, now: string): Promise<string[]> {
    let q = this.db.updateTable('provider_keys').set({ check_requested_at: now, next_check_at: now });
    if (owner) q = q.where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
    const rows = await q.returning('id').execute();
    return rows.map((r) => r.id);
  }

  /** Key counts by status, of one owner or of every owner (admin `keys recheck`). */
  async countStatuses(owner: Owner | null): Promise<Record<string, number>> {
    let q = this.db.selectFrom('provider_keys').select(['status', (eb) => eb.fn.countAll<string | number>().as('n')]).groupBy('status');
    if (owner) q = q.where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
    const statuses: Record<string, number> = {};
    for (const r of await q.execute()) statuses[r.status] = Number(r.n);
    return statuses;
  }

  /**
   * Claims up to `limit` due keys for this instance: next_check_at reached and no live
   * lease. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two instances claiming at once take
   * disjoint keys; SQLite: the single writer (BEGIN IMMEDIATE) serializes claims. The
   * lease expires on its own when the instance dies before applying a result.
   */
  async claimDue(now: string, leaseUntil: string, instance: string, limit: number): Promise<(KeyHealthRow & { ciphertext: string; location: string | null })[]> {
    this.requireTransaction('claimDue');
    let due = this.db
      .selectFrom('provider_keys')
      .select('id')
      .where('next_check_at', 'is not', null)
      .where('next_check_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .orderBy('next_check_at')
      .limit(limit);
    if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();
    const ids = (await due.execute()).map((r) => r.id);
    if (ids.length === 0) return [];
    const rows = await this.db
      .updateTable('provider_keys')
      .set({ lease_owner: instance, lease_until: leaseUntil })
      .where('id', 'in', ids)
      .returning([...HEALTH_COLUMNS, 'ciphertext', 'location'])
      .execute();
    return rows.map((r) => ({ ...normalize(r), ciphertext: r.ciphertext, location: r.location }));
  }

  /**
   * Claims one owner's key for a provider now, due or not ("Check now"): undefined when
   * the owner has no such key, 'busy' while another check holds its lease.
   */
  async claimOne(
    owner: Owner,
    provider: string,
    now: string,
    leaseUntil: string,
    instance: string,
  ): Promise<(KeyHealthRow & { ciphertext: string; location: string | null }) | 'busy' | undefined> {
    this.requireTransaction('claimOne');
    let q = this.db
      .selectFrom('provider_keys')
      .select(['id', 'lease_until'])
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .where('provider', '=', provider);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const cur = await q.executeTakeFirst();
    if (!cur) return undefined;
    if (cur.lease_until !== null && Date.parse(String(cur.lease_until)) > Date.parse(now)) return 'busy';
    const r = await this.db
      .updateTable('provider_keys')
      .set({ lease_owner: instance, lease_until: leaseUntil })
      .where('id', '=', cur.id)
      .returning([...HEALTH_COLUMNS, 'ciphertext', 'location'])
      .executeTakeFirstOrThrow();
    return { ...normalize(r), ciphertext: r.ciphertext, location: r.location };
  }

  /** The key's health state, locked for the rest of the transaction on PostgreSQL. */
  async lockKey(id: string): Promise<(KeyHealthRow & { first_rejected_at: string | null; rejection_count: number; lease_owner: string | null }) | undefined> {
    this.requireTransaction('lockKey');
    let q = this.db.selectFrom('provider_keys').select([...HEALTH_COLUMNS, 'first_rejected_at', 'rejection_count', 'lease_owner']).where('id', '=', id);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const r = await q.executeTakeFirst();
    return r ? { ...normalize(r), first_rejected_at: r.first_rejected_at, rejection_count: Number(r.rejection_count) } : undefined;
  }

  /** Writes health columns of one key version; false when the secret was replaced meanwhile. */
  async applyHealth(id: string, version: number, columns: HealthColumns): Promise<boolean> {
    const r = await this.db.updateTable('provider_keys').set(columns).where('id', '=', id).where('credential_version', '=', version).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Releases this instance's lease on a key and sets its next check time. */
  async release(id: string, instance: string, nextCheckAt: string): Promise<void> {
    await this.db
      .updateTable('provider_keys')
      .set({ lease_owner: null, lease_until: null, next_check_at: nextCheckAt })
      .where('id', '=', id)
      .where('lease_owner', '=', instance)
      .execute();
  }

  /** Keys with an expiry date on or before `until` whose reminders are not all written. */
  async expiryCandidates(until: string, limit: number): Promise<KeyHealthRow[]> {
    const rows = await this.db
      .selectFrom('provider_keys')
      .select(HEALTH_COLUMNS)
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', until)
      .where((eb) => eb.or([eb('expiry_notice', 'is', null), eb('expiry_notice', '!=', 'expired')]))
      .orderBy('expires_at')
      .limit(limit)
      .execute();
    return rows.map(normalize);
  }

  /**
   * Writes `last_used_at` of many keys in ONE statement (a CASE over the ids); a later
   * time never goes backwards.
   */
  async touchUsed(entries: readonly { id: string; at: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const cases = sql.join(entries.map((e) => sql`when ${e.id} then ${e.at}`), sql` `);
    await this.db
      .updateTable('provider_keys')
      .set({ last_used_at: sql<string>`case id ${cases} end` })
      .where(
        'id',
        'in',
        entries.map((e) => e.id),
      )
      .execute();
  }

  /** Key counts by provider and status (the metrics gauge; no owner). */
  async countByStatus(): Promise<{ provider: string; status: string; n: number }[]> {
    if (this.dialect === 'sqlite') return this.countByStatusInSlices();
    const rows = await this.db
      .selectFrom('provider_keys')
      .select(['provider', 'status', (eb) => eb.fn.countAll<string | number>().as('n')])
      .groupBy(['provider', 'status'])
      .execute();
    return rows.map((r) => ({ provider: r.provider, status: r.status, n: Number(r.n) }));
  }

  /**
   * SQLite: the same counts, a slice of `countSliceRows` rowids at a time with a turn of
   * the event loop between two slices. better-sqlite3 runs a query on the event loop, and
   * one GROUP BY over every key held it for the whole scan (found by the benchmark at
   * 1,000,000 owners: every /metrics scrape stalled every request, and the overload
   * protection then answered 503; figures in docs/benchmarks.md); a slice is short.
   */
  private async countByStatusInSlices(): Promise<{ provider: string; status: string; n: number }[]> {
    const last = await sql<{ m: number | null }>`select max(rowid) as m from provider_keys`.execute(this.db);
    const max = Number(last.rows[0]?.m ?? 0);
    const totals = new Map<string, { provider: string; status: string; n: number }>();
    for (let lo = 0; lo < max; lo += this.countSliceRows) {
      const slice = await sql<{ provider: string; status: string; n: number }>`
        select provider, status, count(*) as n from provider_keys
        where rowid > ${lo} and rowid <= ${lo + this.countSliceRows} group by provider, status`.execute(this.db);
      for (const r of slice.rows) {
        const k = `${r.provider} ${r.status}`;
        const t = totals.get(k);
        if (t) t.n += Number(r.n);
        else totals.set(k, { provider: r.provider, status: r.status, n: Number(r.n) });
      }
      if (lo + this.countSliceRows < max) await new Promise((r) => setImmediate(r));
    }
    return [...totals.values()];
  }

  /** One event: the audit row and the outbox row, in the service's transaction. */
  async insertEvent(e: HealthEvent): Promise<void> {
    this.requireTransaction('insertEvent');
    await insertAudit(this.db, {
      id: e.id,
      owner: e.owner,
      action: e.action,
      provider: e.provider,
      createdAt: e.createdAt,
      fromStatus: e.fromStatus,
      toStatus: e.toStatus,
      outcome: e.outcome,
      keyId: e.keyId,
    });
    const type = e.action === 'provider_key.expired' ? 'provider_key.status_changed' : e.action;
    await this.db
      .insertInto('outbox')
      .values(outboxRow(e.owner, { id: e.id, type, createdAt: e.createdAt, data: e.data }))
      .execute();
  }
}

function normalize<T extends { credential_version: number | string; status: string }>(r: T): T & { credential_version: number; status: KeyStatus } {
  return { ...r, credential_version: Number(r.credential_version), status: r.status as KeyStatus };
}
