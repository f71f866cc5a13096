import type { Kysely } from 'kysely';
import { addEnumChecks, type EnumCheck } from '../checks.ts';

/**
 * CHECK constraints on the enumerated columns (issue 12 item 15), so that a row the code
 * cannot have written (a bad `admin import`, a manual UPDATE) is refused by the database
 * instead of being read back as something else (an unknown mode read as `neo`, an
 * unknown role as a non-admin).
 *
 * The values are written out here, not imported from schema.ts: a landed migration must
 * mean the same thing forever. Adding a value later takes a new migration.
 *
 * Left open on purpose: `audit_events.action` and the key-health status/outcome columns
 * of the audit trail (lists that grow with features; the code writes them from closed
 * unions), `features.name` (unknown flags are ignored by the code).
 *
 * On SQLite the constrained tables and their children are rebuilt (src/db/checks.ts);
 * existing rows that break a constraint make the migration fail, naming them.
 */
const OWNER_TYPES = ['user', 'team'];
const MODES = ['neo', 'byok'];
const BOOLEAN = [0, 1];
const PROVIDERS = ['openrouter', 'anthropic', 'openai', 'google', 'xai', 'vercel-gateway', 'google-vertex', 'amazon-bedrock', 'azure-foundry'];
const KEY_STATUSES = ['active', 'unverified', 'invalid', 'restricted', 'billing', 'unreadable'];

export const CHECKS: readonly EnumCheck[] = [
  { table: 'users', column: 'role', values: ['user', 'admin'] },
  { table: 'team_members', column: 'role', values: ['admin', 'member', 'viewer'] },
  { table: 'team_members', column: 'status', values: ['pending', 'active'] },
  { table: 'features', column: 'owner_type', values: OWNER_TYPES },
  { table: 'features', column: 'enabled', values: BOOLEAN },
  { table: 'byok_settings', column: 'owner_type', values: OWNER_TYPES },
  { table: 'byok_settings', column: 'mode', values: MODES },
  { table: 'data_keys', column: 'owner_type', values: OWNER_TYPES },
  { table: 'provider_keys', column: 'owner_type', values: OWNER_TYPES },
  { table: 'provider_keys', column: 'provider', values: PROVIDERS },
  { table: 'provider_keys', column: 'is_validated', values: BOOLEAN },
  { table: 'provider_keys', column: 'status', values: KEY_STATUSES },
  { table: 'audit_events', column: 'owner_type', values: OWNER_TYPES },
  { table: 'audit_events', column: 'provider', values: PROVIDERS },
  { table: 'audit_events', column: 'from_mode', values: MODES },
  { table: 'audit_events', column: 'to_mode', values: MODES },
  { table: 'outbox', column: 'owner_type', values: OWNER_TYPES },
];

export async function up(db: Kysely<unknown>): Promise<void> {
  await addEnumChecks(db, CHECKS);
}
