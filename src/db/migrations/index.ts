import type { Migration } from 'kysely';
import * as initial from './20261127T1300_initial.ts';
import * as keyHealth from './20261130T2300_key_health.ts';
import * as enumChecks from './20261201T0900_enum_checks.ts';
import * as webhooks from './20261202T1000_webhooks.ts';
import * as oidcKeys from './20261202T1100_oidc_keys.ts';
import * as expiryIndex from './20261202T1200_expiry_index.ts';
import * as auditChangedFields from './20261203T0900_audit_changed_fields.ts';

/**
 * Every migration, by timestamped name. Listed in code (not read from the folder) so
 * the set is fixed at build time and identical on every instance.
 */
export const migrations: Record<string, Migration> = {
  '20261127T1300_initial': initial,
  '20261130T2300_key_health': keyHealth,
  '20261201T0900_enum_checks': enumChecks,
  '20261202T1000_webhooks': webhooks,
  '20261202T1100_oidc_keys': oidcKeys,
  '20261202T1200_expiry_index': expiryIndex,
  '20261203T0900_audit_changed_fields': auditChangedFields,
};
