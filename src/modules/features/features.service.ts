/**
 * Feature flags per owner (CONTRACT.md section 3). An owner without a stored value gets
 * the server-wide default (NEO_BYOK_DEFAULT). Cached per owner; writes publish on the
 * `owner` topic so every instance drops its copy.
 */
import { nowIso, type Db, type Dialect, type Trx } from '../../db/index.ts';
import { EVERYTHING, type CacheBus } from '../../lib/bus.ts';
import { LruCache } from '../../lib/lru.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import { FeaturesRepo } from './features.repo.ts';

export const FEATURES = ['byok'] as const;
export type FeatureName = (typeof FEATURES)[number];

export class FeaturesService {
  private readonly cache: LruCache<string, Record<FeatureName, boolean>>;

  constructor(
    private readonly deps: { db: Db; dialect: Dialect; bus: CacheBus; defaults: Record<FeatureName, boolean>; clock?: () => number },
  ) {
    this.cache = new LruCache(50_000, 60_000, deps.clock);
    deps.bus.subscribe('owner', (key) => (key === EVERYTHING ? this.cache.clear() : this.cache.delete(key)));
  }

  /** Every feature of an owner, defaults applied. */
  async forOwner(owner: Owner): Promise<Record<FeatureName, boolean>> {
    const key = ownerKey(owner);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const stored = await new FeaturesRepo(this.deps.db, this.deps.dialect).flags(owner);
    const out = { ...this.deps.defaults };
    for (const name of FEATURES) out[name] = stored.get(name) ?? out[name];
    this.cache.set(key, out);
    return out;
  }

  async isEnabled(owner: Owner, name: FeatureName): Promise<boolean> {
    return (await this.forOwner(owner))[name];
  }

  /**
   * A flag as committed, read inside the caller's write transaction (no cache), and kept
   * from changing until that transaction ends: a write re-checks its authority here.
   */
  async isEnabledForWrite(trx: Trx, owner: Owner, name: FeatureName): Promise<boolean> {
    return (await new FeaturesRepo(trx, this.deps.dialect).flagForWrite(owner, name)) ?? this.deps.defaults[name];
  }

  /** Sets a flag for an owner (admin CLI). */
  async set(owner: Owner, name: FeatureName, enabled: boolean): Promise<void> {
    await new FeaturesRepo(this.deps.db, this.deps.dialect).set(owner, name, enabled, nowIso(this.deps.clock));
    this.deps.bus.publish('owner', ownerKey(owner));
  }
}
