/**
 * Feature flags per owner (CONTRACT.md section 3). An owner without a stored value gets
 * the server-wide default (NEO_BYOK_DEFAULT). Cached per owner; writes publish on the
 * `flags` topic so every instance drops its copy (and on `owner`, for the caches of the
 * owner's state). The cache listens to `flags` only: a BYOK write (a key, the mode)
 * publishes `owner`, and made every next write of the owner read its flags again
 * (docs/benchmarks.md, "The write path").
 */
import { nowIso, withTransaction, type Db, type Dialect, type Trx } from '../../db/index.ts';
import type { CacheBus } from '../../lib/bus.ts';
import { Cache, type Now } from '../../lib/cache.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import { FeaturesRepo } from './features.repo.ts';

export const FEATURES = ['byok'] as const;
export type FeatureName = (typeof FEATURES)[number];

export class FeaturesService {
  private readonly cache: Cache<Record<FeatureName, boolean>>;

  constructor(
    private readonly deps: { db: Db; dialect: Dialect; bus: CacheBus; defaults: Record<FeatureName, boolean>; clock?: () => number },
  ) {
    this.cache = new Cache({ name: 'flags', bus: deps.bus, topic: 'flags', max: 50_000, ttlMs: 60_000 });
  }

  /** Every feature of an owner, defaults applied (cached; a read that raced a change is not kept). */
  async forOwner(owner: Owner): Promise<Record<FeatureName, boolean>> {
    return this.cache.getOrLoad(ownerKey(owner), () => this.load(owner));
  }

  /** As `forOwner`, the value itself on a warm cache (the resolve hot path, src/lib/cache.ts `lookup`). */
  forOwnerNow(owner: Owner, key = ownerKey(owner)): Now<Record<FeatureName, boolean>> {
    return this.cache.lookup(key, () => this.load(owner));
  }

  private async load(owner: Owner): Promise<Record<FeatureName, boolean>> {
    const stored = await new FeaturesRepo(this.deps.db, this.deps.dialect).flags(owner);
    const out = { ...this.deps.defaults };
    for (const name of FEATURES) out[name] = stored.get(name) ?? out[name];
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
    await withTransaction(this.deps.db, async (trx) => {
      await new FeaturesRepo(trx, this.deps.dialect).set(owner, name, enabled, nowIso(this.deps.clock));
      // Inside the transaction: on PostgreSQL the invalidation commits with the change.
      this.deps.bus.publish('flags', ownerKey(owner));
      this.deps.bus.publish('owner', ownerKey(owner));
    });
  }
}
