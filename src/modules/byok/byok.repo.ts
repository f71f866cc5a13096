/**
 * SQL of the BYOK module. Every method takes the owner (or a lock on one) and filters by
 * it, so another owner's rows are unreachable from here.
 *
 * Like every repository, a ByokRepo is bound to one executor, the root database or a
 * transaction, chosen by its service (transactions open only in services). Reading is
 * open to any executor; writing is not: the write methods live on the `LockedOwner` that
 * only `lockOwner()` returns, so no write can skip the owner lock or address another
 * owner than the locked one.
 */
import { sql, type Kysely } from 'kysely';
import { forUpdate, type Dialect, type Trx } from '../../db/index.ts';
import type { AuditEventRow, Database, ModelUseMode, ProviderKeyRow } from '../../db/schema.ts';
import { insertAudit, type AuditEntry } from '../../db/audit.ts';
import { outboxRow, type EventInput } from '../../db/outbox.ts';
import { jsonStrings } from '../../lib/json.ts';
import type { HealthColumns } from '../keyhealth/keyhealth.rules.ts';
import type { ProviderName } from '../../providers/types.ts';
import type { Owner } from '../auth/owner.ts';
import type { WebhookAuditAction } from '../webhooks/webhooks.events.ts';

export type AuditAction =
  | 'provider_key.created'
  | 'provider_key.updated'
  | 'provider_key.deleted'
  | 'mode.changed'
  | 'mode.auto_switched'
  | 'provider_key.status_changed'
  | 'provider_key.expiring'
  | 'provider_key.expired'
  | WebhookAuditAction;

/** An audit row of the locked owner (src/db/audit.ts). */
export type AuditInput = Omit<AuditEntry, 'owner' | 'action'> & { action: AuditAction };

/** The columns written when a key is created or replaced. */
export interface KeyWrite {
  id: string;
  provider: ProviderName;
  displayName: string | null;
  location: string | null;
  keyHint: string;
  ciphertext: string;
  dataKeyId: string;
  isValidated: boolean;
  validatedAt: string | null;
  models: string[] | null;
  modelsDiscoveredAt: string | null;
  now: string;
  /** Key-health columns of the save (status from the check, next re-check, expiry). */
  health?: HealthColumns;
}

/** The stored mode and the key rows of one owner, read from one snapshot. */
export interface OwnerSnapshot {
  mode: ModelUseMode;
  keys: Pick<
    ProviderKeyRow,
    'id' | 'provider' | 'location' | 'ciphertext' | 'models' | 'updated_at' | 'status' | 'credential_version' | 'first_rejected_at' | 'last_checked_at'
  >[];
}

type Executor = Kysely<Database>;

const asMode = (m: string | null | undefined): ModelUseMode => (m === 'byok' ? 'byok' : 'neo');

export class ByokRepo {
  constructor(
    private readonly db: Executor,
    private readonly dialect: Dialect,
  ) {}

  /** The owner's keys, ordered by provider. */
  listKeys(owner: Owner): Promise<ProviderKeyRow[]> {
    return keysOf(this.db, owner).selectAll().orderBy('provider').execute();
  }

  getKey(owner: Owner, provider: ProviderName): Promise<ProviderKeyRow | undefined> {
    return keysOf(this.db, owner).selectAll().where('provider', '=', provider).executeTakeFirst();
  }

  /**
   * Mode and keys in ONE statement, so both come from one snapshot on every dialect (two
   * statements on two pool connections can straddle a commit and show `byok` with no
   * key, a state the write path never commits). A one-row derived table keeps the mode
   * when the owner has no key, and `neo` when it has no settings row.
   */
  async snapshot(owner: Owner): Promise<OwnerSnapshot> {
    const rows = await this.db
      .selectFrom(sql<{ one: number }>`(select 1 as one)`.as('o'))
      .leftJoin('byok_settings as s', (j) => j.on('s.owner_type', '=', owner.type).on('s.owner_id', '=', owner.id))
      .leftJoin('provider_keys as k', (j) => j.on('k.owner_type', '=', owner.type).on('k.owner_id', '=', owner.id))
      .select(['s.mode', 'k.id', 'k.provider', 'k.location', 'k.ciphertext', 'k.models', 'k.updated_at', 'k.status', 'k.credential_version', 'k.first_rejected_at', 'k.last_checked_at'])
      .orderBy('k.provider')
      .execute();
    const keys: OwnerSnapshot['keys'] = [];
    for (const r of rows) {
      if (r.id === null || r.provider === null || r.ciphertext === null || r.updated_at === null) continue;
      keys.push({
        id: r.id,
        provider: r.provider,
        location: r.location,
        ciphertext: r.ciphertext,
        models: r.models,
        updated_at: r.updated_at,
        status: r.status ?? 'unverified',
        credential_version: Number(r.credential_version ?? 1),
        first_rejected_at: r.first_rejected_at,
        last_checked_at: r.last_checked_at,
      });
    }
    return { mode: asMode(rows[0]?.mode), keys };
  }

  /** Mode and key count in one statement (one snapshot). */
  async modeAndCount(owner: Owner): Promise<{ mode: ModelUseMode; keys: number }> {
    const row = await this.db
      .selectNoFrom((eb) => [
        eb.selectFrom('byok_settings').select('mode').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id).as('mode'),
        keysOf(eb, owner).select((e) => e.fn.countAll<string | number>().as('n')).as('n'),
      ])
      .executeTakeFirstOrThrow();
    return { mode: asMode(row.mode), keys: Number(row.n ?? 0) };
  }

  /** The owner's audit trail, newest first, and its length. */
  async listAudit(owner: Owner, limit: number, offset: number): Promise<{ rows: AuditEventRow[]; total: number }> {
    const audit = () => this.db.selectFrom('audit_events').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
    const [rows, count] = await Promise.all([
      audit().selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      audit()
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.n) };
  }

  /**
   * Locks the owner's BYOK settings row for the rest of the transaction (creating it
   * first if missing) and returns the only handle that can write the owner's keys, mode
   * and audit trail. Every write that can change "mode = byok ⇒ at least one key" goes
   * through it, so such writes on one owner are serialized on every dialect: PostgreSQL
   * by `SELECT … FOR UPDATE`, SQLite by its single writer (BEGIN IMMEDIATE).
   */
  async lockOwner(owner: Owner, now: string): Promise<LockedOwner> {
    if (!this.db.isTransaction) throw new Error('lockOwner needs a transaction: open one in the service');
    const trx = this.db as Trx;
    const settings = () => trx.selectFrom('byok_settings').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
    // SQLite: whether the owner has an enabled webhook endpoint comes with the lock, in the
    // same statement (the single writer serializes this transaction with every endpoint
    // write). PostgreSQL asks later, in a statement of its own: a FOR UPDATE that waited
    // for an endpoint write would not see that write in a subquery of the same statement.
    const lock = (): Promise<{ mode: string; webhooks?: number | boolean } | undefined> =>
      this.dialect === 'postgres'
        ? forUpdate(settings().select('mode'), this.dialect).executeTakeFirst()
        : settings()
            .select((eb) => [
              'mode',
              eb
                .exists(
                  eb
                    .selectFrom('webhook_endpoints')
                    .select('id')
                    .where('owner_type', '=', owner.type)
                    .where('owner_id', '=', owner.id)
                    .where('enabled', '=', 1),
                )
                .as('webhooks'),
            ])
            .executeTakeFirst();
    // The row exists for every owner that ever wrote: one statement then. Otherwise it is
    // created (a concurrent creator wins harmlessly) and locked by a second read, which on
    // PostgreSQL (READ COMMITTED, a new snapshot per statement) sees the committed row.
    let row = await lock();
    if (!row) {
      await trx
        .insertInto('byok_settings')
        .values({ owner_type: owner.type, owner_id: owner.id, mode: 'neo', updated_at: now })
        .onConflict((oc) => oc.columns(['owner_type', 'owner_id']).doNothing())
        .execute();
      row = await lock();
    }
    if (!row) throw new Error('the owner settings row vanished inside its transaction');
    return new LockedOwner(trx, { type: owner.type, id: owner.id }, asMode(row.mode), row.webhooks === undefined ? undefined : Boolean(row.webhooks));
  }
}

/**
 * An owner whose settings row this transaction has locked, and the writes allowed under
 * that lock. Not exported as a value: only `ByokRepo.lockOwner` makes one, and the
 * private field makes the type nominal (an object literal is not a LockedOwner).
 */
class LockedOwner {
  readonly #trx: Trx;
  #webhooks: Promise<boolean> | undefined;

  constructor(
    trx: Trx,
    readonly owner: Owner,
    /** The stored mode when the lock was taken. */
    readonly mode: ModelUseMode,
    /** Whether the owner has an enabled webhook endpoint, when the lock's statement said so (SQLite). */
    webhooks?: boolean,
  ) {
    this.#trx = trx;
    if (webhooks !== undefined) this.#webhooks = Promise.resolve(webhooks);
  }

  getKey(provider: ProviderName): Promise<ProviderKeyRow | undefined> {
    return keysOf(this.#trx, this.owner).selectAll().where('provider', '=', provider).executeTakeFirst();
  }

  async countKeys(): Promise<number> {
    const row = await keysOf(this.#trx, this.owner)
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async setMode(mode: ModelUseMode, now: string): Promise<void> {
    await this.#trx
      .updateTable('byok_settings')
      .set({ mode, updated_at: now })
      .where('owner_type', '=', this.owner.type)
      .where('owner_id', '=', this.owner.id)
      .execute();
  }

  /** Creates the key; answers the row as stored (RETURNING: no second read of it). */
  insertKey(k: KeyWrite): Promise<ProviderKeyRow> {
    return this.#trx
      .insertInto('provider_keys')
      .values({ id: k.id, owner_type: this.owner.type, owner_id: this.owner.id, provider: k.provider, ...secretColumns(k), created_at: k.now })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * Replaces the secret and its metadata; keeps id and created_at; a new
   * credential_version. Answers the row as stored (RETURNING), undefined when the owner
   * has no key for the provider.
   */
  updateKey(k: KeyWrite): Promise<ProviderKeyRow | undefined> {
    return this.#trx
      .updateTable('provider_keys')
      .set((eb) => ({ ...secretColumns(k), credential_version: eb('credential_version', '+', 1) }))
      .where('owner_type', '=', this.owner.type)
      .where('owner_id', '=', this.owner.id)
      .where('provider', '=', k.provider)
      .returningAll()
      .executeTakeFirst();
  }

  /** Deletes the owner's key for a provider; false when there was none. */
  async deleteKey(provider: ProviderName): Promise<boolean> {
    const r = await this.#trx
      .deleteFrom('provider_keys')
      .where('owner_type', '=', this.owner.type)
      .where('owner_id', '=', this.owner.id)
      .where('provider', '=', provider)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * An event for webhooks, written with the change (docs/webhooks.md); `data` is never a
   * secret. Written only when the owner has an enabled webhook endpoint: an event no
   * endpoint can receive would cost every write an outbox row (with its three indexes,
   * its share of the commit's fsync, and the delivery worker's dispatch of it) for
   * nothing, and most owners have no endpoint (docs/benchmarks.md, "The write path").
   * Exact, not cached: read in this transaction with or after the owner lock, which every
   * endpoint write also takes (ByokService.runLocked), so an endpoint created or enabled
   * before this change committed is seen, on every instance and dialect. Answers
   * whether the row was written.
   */
  async insertOutbox(e: EventInput): Promise<boolean> {
    if (!(await this.hasWebhookEndpoint())) return false;
    await this.#trx.insertInto('outbox').values(outboxRow(this.owner, e)).execute();
    return true;
  }

  /** Whether the owner has an enabled webhook endpoint (known from the lock on SQLite; else read once per transaction, under the lock). */
  private hasWebhookEndpoint(): Promise<boolean> {
    this.#webhooks ??= this.#trx
      .selectFrom('webhook_endpoints')
      .select('id')
      .where('owner_type', '=', this.owner.type)
      .where('owner_id', '=', this.owner.id)
      .where('enabled', '=', 1)
      .limit(1)
      .executeTakeFirst()
      .then((r) => r !== undefined);
    return this.#webhooks;
  }

  async insertAudit(e: AuditInput): Promise<void> {
    await insertAudit(this.#trx, { ...e, owner: this.owner });
  }
}

export type { LockedOwner };

/** The owner's provider_keys rows, as a query to finish. */
function keysOf(db: Pick<Executor, 'selectFrom'>, owner: Owner) {
  return db.selectFrom('provider_keys').where('owner_type', '=', owner.type).where('owner_id', '=', owner.id);
}

/** The columns a save writes on insert and on replace alike (id and created_at aside). */
function secretColumns(k: KeyWrite) {
  return {
    display_name: k.displayName,
    location: k.location,
    key_hint: k.keyHint,
    ciphertext: k.ciphertext,
    data_key_id: k.dataKeyId,
    is_validated: k.isValidated ? 1 : 0,
    validated_at: k.validatedAt,
    models: k.models ? JSON.stringify(k.models) : null,
    models_discovered_at: k.modelsDiscoveredAt,
    updated_at: k.now,
    ...k.health,
  };
}

/** The model ids of a stored `provider_keys.models` column (a JSON array written above); null when absent or unreadable. */
export function storedModels(raw: string | null): string[] | null {
  return raw === null ? null : (jsonStrings(raw) ?? null);
}
