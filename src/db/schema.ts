/**
 * Table types for Kysely. Timestamps are RFC 3339 UTC strings and booleans are 0/1
 * integers on every dialect, so rows read the same from SQLite and PostgreSQL.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export type OwnerType = 'user' | 'team';

/** Whose BYOK settings a row or request addresses (CONTRACT.md section 2). */
export interface Owner {
  type: OwnerType;
  id: string;
}

/** `type:id`, the owner's key in caches and bus messages. */
export const ownerKey = (o: Owner): string => `${o.type}:${o.id}`;
export type ModelUseMode = 'neo' | 'byok';
export type TeamRole = 'admin' | 'member' | 'viewer';
export type SystemRole = 'user' | 'admin';

export interface UsersTable {
  id: string;
  sub: string | null;
  email: string;
  role: SystemRole;
  tag: string | null;
  created_at: string;
  updated_at: string;
}

export interface TeamsTable {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface TeamMembersTable {
  id: string;
  team_id: string;
  /** Null while the invitation is pending and the invited email has no user yet. */
  user_id: string | null;
  email: string;
  role: TeamRole;
  status: 'pending' | 'active';
  invited_by: string | null;
  invited_at: string;
  accepted_at: string | null;
  /** SHA-256 (hex) of the invitation token; null once accepted. */
  invite_token_hash: string | null;
  invite_expires_at: string | null;
}

export interface FeaturesTable {
  owner_type: OwnerType;
  owner_id: string;
  name: string;
  enabled: number;
  updated_at: string;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  /** SHA-256 (hex) of the full key; the key itself is never stored. */
  key_hash: string;
  key_last4: string;
  created_at: string;
  updated_at: string;
}

export interface ByokSettingsTable {
  owner_type: OwnerType;
  owner_id: string;
  mode: ModelUseMode;
  updated_at: string;
}

export interface DataKeysTable {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  version: number;
  /** base64 of iv | ciphertext | tag, wrapped by the master key `master_key_id`. */
  wrapped_key: string;
  master_key_id: string;
  created_at: string;
  updated_at: string;
}

export interface ProviderKeysTable {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  provider: string;
  display_name: string | null;
  location: string | null;
  key_hint: string;
  /** Envelope ciphertext (see src/crypto/README.md); never plaintext. */
  ciphertext: string;
  data_key_id: string;
  is_validated: number;
  validated_at: string | null;
  /** JSON array of provider model ids from the last accepted listing, or null. */
  models: string | null;
  models_discovered_at: string | null;
  created_at: string;
  updated_at: string;
  /** Key health (docs/key-health.md); see migration 20261130T2300_key_health. */
  status: Generated<KeyStatus>;
  last_checked_at: string | null;
  last_check_outcome: string | null;
  last_check_message: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  expiry_notice: ExpiryNotice | null;
  /** Changes whenever the secret is replaced (resolve's credential_version). */
  credential_version: Generated<number>;
  first_rejected_at: string | null;
  rejection_count: Generated<number>;
  check_requested_at: string | null;
  next_check_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
}

export const KEY_STATUSES = ['active', 'unverified', 'invalid', 'restricted', 'billing', 'unreadable'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];
export type ExpiryNotice = '7d' | '1d' | 'expired';

export interface AuditEventsTable {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  action: string;
  actor_id: string | null;
  actor_email: string | null;
  provider: string | null;
  from_mode: ModelUseMode | null;
  to_mode: ModelUseMode | null;
  request_id: string | null;
  created_at: string;
  /** Key health events (provider_key.status_changed, …): from/to status and the check outcome. */
  from_status: Generated<string | null>;
  to_status: Generated<string | null>;
  outcome: Generated<string | null>;
  key_id: Generated<string | null>;
  /** The endpoint of a `webhook.*` event. */
  webhook_id: Generated<string | null>;
  /** `webhook.updated`: the names of the changed fields, a JSON array; never values. */
  changed_fields: Generated<string | null>;
}

/** Events written in the transaction of the change, delivered later (webhooks). Never a secret. */
export interface OutboxTable {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  event_type: string;
  payload: string;
  created_at: string;
  dispatched_at: string | null;
  attempts: Generated<number>;
  next_attempt_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
}

/** Webhook endpoints of an owner (docs/webhooks.md); the signing secret only as ciphertext. */
export interface WebhookEndpointsTable {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types. */
  events: string;
  enabled: number;
  disabled_reason: 'gone' | 'failing' | null;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event for one endpoint, with its attempts. */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  owner_type: OwnerType;
  owner_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: DeliveryStatus;
  attempts: Generated<number>;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  last_response_excerpt: string | null;
  delivered_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
  created_at: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

/** A signing key of the OIDC issuer (src/modules/oidc/issuer.ts). */
export interface OidcSigningKeysTable {
  /** RFC 7638 thumbprint of the public key; the JWT header's `kid`. */
  kid: string;
  alg: 'RS256';
  /** JSON of the public JWK. */
  public_jwk: string;
  /** base64 of iv | ciphertext | tag: the PKCS#8 private key sealed by the master key `master_key_id`. */
  private_key: string;
  master_key_id: string;
  /** 1 on the one signing key, null on retired keys. */
  active: number | null;
  created_at: string;
  retired_at: string | null;
  /** When a retired key leaves the JWKS. */
  remove_after: string | null;
}

export interface Database {
  users: UsersTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  features: FeaturesTable;
  api_keys: ApiKeysTable;
  byok_settings: ByokSettingsTable;
  data_keys: DataKeysTable;
  provider_keys: ProviderKeysTable;
  audit_events: AuditEventsTable;
  outbox: OutboxTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  meta: MetaTable;
  oidc_signing_keys: OidcSigningKeysTable;
}

export type UserRow = Selectable<UsersTable>;
export type TeamRow = Selectable<TeamsTable>;
export type TeamMemberRow = Selectable<TeamMembersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ProviderKeyRow = Selectable<ProviderKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type DataKeyRow = Selectable<DataKeysTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
// Generated is re-exported for modules that add autoincrement columns later.
export type { Generated };
