/**
 * SQL of the Neo API keys; every method is scoped by the owning user (or, for the
 * authentication lookup, by the key's hash). Bound to one executor (the root database
 * or a transaction) chosen by the service; transactions open only in services.
 */
import type { Kysely } from 'kysely';
import { forUpdate, type Dialect } from '../../db/index.ts';
import type { ApiKeyRow, Database } from '../../db/schema.ts';

export class ApiKeysRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  findByUser(userId: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).executeTakeFirst();
  }

  /** The user a key hash belongs to (authentication). */
  async userIdByHash(hash: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('api_keys').select('user_id').where('key_hash', '=', hash).executeTakeFirst();
    return row?.user_id;
  }

  /** The user's key row, locked for the rest of the transaction on PostgreSQL. */
  findByUserForUpdate(userId: string): Promise<ApiKeyRow | undefined> {
    if (!this.db.isTransaction) throw new Error('findByUserForUpdate needs a transaction: open one in the service');
    return forUpdate(this.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId), this.dialect).executeTakeFirst();
  }

  /** Inserts the user's key; the unique index on user_id refuses a second one. */
  async insert(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  /** Replaces the hash of the key `id` of the user, keeping id and created_at. */
  async setHash(userId: string, id: string, hash: string, last4: string, now: string): Promise<void> {
    await this.db
      .updateTable('api_keys')
      .set({ key_hash: hash, key_last4: last4, updated_at: now })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .execute();
  }

  /** Deletes the user's key; returns the deleted row, or undefined when there was none. */
  async delete(userId: string): Promise<ApiKeyRow | undefined> {
    const rows = await this.db.deleteFrom('api_keys').where('user_id', '=', userId).returningAll().execute();
    return rows[0];
  }
}
