/**
 * SQL of the BYOK module. Every method takes the owner and filters by it, so another
 * owner's rows are unreachable from here. Writes take the caller's transaction (which
 * holds the owner lock, see lockOwner in src/db/index.ts).
 */
import type { Db, Trx } from '../../db/index.ts';
import type { AuditEventRow, ModelUseMode, ProviderKeyRow } from '../../db/schema.ts';
import type { ProviderName } from '../../providers/types.ts';
import type { Owner } from '../auth/owner.ts';

export type AuditAction = 'provider_key.created' | 'provider_key.updated' | 'provider_key.deleted' | 'mode.changed' | 'mode.auto_switched';

export interface AuditInput {
  id: string;
  action: AuditAction;
  actorId: string | null;
  actorEmail: string | null;
  provider: ProviderName | null;
  fromMode: ModelUseMode | null;
  toMode: ModelUseMode | null;
  requestId: string | null;
  createdAt: string;
}

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
}

export class ByokRepo {
  constructor(private readonly db: Db) {}

  /** The owner's keys, ordered by provider. */
  listKeys(owner: Owner, trx: Db | Trx = this.db): Promise<ProviderKeyRow[]> {
    return trx
      .selectFrom('provider_keys')
      .selectAll()
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .orderBy('provider')
      .execute();
  }

  getKey(owner: Owner, provider: ProviderName, trx: Db | Trx = this.db): Promise<ProviderKeyRow | undefined> {
    return trx
      .selectFrom('provider_keys')
      .selectAll()
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .where('provider', '=', provider)
      .executeTakeFirst();
  }

  async countKeys(owner: Owner, trx: Db | Trx = this.db): Promise<number> {
    const row = await trx
      .selectFrom('provider_keys')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The stored mode; `neo` when the owner has no settings row. */
  async getMode(owner: Owner, trx: Db | Trx = this.db): Promise<ModelUseMode> {
    const row = await trx
      .selectFrom('byok_settings')
      .select('mode')
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .executeTakeFirst();
    return row?.mode === 'byok' ? 'byok' : 'neo';
  }

  /** Mode and key count in one round trip per table (GET /byok/mode, the resolver). */
  async getModeAndCount(owner: Owner): Promise<{ mode: ModelUseMode; keys: number }> {
    const [mode, keys] = await Promise.all([this.getMode(owner), this.countKeys(owner)]);
    return { mode, keys };
  }

  async setMode(trx: Trx, owner: Owner, mode: ModelUseMode, now: string): Promise<void> {
    await trx
      .updateTable('byok_settings')
      .set({ mode, updated_at: now })
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .execute();
  }

  async insertKey(trx: Trx, owner: Owner, k: KeyWrite): Promise<void> {
    await trx
      .insertInto('provider_keys')
      .values({
        id: k.id,
        owner_type: owner.type,
        owner_id: owner.id,
        provider: k.provider,
        ...secretColumns(k),
        created_at: k.now,
      })
      .execute();
  }

  /** Replaces the secret and its metadata; keeps id and created_at. */
  async updateKey(trx: Trx, owner: Owner, k: KeyWrite): Promise<void> {
    await trx
      .updateTable('provider_keys')
      .set(secretColumns(k))
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .where('provider', '=', k.provider)
      .execute();
  }

  /** Deletes the owner's key for a provider; false when there was none. */
  async deleteKey(trx: Trx, owner: Owner, provider: ProviderName): Promise<boolean> {
    const r = await trx
      .deleteFrom('provider_keys')
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .where('provider', '=', provider)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async insertAudit(trx: Trx, owner: Owner, e: AuditInput): Promise<void> {
    await trx
      .insertInto('audit_events')
      .values({
        id: e.id,
        owner_type: owner.type,
        owner_id: owner.id,
        action: e.action,
        actor_id: e.actorId,
        actor_email: e.actorEmail,
        provider: e.provider,
        from_mode: e.fromMode,
        to_mode: e.toMode,
        request_id: e.requestId,
        created_at: e.createdAt,
      })
      .execute();
  }

  /** The owner's audit trail, newest first. */
  async listAudit(owner: Owner, limit: number, offset: number): Promise<{ rows: AuditEventRow[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('owner_type', '=', owner.type)
        .where('owner_id', '=', owner.id)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .offset(offset)
        .execute(),
      this.db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('owner_type', '=', owner.type)
        .where('owner_id', '=', owner.id)
        .executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.n) };
  }
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
  };
}
