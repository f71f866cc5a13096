import { sql, type Kysely } from 'kysely';
import { checkName, type EnumCheck } from '../checks.ts';

/**
 * Webhooks (issue 17, docs/webhooks.md): the owner's endpoints and one delivery row per
 * (endpoint, event), written from the outbox by the delivery worker.
 *
 * Dialect-neutral (text and integer only). The enumerated columns carry their CHECK
 * constraints from the start (named `<table>_<column>_check` like src/db/checks.ts), so
 * no table rebuild is needed. The values are written out here, not imported: a landed
 * migration must mean the same thing forever.
 *
 * - `webhook_endpoints.secret_ciphertext` (and `previous_secret_ciphertext` during the
 *   24 h rotation overlap) are envelope ciphertexts under the owner's data key
 *   (src/crypto/README.md); the secret itself is never stored.
 * - `audit_events.webhook_id` names the endpoint of a `webhook.disabled` event.
 * - `webhook_deliveries` is unique on (endpoint_id, event_id): handing an outbox event
 *   to the endpoints twice (a dispatcher that died before marking it) creates no second
 *   delivery. Deliveries are leased (`lease_owner`, `lease_until`) while one instance
 *   sends them.
 */
export const CHECKS: readonly EnumCheck[] = [
  { table: 'webhook_endpoints', column: 'owner_type', values: ['user', 'team'] },
  { table: 'webhook_endpoints', column: 'enabled', values: [0, 1] },
  { table: 'webhook_endpoints', column: 'disabled_reason', values: ['gone', 'failing'] },
  { table: 'webhook_deliveries', column: 'owner_type', values: ['user', 'team'] },
  { table: 'webhook_deliveries', column: 'status', values: ['pending', 'delivered', 'failed'] },
];

/** `name, expression` of a table's CHECK constraints (constant values, never input). */
function checksOf(table: string): [string, ReturnType<typeof sql.raw>][] {
  return CHECKS.filter((c) => c.table === table).map((c) => [
    checkName(c),
    sql.raw(`"${c.column}" in (${c.values.map((v) => (typeof v === 'number' ? String(v) : `'${v}'`)).join(', ')})`),
  ]);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_type', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    /** JSON array of subscribed event types. */
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    /** Why the server disabled it (`gone`: the receiver answered 410; `failing`: 3 days of failures); null otherwise. */
    .addColumn('disabled_reason', 'text')
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('previous_secret_ciphertext', 'text')
    .addColumn('previous_secret_expires_at', 'text')
    /** First failed attempt of the current streak of failures; null after a success. */
    .addColumn('failing_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .$call((t) => checksOf('webhook_endpoints').reduce((acc, [name, expr]) => acc.addCheckConstraint(name, expr), t))
    .execute();
  // The endpoint a `webhook.disabled` audit event is about.
  await db.schema.alterTable('audit_events').addColumn('webhook_id', 'text').execute();
  await db.schema.createIndex('webhook_endpoints_owner_idx').on('webhook_endpoints').columns(['owner_type', 'owner_id', 'created_at']).execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('owner_type', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    /** The JSON body sent (the outbox payload; never a secret). */
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('last_attempt_at', 'text')
    .addColumn('last_status_code', 'integer')
    /** Why the last attempt failed before a status (refused address, timeout, …); short, never a secret. */
    .addColumn('last_error', 'text')
    /** A short, sanitized excerpt of the last answer. */
    .addColumn('last_response_excerpt', 'text')
    .addColumn('delivered_at', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('webhook_deliveries_endpoint_event_uq', ['endpoint_id', 'event_id'])
    .$call((t) => checksOf('webhook_deliveries').reduce((acc, [name, expr]) => acc.addCheckConstraint(name, expr), t))
    .execute();
  await db.schema.createIndex('webhook_deliveries_due_idx').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('webhook_deliveries_endpoint_idx').on('webhook_deliveries').columns(['endpoint_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_deliveries').ifExists().execute();
  await db.schema.dropTable('webhook_endpoints').ifExists().execute();
}
