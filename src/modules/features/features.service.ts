/**
 * Feature flags per owner (CONTRACT.md section 3). An owner without a stored value gets
 * the server-wide default (NEO_BYOK_DEFAULT). Cached per owner; writes publish on the
 * `owner` topic so every instance drops its copy.
 */
import { nowIso, type Db } from '../../db/index.ts';
import { EVERYTHING, type CacheBus } from '../../lib/bus.ts';
import { LruCache } from '../../lib/lru.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';

export const FEATURES = ['byok'] as const;
export type FeatureName = (typeof FEATURES)[number];

export class FeaturesService {
  private readonly cache: LruCache<string, Record<FeatureName, boolean>>;

  constructor(
    private readonly deps: { db: Db; bus: CacheBus; defaults: Record<FeatureName, boolean>; clock?: () => number },
  ) {
    this.cache = new LruCache(50_000, 60_000, deps.clock);
    deps.bus.subscribe('owner', (key) => (key === EVERYTHING ? this.cache.clear() : this.cache.delete(key)));
  }

  /** Every feature of an owner, defaults applied. */
  async forOwner(owner: Owner): Promise<Record<FeatureName, boolean>> {
    const key = ownerKey(owner);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const rows = await this.deps.db
      .selectFrom('features')
      .select(['name', 'enabled'])
      .where('owner_type', '=', owner.type)
      .where('owner_id', '=', owner.id)
      .execute();
    const out = { ...this.deps.defaults };
    for (const r of rows) if ((FEATURES as readonly string[]).includes(r.name)) out[r.name as FeatureName] = r.enabled === 1;
    this.cache.set(key, out);
    return out;
  }

  async isEnabled(owner: Owner, name: FeatureName): Promise<boolean> {
    return (await this.forOwner(owner))[name];
  }

  /** Sets a flag for an owner (admin CLI). */
  async set(owner: Owner, name: FeatureName, enabled: boolean): Promise<void> {
    await this.deps.db
      .insertInto('features')
      .values({ owner_type: owner.type, owner_id: owner.id, name, enabled: enabled ? 1 : 0, updated_at: nowIso(this.deps.clock) })
      .onConflict((oc) => oc.columns(['owner_type', 'owner_id', 'name']).doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: nowIso(this.deps.clock) }))
      .execute();
    this.deps.bus.publish('owner', ownerKey(owner));
  }
}
