import { sql, type ColumnDefinitionBuilderCallback, type Kysely } from 'kysely';

/**
 * Key health (issue 16, docs/key-health.md): a status per stored key, its check and use
 * times, an owner-set expiry, a version that changes whenever the secret is replaced,
 * the rejection streak behind the hysteresis, the re-check schedule with its lease, the
 * status columns of the audit trail, and the outbox that events are written to in the
 * transaction of the change (delivered later by webhooks, issue 17).
 *
 * Dialect-neutral (text and integer only). Existing keys are backfilled from
 * `is_validated` (validated → `active`, else `unverified`) and get a first re-check time
 * spread evenly over the default 24 h interval, so an upgrade does not check every key
 * at once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const add = (name: string, type: 'text' | 'integer', build: ColumnDefinitionBuilderCallback = (c) => c) =>
    db.schema.alterTable('provider_keys').addColumn(name, type, build).execute();
  await add('status', 'text', (c) => c.notNull().defaultTo('unverified'));
  await add('last_checked_at', 'text');
  await add('last_check_outcome', 'text');
  await add('last_check_message', 'text');
  await add('last_used_at', 'text');
  await add('expires_at', 'text');
  /** Which reminder of expires_at was written last: null, '7d', '1d' or 'expired'. */
  await add('expiry_notice', 'text');
  await add('credential_version', 'integer', (c) => c.notNull().defaultTo(1));
  /** The rejection streak: first rejection time and how many consecutive rejections. */
  await add('first_rejected_at', 'text');
  await add('rejection_count', 'integer', (c) => c.notNull().defaultTo(0));
  /** When a runtime report last asked for a re-check (deduplication, at most one a minute). */
  await add('check_requested_at', 'text');
  await add('next_check_at', 'text');
  await add('lease_owner', 'text');
  await add('lease_until', 'text');

  await sql`update provider_keys set status = case when is_validated = 1 then 'active' else 'unverified' end, last_checked_at = validated_at`.execute(db);
  const rows = await sql<{ id: string }>`select id from provider_keys order by id`.execute(db);
  const start = Date.now();
  const day = 24 * 3600 * 1000;
  const n = rows.rows.length;
  for (const [i, r] of rows.rows.entries()) {
    const at = new Date(start + Math.floor((day * (i + 0.5)) / Math.max(n, 1))).toISOString();
    await sql`update provider_keys set next_check_at = ${at} where id = ${r.id}`.execute(db);
  }
  await db.schema.createIndex('provider_keys_next_check_idx').on('provider_keys').columns(['next_check_at']).execute();

  for (const col of ['from_status', 'to_status', 'outcome', 'key_id']) {
    await db.schema.alterTable('audit_events').addColumn(col, 'text').execute();
  }

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_type', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    /** JSON of the event's data; never a secret. */
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    /** Set once the event has been handed to every delivery (webhooks); null while pending. */
    .addColumn('dispatched_at', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .execute();
  await db.schema.createIndex('outbox_pending_idx').on('outbox').columns(['dispatched_at', 'created_at']).execute();
  await db.schema.createIndex('outbox_owner_idx').on('outbox').columns(['owner_type', 'owner_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('outbox').ifExists().execute();
}
