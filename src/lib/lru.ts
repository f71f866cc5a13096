/** A bounded least-recently-used map with optional time-to-live per entry. */
export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number; seq: number }>();
  /** Bumped by every insertion; an entry's `seq` says how recently it was (re)inserted. */
  private tick = 0;

  constructor(
    private readonly max: number,
    private readonly ttlMs = Infinity,
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires <= this.clock()) {
      this.map.delete(key);
      return undefined;
    }
    // Refresh recency, unless the entry is still among the newer half: it cannot be
    // evicted before at least max/2 more insertions, and skipping the delete + re-insert
    // makes a hit ~3× cheaper (every request does several; docs/benchmarks.md).
    if (this.tick - hit.seq > this.max / 2) {
      hit.seq = ++this.tick;
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit.value;
  }

  set(key: K, value: V, ttlMs = this.ttlMs): void {
    this.map.delete(key);
    this.map.set(key, { value, expires: this.clock() + ttlMs, seq: ++this.tick });
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(pred: (key: K, value: V) => boolean): void {
    for (const [k, v] of this.map) if (pred(k, v.value)) this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
