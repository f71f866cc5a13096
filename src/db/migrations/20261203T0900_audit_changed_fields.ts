import type { Kysely } from 'kysely';

/**
 * `audit_events.changed_fields`: the names of the fields a `webhook.updated` event changed,
 * as a JSON array (`["events","enabled"]`); null for every other event. Names only, never
 * values: a URL can carry a token in its path or query (docs/webhooks.md, "Audit").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('changed_fields', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_events').dropColumn('changed_fields').execute();
}
