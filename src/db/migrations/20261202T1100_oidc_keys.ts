import { sql, type Kysely } from 'kysely';

/**
 * The signing keys of the service's OpenID Connect issuer (issue 18, docs/keyless-cloud.md).
 *
 * One row per RS256 key, named by its `kid` (the RFC 7638 thumbprint of the public key).
 * The private key (PKCS#8) is sealed by the master key like a data key
 * (`private_key` = base64(iv ‖ ct ‖ tag), `master_key_id` names the master key), so every
 * instance sharing the database and the master key signs with the same key and serves
 * the same JWKS. `active` is 1 on the one signing key and NULL on the others: the unique
 * index allows a single active row on both dialects (NULLs never collide). A key retired
 * by a rotation stays in the JWKS until `remove_after`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oidc_signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    /** The public JWK (JSON: kty, n, e); served in the JWKS. */
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .addColumn('remove_after', 'text')
    .addCheckConstraint('oidc_signing_keys_alg_check', sql`alg in ('RS256')`)
    .addCheckConstraint('oidc_signing_keys_active_check', sql`active is null or active = 1`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oidc_signing_keys').execute();
}
