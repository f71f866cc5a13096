/** SQL of the Neo API keys; every method is scoped by the owning user. */
import { withTransaction, type Db, type Dialect } from '../../db/index.ts';
import type { ApiKeyRow } from '../../db/schema.ts';

export class ApiKeysRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
  ) {}

  findByUser(userId: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).executeTakeFirst();
  }

  /** Inserts the user's key; the unique index on user_id refuses a second one. */
  async insert(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  /**
   * Replaces the user's key hash, keeping id and created_at. Returns the row as it was
   * before (its hash is the value that must die), or undefined when the user has no key.
   */
  async replaceHash(userId: string, hash: string, last4: string, now: string): Promise<ApiKeyRow | undefined> {
    return withTransaction(this.db, async (trx) => {
      let q = trx.selectFrom('api_keys').selectAll().where('user_id', '=', userId);
      if (this.dialect === 'postgres') q = q.forUpdate();
      const old = await q.executeTakeFirst();
      if (!old) return undefined;
      await trx
        .updateTable('api_keys')
        .set({ key_hash: hash, key_last4: last4, updated_at: now })
        .where('id', '=', old.id)
        .where('user_id', '=', userId)
        .execute();
      return old;
    });
  }

  /** Deletes the user's key; returns the deleted row, or undefined when there was none. */
  async delete(userId: string): Promise<ApiKeyRow | undefined> {
    const rows = await this.db.deleteFrom('api_keys').where('user_id', '=', userId).returningAll().execute();
    return rows[0];
  }
}
