/**
 * SQL of webhooks (docs/webhooks.md): the owner's endpoints, their deliveries, and the
 * delivery worker's claims on the outbox and on due deliveries.
 *
 * Bound to one executor (the root database or a transaction) chosen by the service;
 * transactions open only in services. Methods addressing an endpoint take its owner and
 * filter by it, so another owner's endpoint answers like a missing one. The worker's
 * methods (claims, attempt results) are system-side and address rows by id; the ones that
 * lock rows need a transaction.
 */
import type { Kysely } from 'kysely';
import { insertAudit, type AuditEntry } from '../../db/audit.ts';
import type { Dialect } from '../../db/index.ts';
import type { Database, DeliveryStatus, OutboxRow, WebhookDeliveryRow, WebhookEndpointRow } from '../../db/schema.ts';
import type { Owner } from '../auth/owner.ts';
import type { WebhookAuditAction } from './webhooks.events.ts';

export type EndpointUpdate = Partial<
  Pick<
    WebhookEndpointRow,
    'url' | 'description' | 'events' | 'enabled' | 'disabled_reason' | 'secret_ciphertext' | 'previous_secret_ciphertext' | 'previous_secret_expires_at' | 'failing_since'
  >
> & { updated_at: string };

export interface NewDelivery {
  id: string;
  endpoint_id: string;
  owner_type: Owner['type'];
  owner_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  next_attempt_at: string;
  created_at: string;
}

/** A claimed delivery with what sending it needs from its endpoint. */
export interface ClaimedDelivery extends WebhookDeliveryRow {
  url: string;
  enabled: number;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: string | null;
}

/** The columns an attempt writes on its delivery. */
export interface AttemptResult {
  status: DeliveryStatus;
  next_attempt_at: string | null;
  last_attempt_at: string;
  last_status_code: number | null;
  last_error: string | null;
  last_response_excerpt: string | null;
  delivered_at: string | null;
}

export class WebhooksRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  private requireTransaction(what: string): void {
    if (!this.db.isTransaction) throw new Error(`${what} needs a transaction: open one in the service`);
  }

  private endpoints(owner: Owner) {
    return this.db.selectFrom('webhook_endpoints').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
  }

  /** The owner's endpoints, oldest first. */
  list(owner: Owner): Promise<WebhookEndpointRow[]> {
    return this.endpoints(owner).selectAll().orderBy('created_at').orderBy('id').execute();
  }

  get(owner: Owner, id: string): Promise<WebhookEndpointRow | undefined> {
    return this.endpoints(owner).selectAll().where('id', '=', id).executeTakeFirst();
  }

  async count(owner: Owner): Promise<number> {
    const r = await this.endpoints(owner)
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insert(row: WebhookEndpointRow): Promise<void> {
    await this.db.insertInto('webhook_endpoints').values(row).execute();
  }

  /** Updates one of the owner's endpoints; the row after the update, undefined when there is none. */
  async update(owner: Owner, id: string, set: EndpointUpdate): Promise<WebhookEndpointRow | undefined> {
    await this.db.updateTable('webhook_endpoints').set(set).where('owner_type', '=', owner.type).where('owner_id', '=', owner.id).where('id', '=', id).execute();
    return this.get(owner, id);
  }

  /** Deletes one of the owner's endpoints (its deliveries go with it); false when there was none. */
  async delete(owner: Owner, id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('webhook_endpoints').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** An endpoint's deliveries, newest first, and how many there are. */
  async listDeliveries(owner: Owner, endpointId: string, limit: number, offset: number): Promise<{ rows: WebhookDeliveryRow[]; total: number }> {
    const q = () =>
      this.db.selectFrom('webhook_deliveries').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id).where('endpoint_id', '=', endpointId);
    const [rows, count] = await Promise.all([
      q().selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      q()
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .executeTakeFirstOrThrow(),
    ]);
    return { rows: rows.map(normalizeDelivery), total: Number(count.n) };
  }

  getDelivery(id: string): Promise<WebhookDeliveryRow | undefined> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
      .then((r) => (r ? normalizeDelivery(r) : undefined));
  }

  /** Inserts deliveries; one that exists for the same (endpoint, event) is left as it is. */
  async insertDeliveries(rows: readonly NewDelivery[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(rows.map((r) => ({ ...r, status: 'pending' as const, last_attempt_at: null, last_status_code: null, last_error: null, last_response_excerpt: null, delivered_at: null, lease_owner: null, lease_until: null })))
      .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
      .execute();
  }

  /**
   * Up to `limit` outbox events not yet handed to the endpoints, oldest first, locked for
   * this transaction: PostgreSQL `FOR UPDATE SKIP LOCKED` (two dispatchers take disjoint
   * events); SQLite's single writer serializes dispatchers.
   */
  async claimOutbox(limit: number): Promise<OutboxRow[]> {
    this.requireTransaction('claimOutbox');
    let q = this.db.selectFrom('outbox').selectAll().where('dispatched_at', 'is', null).orderBy('created_at').orderBy('id').limit(limit);
    if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
    return (await q.execute()).map((r) => ({ ...r, attempts: Number(r.attempts) }));
  }

  /** Whether any outbox event waits for dispatch (a read: no write transaction when idle). */
  async hasUndispatched(): Promise<boolean> {
    return (await this.db.selectFrom('outbox').select('id').where('dispatched_at', 'is', null).limit(1).executeTakeFirst()) !== undefined;
  }

  /** Whether any delivery is due at `now` (a read: no write transaction when idle). */
  async hasDue(now: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  }

  async markDispatched(ids: readonly string[], now: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('outbox').set({ dispatched_at: now }).where('id', 'in', ids).execute();
  }

  /** The enabled endpoints of these owners. */
  async enabledEndpointsOf(owners: readonly Owner[]): Promise<Pick<WebhookEndpointRow, 'id' | 'owner_type' | 'owner_id' | 'events'>[]> {
    if (owners.length === 0) return [];
    return this.db
      .selectFrom('webhook_endpoints')
      .select(['id', 'owner_type', 'owner_id', 'events'])
      .where('enabled', '=', 1)
      .where((eb) => eb.or(owners.map((o) => eb.and([eb('owner_type', '=', o.type), eb('owner_id', '=', o.id)]))))
      .execute();
  }

  /**
   * Claims up to `limit` due deliveries for this instance (pending, next_attempt_at
   * reached, no live lease): PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's single writer.
   * The lease expires on its own when the instance dies during the attempt, so the
   * delivery is attempted again (at least once).
   */
  async claimDue(now: string, leaseUntil: string, instance: string, limit: number): Promise<ClaimedDelivery[]> {
    this.requireTransaction('claimDue');
    let due = this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .orderBy('next_attempt_at')
      .limit(limit);
    if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();
    const ids = (await due.execute()).map((r) => r.id);
    if (ids.length === 0) return [];
    await this.db.updateTable('webhook_deliveries').set({ lease_owner: instance, lease_until: leaseUntil }).where('id', 'in', ids).execute();
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .selectAll('d')
      .select(['e.url', 'e.enabled', 'e.secret_ciphertext', 'e.previous_secret_ciphertext', 'e.previous_secret_expires_at'])
      .where('d.id', 'in', ids)
      .orderBy('d.next_attempt_at')
      .execute();
    return rows.map((r) => ({ ...normalizeDelivery(r), url: r.url, enabled: Number(r.enabled), secret_ciphertext: r.secret_ciphertext, previous_secret_ciphertext: r.previous_secret_ciphertext, previous_secret_expires_at: r.previous_secret_expires_at }));
  }

  /**
   * Writes an attempt's result on a delivery this instance still holds (its lease), and
   * releases the lease; false when the lease was lost (expired and taken by another
   * instance), in which case nothing is written.
   */
  async finishAttempt(id: string, instance: string, result: AttemptResult): Promise<boolean> {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({ ...result, attempts: eb('attempts', '+', 1), lease_owner: null, lease_until: null }))
      .where('id', '=', id)
      .where('lease_owner', '=', instance)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Releases a lease without counting an attempt (the attempt did not happen). */
  async releaseLease(id: string, instance: string): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set({ lease_owner: null, lease_until: null }).where('id', '=', id).where('lease_owner', '=', instance).execute();
  }

  /** The endpoint by id (system side), locked for the transaction on PostgreSQL. */
  async lockEndpoint(id: string): Promise<WebhookEndpointRow | undefined> {
    this.requireTransaction('lockEndpoint');
    let q = this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
    if (this.dialect === 'postgres') q = q.forUpdate();
    return q.executeTakeFirst();
  }

  /** Updates an endpoint by id (system side: the worker). */
  async updateById(id: string, set: EndpointUpdate): Promise<void> {
    await this.db.updateTable('webhook_endpoints').set(set).where('id', '=', id).execute();
  }

  /** Marks every pending delivery of an endpoint failed (it was disabled); answers how many. */
  async failPending(endpointId: string, reason: string, now: string): Promise<number> {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', next_attempt_at: null, last_error: reason, lease_owner: null, lease_until: null })
      .where('endpoint_id', '=', endpointId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Deletes dispatched events older than `eventsBefore` and finished deliveries older than `deliveriesBefore`. */
  async prune(eventsBefore: string, deliveriesBefore: string): Promise<{ events: number; deliveries: number }> {
    const e = await this.db.deleteFrom('outbox').where('dispatched_at', 'is not', null).where('dispatched_at', '<', eventsBefore).executeTakeFirst();
    const d = await this.db.deleteFrom('webhook_deliveries').where('status', '!=', 'pending').where('created_at', '<', deliveriesBefore).executeTakeFirst();
    return { events: Number(e.numDeletedRows), deliveries: Number(d.numDeletedRows) };
  }

  /** Pending deliveries and undispatched events, and the creation time of the oldest of them (metrics). */
  async queueState(): Promise<{ depth: number; oldest: string | null }> {
    const row = await this.db
      .selectNoFrom((eb) => [
        eb.selectFrom('webhook_deliveries').select((e) => e.fn.countAll<string | number>().as('n')).where('status', '=', 'pending').as('deliveries'),
        eb.selectFrom('webhook_deliveries').select((e) => e.fn.min('created_at').as('m')).where('status', '=', 'pending').as('oldest_delivery'),
        eb.selectFrom('outbox').select((e) => e.fn.countAll<string | number>().as('n')).where('dispatched_at', 'is', null).as('events'),
        eb.selectFrom('outbox').select((e) => e.fn.min('created_at').as('m')).where('dispatched_at', 'is', null).as('oldest_event'),
      ])
      .executeTakeFirstOrThrow();
    const times = [row.oldest_delivery, row.oldest_event].filter((t): t is string => typeof t === 'string').sort();
    return { depth: Number(row.deliveries ?? 0) + Number(row.events ?? 0), oldest: times[0] ?? null };
  }

  /** An audit row of a change to an endpoint (src/db/audit.ts), in the caller's transaction. */
  async insertAudit(e: Omit<AuditEntry, 'action' | 'webhookId'> & { action: WebhookAuditAction; webhookId: string }): Promise<void> {
    await insertAudit(this.db, e);
  }
}

function normalizeDelivery<T extends WebhookDeliveryRow>(r: T): T {
  return { ...r, attempts: Number(r.attempts), last_status_code: r.last_status_code === null ? null : Number(r.last_status_code) };
}

