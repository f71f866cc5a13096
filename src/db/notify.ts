/**
 * Cross-instance cache invalidation: the `CacheBus` implementations that reach the
 * other instances of the service.
 *
 * - `PgBus`: PostgreSQL `LISTEN/NOTIFY` on a dedicated connection that reconnects by
 *   itself. A message published inside a transaction (the services publish inside
 *   their write transactions) is sent there as `pg_notify`, which PostgreSQL delivers
 *   at COMMIT and drops on rollback: no crash between the commit and a later publish can
 *   lose it. Outside a transaction it is sent through the normal pool.
 * - `RedisBus`: Redis pub/sub (one subscriber and one publisher connection), used when
 *   `NEO_REDIS_URL` is set.
 *
 * Both deliver a published message to this process's subscribers once the publishing
 * transaction has committed (at once outside one), before the request is answered, so
 * the instance that made a change never serves its own stale copy; Redis forwards it
 * after the commit. Each message carries the sending instance's id; an instance drops its own echo.
 *
 * Delivery to other instances is at most once: neither PostgreSQL nor Redis keeps a
 * backlog for a subscriber, so a message sent while an instance is not subscribed (a
 * network cut, a restart of the backend) never reaches it. Hence, after every
 * (re)subscription each instance empties all its caches (`resetCaches`), and while it
 * is not subscribed (`state` `down`) its caches keep new entries for at most
 * DEGRADED_TTL_MS (src/lib/cache.ts): a change made elsewhere meanwhile is seen within
 * that time, and at the latest once the bus is back.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import type { Config } from '../config/index.ts';
import { createRedis, redactRedisUrl } from '../lib/redis.ts';
import { LocalBus, TOPICS, type BusState, type CacheBus, type Topic } from '../lib/bus.ts';
import { afterCommit, beforeCommit, type DatabaseHandle, type Db, type Trx } from './index.ts';
/** PostgreSQL NOTIFY channel (a plain identifier: no quoting needed). */
export const PG_CHANNEL = 'neo_byok_cache';
/** Redis pub/sub channel. */
export const REDIS_CHANNEL = 'neo-byok:cache';

/** The subset of a pino logger the buses use. */
export interface BusLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const SILENT: BusLogger = { info: () => {}, warn: () => {} };

interface Message {
  /** Sending instance. */
  o: string;
  t: Topic;
  k: string;
}

/** A bus that forwards every message to the other instances and delivers theirs here. */
export abstract class RemoteBus extends LocalBus {
  /** Identifies this process's messages, so its own echo is ignored. */
  readonly instanceId = randomUUID();
  protected log: BusLogger = SILENT;
  protected closed = false;
  /** Messages received from other instances (for metrics and tests). */
  received = 0;

  /** Where connection problems are reported (the app's logger, once it exists). */
  setLogger(log: BusLogger): void {
    this.log = log;
  }

  /** Connects; rejects when the backend cannot be reached at start. */
  abstract start(): Promise<void>;

  /** Whether the receiving side is subscribed right now. */
  abstract get connected(): boolean;

  override get state(): BusState {
    return this.connected ? 'up' : 'down';
  }

  /**
   * The receiving side has just been (re)subscribed, or lost: whatever another instance
   * changed while we were not listening is unknown, so every cache starts empty.
   */
  protected subscriptionChanged(): void {
    this.resetCaches();
  }

  protected abstract forward(payload: string): Promise<unknown>;

  private readonly inFlight = new Set<Promise<unknown>>();

  constructor() {
    super(afterCommit);
  }

  /**
   * Sends a message as part of the caller's transaction, when the backend can (else it
   * is forwarded after the commit).
   */
  protected sendInTransaction?(trx: Trx, payload: string): Promise<unknown>;

  /**
   * Inside a transaction (withTransaction), PostgreSQL's NOTIFY is part of it: sent by
   * the COMMIT, dropped by a rollback, so no crash between the commit and the publish
   * can lose it. Local delivery, and Redis forwarding, happen after the commit.
   */
  override publish(topic: Topic, key: string): void {
    const payload = JSON.stringify({ o: this.instanceId, t: topic, k: key } satisfies Message);
    const inTransaction = this.sendInTransaction?.bind(this);
    if (!this.closed && inTransaction && beforeCommit((trx) => inTransaction(trx, payload))) {
      this.afterCommit(() => this.deliver(topic, key));
      return;
    }
    this.afterCommit(() => {
      this.deliver(topic, key);
      if (!this.closed) this.send(topic, payload);
    });
  }

  private send(topic: Topic, payload: string): void {
    const p = this.forward(payload).catch((err: unknown) => {
      // Local delivery already happened; the other instances' entries expire by TTL.
      this.log.warn({ err: errSummary(err), topic }, 'cache bus: could not forward an invalidation to other instances');
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /**
   * Waits until every queued message has been handed to the backend (or failed to be),
   * including messages published while waiting; gives up after `timeoutMs` so a stuck
   * backend cannot hold a shutdown or a CLI command. Never rejects.
   */
  async flush(timeoutMs = 2000): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutMs);
    });
    // Each forward promise already swallows its error, so Promise.all never rejects.
    while (this.inFlight.size > 0 && !timedOut) await Promise.race([Promise.all([...this.inFlight]), deadline]);
    clearTimeout(timer);
  }

  /** Handles a raw message from the backend. */
  protected receive(payload: string): void {
    let msg: Partial<Message>;
    try {
      msg = JSON.parse(payload) as Partial<Message>;
    } catch {
      return;
    }
    if (msg.o === this.instanceId) return;
    if (typeof msg.k !== 'string' || !TOPICS.includes(msg.t as Topic)) return;
    this.received += 1;
    this.deliver(msg.t as Topic, msg.k);
  }
}

function errSummary(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown } | null;
  return {
    message: typeof e?.message === 'string' && e.message ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
}

export interface PgBusOptions {
  /** Connection string of the dedicated LISTEN connection. */
  url: string;
  /** Pool through which NOTIFY is sent. */
  db: Db;
  channel?: string;
  /** Reconnect backoff bounds in ms (default 100 … 5000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * PostgreSQL LISTEN/NOTIFY. NOTIFY goes through the pool (any connection reaches every
 * listener of the database); LISTEN holds one dedicated client, re-created with
 * exponential backoff whenever it is lost.
 */
export class PgBus extends RemoteBus {
  private client: pg.Client | undefined;
  private isConnected = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private readonly channel: string;

  constructor(private readonly opts: PgBusOptions) {
    super();
    this.channel = opts.channel ?? PG_CHANNEL;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel)) throw new Error('PgBus channel must be a lower-case identifier');
    this.backoff = opts.minBackoffMs ?? 100;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  protected forward(payload: string): Promise<unknown> {
    return sql`select pg_notify(${this.channel}, ${payload})`.execute(this.opts.db);
  }

  protected override sendInTransaction(trx: Trx, payload: string): Promise<unknown> {
    return sql`select pg_notify(${this.channel}, ${payload})`.execute(trx);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url, keepAlive: true, connectionTimeoutMillis: 5000, application_name: 'neo-byok-bus' });
    this.client = client;
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      const wasConnected = this.isConnected;
      this.isConnected = false;
      if (wasConnected) this.subscriptionChanged();
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.closed) return;
      if (wasConnected) {
        this.log.warn({ ...(err ? { err: errSummary(err) } : {}) }, 'cache bus: LISTEN connection lost; reconnecting');
      }
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel === this.channel && typeof n.payload === 'string') this.receive(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      onLost(err);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    if (lost) return; // lost between LISTEN and here: a reconnection is already scheduled
    this.isConnected = true;
    this.backoff = this.opts.minBackoffMs ?? 100;
    // Listening from now on: drop what may have been missed before.
    this.subscriptionChanged();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 5000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        () => this.log.info({}, 'cache bus: LISTEN connection re-established'),
        () => {
          /* onLost already scheduled the next attempt */
        },
      );
    }, delay);
    this.timer.unref();
  }

  override async close(): Promise<void> {
    // Invalidations published just before shutdown still reach the other instances.
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.isConnected = false;
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('notification');
      await c.end().catch(() => {});
    }
    await super.close();
  }
}

export interface RedisBusOptions {
  url: string;
  channel?: string;
}

/** Redis pub/sub: one connection subscribes, another publishes. */
export class RedisBus extends RemoteBus {
  private readonly sub: Redis;
  private readonly pub: Redis;
  private readonly channel: string;
  private lastError = 0;
  private lastConnectionError: unknown;
  private readonly where: string;
  /** SUBSCRIBE confirmed on the current subscriber connection. */
  private subscribed = false;
  private started = false;

  constructor(opts: RedisBusOptions) {
    super();
    this.channel = opts.channel ?? REDIS_CHANNEL;
    this.where = redactRedisUrl(opts.url);
    // Named, so an operator can tell the connections apart in CLIENT LIST.
    this.sub = createRedis(opts.url, { connectionName: `neo-byok-bus-sub-${this.instanceId}` });
    // Publishing to a Redis that is down fails at once instead of queueing.
    this.pub = createRedis(opts.url, { enableOfflineQueue: false, connectionName: `neo-byok-bus-pub-${this.instanceId}` });
    for (const [name, conn] of [
      ['subscriber', this.sub],
      ['publisher', this.pub],
    ] as const) {
      conn.on('error', (err: unknown) => {
        this.lastConnectionError = err;
        // ioredis emits an error per failed reconnect; log at most one per 10 s.
        const now = Date.now();
        if (this.closed || now - this.lastError < 10_000) return;
        this.lastError = now;
        this.log.warn({ err: errSummary(err), connection: name }, 'cache bus: Redis connection error');
      });
    }
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    this.sub.on('close', () => {
      if (!this.subscribed) return;
      this.subscribed = false;
      this.subscriptionChanged();
      if (!this.closed) this.log.warn({}, 'cache bus: Redis subscriber connection lost; reconnecting');
    });
    // ioredis reconnects and resubscribes by itself; 'ready' comes before its SUBSCRIBE
    // is answered, so subscribe once more (idempotent) and count as subscribed only
    // when Redis confirms.
    this.sub.on('ready', () => {
      if (!this.started || this.closed) return;
      this.sub.subscribe(this.channel).then(
        () => {
          if (this.subscribed || this.closed || this.sub.status !== 'ready') return;
          this.subscribed = true;
          this.subscriptionChanged();
          this.log.info({}, 'cache bus: Redis subscription re-established');
        },
        () => {
          /* the connection went again; the next 'ready' retries */
        },
      );
    });
  }

  get connected(): boolean {
    return this.subscribed && this.sub.status === 'ready';
  }

  async start(): Promise<void> {
    try {
      await Promise.all([this.sub.connect(), this.pub.connect()]);
      await this.sub.subscribe(this.channel);
      this.subscribed = true;
      this.started = true;
      this.subscriptionChanged();
    } catch (err) {
      // ioredis rejects with "Connection is closed."; the socket error says why.
      const cause = this.lastConnectionError ?? err;
      throw new Error(`redis unreachable at ${this.where}: ${errSummary(cause).message}`, { cause });
    }
  }

  protected forward(payload: string): Promise<unknown> {
    return this.pub.publish(this.channel, payload);
  }

  override async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.subscribed = false;
    // QUIT when connected (clean), else just drop the socket and stop reconnecting.
    const end = async (c: Redis) => {
      if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
      else c.disconnect();
    };
    await Promise.all([end(this.sub), end(this.pub)]);
    await super.close();
  }
}

/**
 * The bus for a server: Redis pub/sub when NEO_REDIS_URL is set, else PostgreSQL
 * LISTEN/NOTIFY on PostgreSQL, else process-local (SQLite: one instance). Connected.
 */
export async function createBus(config: Partial<Pick<Config, 'redisUrl'>>, database: DatabaseHandle): Promise<CacheBus & { setLogger?(log: BusLogger): void }> {
  let bus: RemoteBus;
  if (config.redisUrl) bus = new RedisBus({ url: config.redisUrl });
  else if (database.dialect === 'postgres' && database.postgresUrl) bus = new PgBus({ url: database.postgresUrl, db: database.db });
  else if (database.externalWriteVersion) return new SqliteWatchBus(() => database.externalWriteVersion!());
  else return new LocalBus(afterCommit);
  try {
    await bus.start();
  } catch (err) {
    await bus.close();
    throw err;
  }
  return bus;
}

/**
 * The bus of a server on SQLite without Redis. Other processes on the same database file
 * (the CLI: `admin features set`, `admin user create --admin`, `rotate-master-key`) cannot
 * send it messages, so at the start of every request (`sync`) it compares SQLite's
 * `data_version`, which changes only when another connection commits, and on a change
 * empties every cache: such writes are rare, and a refill costs one indexed read per
 * entry. The request that follows another process's commit therefore sees it.
 */
export class SqliteWatchBus extends LocalBus {
  private last: number;

  constructor(private readonly version: () => number) {
    super(afterCommit);
    this.last = version();
  }

  override sync(): void {
    this.poll();
  }

  /** Checks for another process's commit now. */
  poll(): void {
    let v: number;
    try {
      v = this.version();
    } catch {
      return; // database closing: nothing to watch any more
    }
    if (v !== this.last) {
      this.last = v;
      this.resetCaches();
    }
  }
}
