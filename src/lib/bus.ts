/**
 * Cache invalidation bus. In one process it is a synchronous event emitter; the
 * PostgreSQL/Redis implementations (src/db/notify.ts) also forward every published
 * message to the other instances, so each in-memory cache subscribes here and drops
 * what another instance changed.
 *
 * Topics: `apikey` (key = key hash), `user` (key = user id), `owner` (key = `type:id`: the
 * owner's BYOK state), `flags` (key = `type:id`: the owner's feature flags), `team` (key =
 * team id: its name changed).
 *
 * The bus also owns the lifecycle of every cache (src/lib/cache.ts) registered with it:
 * - `resetCaches()` empties them all: run by the remote buses after every
 *   (re)subscription, because messages sent while this instance was not listening are
 *   lost (PostgreSQL and Redis keep no backlog for a subscriber);
 * - `state` says whether messages from other instances can currently be lost (`down`),
 *   in which case caches keep new entries for at most DEGRADED_TTL_MS;
 * - `sync()` runs at the start of every request, for changes no message announces
 *   (SQLite: another process's commit).
 */
import { EventEmitter } from 'node:events';

/** The topics, listed once (the type follows from the list; a remote bus drops messages of any other). */
export const TOPICS = ['apikey', 'user', 'owner', 'flags', 'team'] as const;
export type Topic = (typeof TOPICS)[number];

/**
 * The key of a message that drops every entry of its topic (e.g. after a change whose
 * extent is unknown). Every subscriber handles it.
 */
export const EVERYTHING = '*';

/**
 * - `local`: there is no other instance to hear from (SQLite, a CLI command);
 * - `up`: subscribed, messages from other instances arrive;
 * - `down`: not subscribed: another instance's change may go unheard until the next
 *   (re)subscription, which resets every cache.
 */
export type BusState = 'local' | 'up' | 'down';

/** While the bus is down, a cache keeps a new entry at most this long. */
export const DEGRADED_TTL_MS = 1000;

/** Counters of one cache (monotonic, since the process started). */
export interface CacheCounts {
  hits: number;
  misses: number;
  loads: number;
  invalidations: number;
}

/** What the bus needs of a cache. */
export interface ManagedCache {
  readonly name: string;
  readonly counts: Readonly<CacheCounts>;
  readonly size: number;
  /** Drops every entry; loads in flight are not stored. */
  clear(): void;
}

export interface CacheBus {
  publish(topic: Topic, key: string): void;
  subscribe(topic: Topic, handler: (key: string) => void): void;
  readonly state: BusState;
  /** Every (re)subscription so far (metrics). */
  readonly resets: number;
  /** Adds a cache to those reset and reported with this bus. */
  register(cache: ManagedCache): void;
  readonly caches: readonly ManagedCache[];
  /** Empties every registered cache. */
  resetCaches(): void;
  /** Catches up with changes that no message announces (empties the caches if any); run before every request. Cheap. */
  sync(): void;
  close(): Promise<void>;
}

/**
 * Runs a function once the database transaction of the calling code has committed (at
 * once outside one; never after a rollback): `afterCommit` of src/db/index.ts, given by
 * the composition root (this layer does not know the database).
 */
export type AfterCommit = (fn: () => void) => void;

const immediately: AfterCommit = (fn) => fn();

export class LocalBus implements CacheBus {
  protected readonly emitter = new EventEmitter();
  private readonly registered: ManagedCache[] = [];
  resets = 0;

  /**
   * `afterCommit`: a message published inside a transaction is delivered once it has
   * committed, so that no request reloads and caches the old state in between.
   */
  constructor(protected readonly afterCommit: AfterCommit = immediately) {
    this.emitter.setMaxListeners(100);
  }

  get state(): BusState {
    return 'local';
  }

  publish(topic: Topic, key: string): void {
    this.afterCommit(() => this.deliver(topic, key));
  }

  /** Delivers a message to this process's subscribers only. */
  deliver(topic: Topic, key: string): void {
    this.emitter.emit(topic, key);
  }

  subscribe(topic: Topic, handler: (key: string) => void): void {
    this.emitter.on(topic, handler);
  }

  register(cache: ManagedCache): void {
    this.registered.push(cache);
  }

  get caches(): readonly ManagedCache[] {
    return this.registered;
  }

  resetCaches(): void {
    this.resets += 1;
    for (const c of this.registered) c.clear();
  }

  sync(): void {}

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
