import type { Kysely } from 'kysely';

/**
 * An index on `provider_keys.expires_at` for the key-health scheduler's expiry scan
 * (KeyHealthRepo.expiryCandidates: keys whose expiry date is within 7 days), which runs
 * every round (30 s). Without it the scan read the whole table: in the 1,000,000-owner
 * benchmark, on SQLite synchronously on the event loop (every request stalled and the
 * overload protection answered 503), on PostgreSQL a sequential scan every 30 s
 * (figures in docs/benchmarks.md, issue 15). With it: a range search
 * of the keys that have an expiry date.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('provider_keys_expires_idx').on('provider_keys').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('provider_keys_expires_idx').execute();
}
