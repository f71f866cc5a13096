/**
 * Batch credential resolution (issue 15 item 3): up to 100 `{user_id, model}` items, each
 * answered by the single resolve (ResolveService.resolve, not a copy of it: same answers,
 * same errors, same metrics per item, same `last_used_at` notes), in order.
 *
 * One state per batch: every item of one user reads that user's membership once, and
 * every item of one owner (a team's members included) reads the owner's flag, mode and
 * keys once — the first item's read, shared by the others (a promise per user and per
 * owner, made for this batch only). So the items of a batch never disagree about an
 * owner, even when a write or an invalidation lands while the batch runs; each of those
 * reads is the same cached, one-snapshot read as a single resolve's (src/lib/cache.ts,
 * test/consistent-reads.test.ts). Nothing is kept after the batch.
 */
import type { ModelsService } from '../models/models.service.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import { ResolveService, type ResolveResult, type ResolveServiceDeps } from './resolve.service.ts';

export interface BatchItem {
  user_id: string;
  model: string;
  short_lived?: boolean;
}

/** One item's outcome: the single resolve's answer, or what it threw (the route maps it to an ErrorResponse). */
export type BatchOutcome = { ok: true; value: ResolveResult } | { ok: false; error: unknown };

type Membership = ReturnType<ResolveServiceDeps['auth']['membershipNow']>;
type Effective = ReturnType<ModelsService['effectiveNow']>;

export class ResolveBatchService {
  constructor(private readonly deps: ResolveServiceDeps) {}

  /** Every item, in order; `observe` is told each item's owner (the route logs them). */
  async resolveAll(items: readonly BatchItem[], observe?: (owner: Owner) => void): Promise<BatchOutcome[]> {
    const { auth, models } = this.deps;
    const members = new Map<string, Membership>();
    const states = new Map<string, Effective>();
    const resolver = new ResolveService({
      ...this.deps,
      auth: { membershipNow: (userId) => once(members, userId, () => auth.membershipNow(userId)) },
      models: {
        effectiveNow: (owner) => once(states, ownerKey(owner), () => models.effectiveNow(owner)),
        autoModel: (e) => models.autoModel(e),
        servingKey: (e, modelId) => models.servingKey(e, modelId),
        unavailableReason: (e, model) => models.unavailableReason(e, model),
      },
    });
    return Promise.all(
      items.map((item) =>
        resolver.resolve(item.user_id, item.model, observe, item.short_lived === true ? { shortLived: true } : {}).then(
          (value): BatchOutcome => ({ ok: true, value }),
          (error: unknown): BatchOutcome => ({ ok: false, error }),
        ),
      ),
    );
  }
}

/** The value (or promise: src/lib/cache.ts `Now`) of `key` in `memo`, made by `load` on the first call. */
function once<T>(memo: Map<string, T>, key: string, load: () => T): T {
  if (memo.has(key)) return memo.get(key)!;
  const v = load();
  memo.set(key, v);
  return v;
}
