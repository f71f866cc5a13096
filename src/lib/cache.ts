/**
 * The one in-memory cache of the service: every cache of database state (principals
 * and API keys, memberships, flags, owner mode/keys/models, data keys) is a `Cache`.
 *
 * Storage, recency, TTL and disposal are `lru-cache`'s. Added here, once for all:
 * - **single-flight loading** (`getOrLoad`): concurrent misses of one key share one load;
 * - **a generation guard**: a load that was in flight when its key (or the whole cache)
 *   was invalidated is returned to its callers but never stored, so a read that raced a
 *   write cannot put the old state back after the write's invalidation;
 * - **invalidation by bus topic** (`topic`), and registration with the bus, which resets
 *   every cache after each (re)subscription and caps the TTL of new entries at
 *   DEGRADED_TTL_MS while it is down (src/lib/bus.ts);
 * - counters per cache for metrics (`neo_cache_*_total{cache}`), read by a collector at
 *   scrape time, so a lookup costs no metrics work.
 *
 * lru-cache's own `fetch()` is not used for the single flight: it rejects the callers of
 * a fetch whose key is deleted meanwhile, where a request that started before a change
 * may still be answered with what it read.
 */
import { LRUCache } from 'lru-cache';
import { DEGRADED_TTL_MS, EVERYTHING, type CacheBus, type CacheCounts, type ManagedCache, type Topic } from './bus.ts';

export interface CacheOptions<V> {
  /** Label in metrics (`neo_cache_hits_total{cache="…"}`). */
  name: string;
  bus: CacheBus;
  /** Bus topic whose messages drop the entry of the same key (`*`: every entry). */
  topic?: Topic;
  /** Entries at most (least recently used go first). */
  max: number;
  /** Default time to live of an entry; finite. */
  ttlMs: number;
  /** Called for every value that leaves the cache (evicted, expired, replaced, deleted, cleared). */
  onDrop?: (value: V, key: string) => void;
}

interface Flight<V> {
  stale: boolean;
  promise: Promise<V | undefined>;
}

type Loader<R> = () => Promise<R>;

/** A value now (a warm cache) or later (a load): what `Cache.lookup` and the hot paths built on it return. */
export type Now<T> = T | Promise<T>;

/** True for a promise (or any thenable): the value is not there yet. */
export function isPending<T>(v: Now<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** `f(v)` at once when `v` is there, else when it arrives (no promise and no microtask on a warm cache). */
export function andThen<T, U>(v: Now<T>, f: (value: T) => Now<U>): Now<U> {
  return isPending(v) ? v.then(f) : f(v);
}

// `{}`: lru-cache stores any value but null and undefined (a string or an object here).
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export class Cache<V extends {}> implements ManagedCache {
  readonly name: string;
  readonly counts: CacheCounts = { hits: 0, misses: 0, loads: 0, invalidations: 0 };
  private readonly lru: LRUCache<string, V>;
  private readonly inflight = new Map<string, Flight<V>>();
  private readonly bus: CacheBus;
  private readonly ttlMs: number;

  constructor(opts: CacheOptions<V>) {
    if (!Number.isFinite(opts.ttlMs) || opts.ttlMs <= 0) throw new Error(`cache ${opts.name}: ttlMs must be finite and positive`);
    this.name = opts.name;
    this.bus = opts.bus;
    this.ttlMs = opts.ttlMs;
    const onDrop = opts.onDrop;
    this.lru = new LRUCache<string, V>({
      max: opts.max,
      ttl: opts.ttlMs,
      ...(onDrop ? { dispose: (value: V, key: string) => onDrop(value, key) } : {}),
    });
    opts.bus.register(this);
    if (opts.topic) opts.bus.subscribe(opts.topic, (key) => (key === EVERYTHING ? this.clear() : this.delete(key)));
  }

  /** The cached value, or undefined. */
  get(key: string): V | undefined {
    const v = this.lru.get(key);
    if (v === undefined) this.counts.misses++;
    else this.counts.hits++;
    return v;
  }

  /** The cached value without counting a lookup (for an invalidation that needs the old entry). */
  peek(key: string): V | undefined {
    return this.lru.peek(key);
  }

  /** Stores a value (`ttlMs` below the default for short-lived entries); capped while the bus is down. */
  set(key: string, value: V, ttlMs = this.ttlMs): void {
    const ttl = this.bus.state === 'down' ? Math.min(ttlMs, DEGRADED_TTL_MS) : ttlMs;
    this.lru.set(key, value, { ttl: Math.max(1, Math.min(ttl, this.ttlMs)) });
  }

  /**
   * The cached value, or `load()`'s, stored unless the key was invalidated while it ran
   * (or `load` gave undefined: nothing to cache). Concurrent callers share one load.
   * `ttlOf` picks a TTL per value (e.g. shorter for a negative answer).
   */
  getOrLoad<R extends V | undefined>(key: string, load: Loader<R>, ttlOf?: (value: V) => number): Promise<R | V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    return this.miss(key, load, ttlOf);
  }

  /**
   * As `getOrLoad`, but a hit is returned as the value itself, not a promise: for the hot
   * paths (resolve, authentication) that continue synchronously on a warm cache, without
   * a promise and a microtask per lookup (docs/benchmarks.md). A miss returns the load's
   * promise (shared with concurrent callers), exactly as `getOrLoad`.
   */
  lookup<R extends V | undefined>(key: string, load: Loader<R>, ttlOf?: (value: V) => number): V | Promise<R | V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    return this.miss(key, load, ttlOf);
  }

  private miss<R extends V | undefined>(key: string, load: Loader<R>, ttlOf?: (value: V) => number): Promise<R | V> {
    const running = this.inflight.get(key);
    // A flight of this key was started with a loader of the same shape.
    if (running) return running.promise as Promise<R | V>;
    this.counts.loads++;
    const flight = { stale: false } as Flight<V>;
    this.inflight.set(key, flight);
    flight.promise = this.run(key, flight, load, ttlOf);
    return flight.promise as Promise<R | V>;
  }

  private async run(key: string, flight: Flight<V>, load: Loader<V | undefined>, ttlOf?: (value: V) => number): Promise<V | undefined> {
    try {
      const value = await load();
      if (value !== undefined && !flight.stale) this.set(key, value, ttlOf ? ttlOf(value) : this.ttlMs);
      return value;
    } finally {
      if (this.inflight.get(key) === flight) this.inflight.delete(key);
    }
  }

  /** Drops one entry; a load of it in flight is not stored, and the next caller loads anew. */
  delete(key: string): void {
    this.counts.invalidations++;
    this.lru.delete(key);
    const flight = this.inflight.get(key);
    if (flight) {
      flight.stale = true;
      this.inflight.delete(key);
    }
  }

  clear(): void {
    this.counts.invalidations++;
    this.lru.clear();
    for (const flight of this.inflight.values()) flight.stale = true;
    this.inflight.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
