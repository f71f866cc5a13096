/** SQL of feature flags; every method is scoped by the owner. */
import type { Kysely } from 'kysely';
import type { Dialect } from '../../db/index.ts';
import type { Database } from '../../db/schema.ts';
import type { Owner } from '../auth/owner.ts';

export class FeaturesRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /** The owner's stored flags (name → enabled); names without a row are absent. */
  async flags(owner: Owner): Promise<Map<string, boolean>> {
    const rows = await this.db
      .selectFrom('features')
      .select(['name', 'enabled'])
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .execute();
    return new Map(rows.map((r) => [r.name, r.enabled === 1] as const));
  }

  /**
   * One stored flag inside a write transaction, share-locked on PostgreSQL until the
   * transaction ends, so the flag cannot be turned off between this check and the commit
   * (SQLite transactions are serialized anyway). Undefined when there is no row.
   */
  async flagForWrite(owner: Owner, name: string): Promise<boolean | undefined> {
    if (!this.db.isTransaction) throw new Error('flagForWrite needs a transaction: open one in the service');
    let q = this.db
      .selectFrom('features')
      .select('enabled')
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .where('name', '=', name);
    if (this.dialect === 'postgres') q = q.forShare();
    const row = await q.executeTakeFirst();
    return row ? row.enabled === 1 : undefined;
  }

  async set(owner: Owner, name: string, enabled: boolean, now: string): Promise<void> {
    const value = enabled ? 1 : 0;
    await this.db
      .insertInto('features')
      .values({ owner_type: owner.type, owner_id: owner.id, name, enabled: value, updated_at: now })
      .onConflict((oc) => oc.columns(['owner_type', 'owner_id', 'name']).doUpdateSet({ enabled: value, updated_at: now }))
      .execute();
  }
}
