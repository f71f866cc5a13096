/**
 * SQL of the rows that hold key material: the owners' data keys (`data_keys`), the master
 * key check value (`meta`), and — for a master-key rotation only — the sealed columns of
 * the provider keys and the OIDC issuer's signing keys. The vault (./vault.ts) and the
 * rotation (./rotate.ts) reach these tables only through this repository.
 *
 * Bound to one executor (the root database or a transaction) chosen by the caller;
 * transactions open only in the callers.
 */
import type { Kysely } from 'kysely';
import type { DataKeyRow, Database, Owner } from '../db/schema.ts';

type Executor = Kysely<Database>;

export class VaultRepo {
  constructor(private readonly db: Executor) {}

  /** The id of the owner's newest data key, if it has one. */
  async currentDataKeyId(owner: Owner): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('data_keys')
      .select('id')
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.id;
  }

  /** Inserts a data key unless the owner already has one of that version (the unique (owner, version) keeps one). */
  async insertDataKeyIfAbsent(row: DataKeyRow): Promise<void> {
    await this.db
      .insertInto('data_keys')
      .values(row)
      .onConflict((oc) => oc.columns(['owner_type', 'owner_id', 'version']).doNothing())
      .execute();
  }

  /** A data key by id, scoped by owner: another owner's data key answers like a missing one. */
  findDataKey(id: string, owner: Owner): Promise<Pick<DataKeyRow, 'id' | 'wrapped_key' | 'master_key_id'> | undefined> {
    return this.db
      .selectFrom('data_keys')
      .select(['id', 'wrapped_key', 'master_key_id'])
      .where('id', '=', id)
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .executeTakeFirst();
  }

  /** Any one data key (the first-start check that the configured master key opens it). */
  sampleDataKey(): Promise<Pick<DataKeyRow, 'id' | 'owner_type' | 'owner_id' | 'wrapped_key'> | undefined> {
    return this.db.selectFrom('data_keys').select(['id', 'owner_type', 'owner_id', 'wrapped_key']).limit(1).executeTakeFirst();
  }

  /** The value of a `meta` row, if present. */
  async readMeta(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  /** Stores a `meta` row unless one exists (two first starts at once keep one). */
  async insertMetaIfAbsent(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
  }

  /** Stores or replaces a `meta` row. */
  async upsertMeta(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  /** The master key ids that wrap data keys (distinct). */
  async dataKeyMasterIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('data_keys').select('master_key_id').distinct().execute();
    return rows.map((r) => r.master_key_id);
  }

  /** The master key ids that seal the OIDC issuer's signing keys (distinct). */
  async signingKeyMasterIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('oidc_signing_keys').select('master_key_id').distinct().execute();
    return rows.map((r) => r.master_key_id);
  }

  /** Data keys in the database; with `notUnder`, only those wrapped by another master key. */
  async countDataKeys(notUnder?: string): Promise<number> {
    let q = this.db.selectFrom('data_keys').select((eb) => eb.fn.countAll<string | number>().as('n'));
    if (notUnder !== undefined) q = q.where('master_key_id', '!=', notUnder);
    const row = await q.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Signing keys sealed by another master key than `id`. */
  async countSigningKeysNotUnder(id: string): Promise<number> {
    const row = await this.db
      .selectFrom('oidc_signing_keys')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('master_key_id', '!=', id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The next batch (id order, after `cursor`) of data keys wrapped by another master key than `id`. */
  dataKeysNotUnder(id: string, cursor: string, limit: number): Promise<Pick<DataKeyRow, 'id' | 'owner_type' | 'owner_id' | 'wrapped_key' | 'master_key_id'>[]> {
    return this.db
      .selectFrom('data_keys')
      .select(['id', 'owner_type', 'owner_id', 'wrapped_key', 'master_key_id'])
      .where('master_key_id', '!=', id)
      .where('id', '>', cursor)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Rewraps one data key if it is still exactly what was read; the number of rows changed (0 or 1). */
  async rewrapDataKey(u: { id: string; from: string; fromWrapped: string; wrapped: string }, newId: string, now: string): Promise<number> {
    const r = await this.db
      .updateTable('data_keys')
      .set({ wrapped_key: u.wrapped, master_key_id: newId, updated_at: now })
      .where('id', '=', u.id)
      .where('master_key_id', '=', u.from)
      .where('wrapped_key', '=', u.fromWrapped)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Signing keys sealed by another master key than `id`. */
  signingKeysNotUnder(id: string): Promise<{ kid: string; private_key: string; master_key_id: string }[]> {
    return this.db.selectFrom('oidc_signing_keys').select(['kid', 'private_key', 'master_key_id']).where('master_key_id', '!=', id).execute();
  }

  /** Reseals one signing key if it is still exactly what was read; the number of rows changed (0 or 1). */
  async resealSigningKey(u: { kid: string; from: string; to: string }, newId: string): Promise<number> {
    const r = await this.db
      .updateTable('oidc_signing_keys')
      .set({ private_key: u.to, master_key_id: newId })
      .where('kid', '=', u.kid)
      .where('private_key', '=', u.from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** The next batch (id order, after `cursor`) of provider keys whose ciphertext does not start with `prefix`, with their data keys. */
  oldFormatCiphertexts(prefix: string, cursor: string, limit: number) {
    return this.db
      .selectFrom('provider_keys')
      .innerJoin('data_keys', (j) =>
        j
          .onRef('data_keys.id', '=', 'provider_keys.data_key_id')
          .onRef('data_keys.owner_type', '=', 'provider_keys.owner_type')
          .onRef('data_keys.owner_id', '=', 'provider_keys.owner_id'),
      )
      .select([
        'provider_keys.id as id',
        'provider_keys.owner_type as owner_type',
        'provider_keys.owner_id as owner_id',
        'provider_keys.provider as provider',
        'provider_keys.location as location',
        'provider_keys.ciphertext as ciphertext',
        'data_keys.id as data_key_id',
        'data_keys.wrapped_key as wrapped_key',
        'data_keys.master_key_id as master_key_id',
      ])
      .where('provider_keys.ciphertext', 'not like', `${prefix}%`)
      .where('provider_keys.id', '>', cursor)
      .orderBy('provider_keys.id')
      .limit(limit)
      .execute();
  }

  /** Replaces a provider key's ciphertext if it is still exactly what was read; the number of rows changed (0 or 1). */
  async replaceCiphertext(u: { id: string; from: string; to: string }): Promise<number> {
    const r = await this.db.updateTable('provider_keys').set({ ciphertext: u.to }).where('id', '=', u.id).where('ciphertext', '=', u.from).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
