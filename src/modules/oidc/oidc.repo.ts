/**
 * SQL of the OIDC issuer's signing keys (`oidc_signing_keys`). At most one row is active
 * (the unique `active` column holds 1 on it and null on retired keys).
 *
 * Bound to one executor (the root database or a transaction) chosen by the caller;
 * transactions open only in ./issuer.ts.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, OidcSigningKeysTable } from '../../db/schema.ts';

export type SigningKeyRow = Selectable<OidcSigningKeysTable>;

export class SigningKeysRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Every signing key, newest first (the active one and the retired ones still published). */
  all(): Promise<SigningKeyRow[]> {
    return this.db.selectFrom('oidc_signing_keys').selectAll().orderBy('created_at', 'desc').execute();
  }

  /** Inserts a key unless it collides (another instance made the first key meanwhile: one is kept). */
  async insertIfAbsent(row: SigningKeyRow): Promise<void> {
    await this.db.insertInto('oidc_signing_keys').values(row).onConflict((oc) => oc.doNothing()).execute();
  }

  async insert(row: SigningKeyRow): Promise<void> {
    await this.db.insertInto('oidc_signing_keys').values(row).execute();
  }

  /** The kid of the active key, if any. */
  async activeKid(): Promise<string | undefined> {
    const row = await this.db.selectFrom('oidc_signing_keys').select('kid').where('active', '=', 1).executeTakeFirst();
    return row?.kid;
  }

  /** Retires a key: no longer active, published until `removeAfter`. */
  async retire(kid: string, at: string, removeAfter: string): Promise<void> {
    await this.db.updateTable('oidc_signing_keys').set({ active: null, retired_at: at, remove_after: removeAfter }).where('kid', '=', kid).execute();
  }

  /** Deletes the retired keys whose grace ended by `at`; their kids. */
  async removeExpired(at: string): Promise<string[]> {
    const expired = await this.db.selectFrom('oidc_signing_keys').select('kid').where('active', 'is', null).where('remove_after', '<=', at).execute();
    const kids = expired.map((r) => r.kid);
    if (kids.length) await this.db.deleteFrom('oidc_signing_keys').where('kid', 'in', kids).execute();
    return kids;
  }
}
