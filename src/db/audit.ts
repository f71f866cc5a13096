/**
 * The audit trail: the one writer of an `audit_events` row, called by every module in the
 * transaction of the change it records (docs/byok.md §7). A row never holds a secret;
 * the columns a kind of event does not use stay null.
 */
import type { Kysely } from 'kysely';
import type { Database, ModelUseMode, Owner } from './schema.ts';

export interface AuditEntry {
  id: string;
  owner: Owner;
  action: string;
  createdAt: string;
  /** Who made the change; absent for a system change (key health, a disabled webhook). */
  actor?: { id: string; email: string; requestId: string | null } | null;
  provider?: string | null;
  fromMode?: ModelUseMode | null;
  toMode?: ModelUseMode | null;
  /** Key-health events. */
  fromStatus?: string | null;
  toStatus?: string | null;
  outcome?: string | null;
  keyId?: string | null;
  /** `webhook.*` events: the endpoint. */
  webhookId?: string | null;
  /** `webhook.updated`: the names of the fields it changed (never their values). */
  changedFields?: readonly string[] | null;
}

/** Writes the row; `trx` is the transaction of the change (a plain connection is refused). */
export async function insertAudit(trx: Kysely<Database>, e: AuditEntry): Promise<void> {
  if (!trx.isTransaction) throw new Error('insertAudit needs a transaction: open one in the service');
  await trx
    .insertInto('audit_events')
    .values({
      id: e.id,
      owner_type: e.owner.type,
      owner_id: e.owner.id,
      action: e.action,
      actor_id: e.actor?.id ?? null,
      actor_email: e.actor?.email ?? null,
      provider: e.provider ?? null,
      from_mode: e.fromMode ?? null,
      to_mode: e.toMode ?? null,
      request_id: e.actor?.requestId ?? null,
      created_at: e.createdAt,
      from_status: e.fromStatus ?? null,
      to_status: e.toStatus ?? null,
      outcome: e.outcome ?? null,
      key_id: e.keyId ?? null,
      webhook_id: e.webhookId ?? null,
      changed_fields: e.changedFields ? JSON.stringify(e.changedFields) : null,
    })
    .execute();
}
