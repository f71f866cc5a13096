/** Prometheus metrics (GET /metrics). Labels never carry a secret, only ids and names. */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheBus, CacheCounts } from './bus.ts';

/**
 * Counts by label values kept in a Map and added to a prom-client counter when that is
 * collected (each scrape), so counting on the request path is one Map update instead of
 * prom-client's label hashing (measured in docs/benchmarks.md).
 */
class Tally<L extends string> {
  private readonly pending = new Map<string, { labels: Partial<Record<L, string>>; n: number }>();

  add(key: string, labels: () => Partial<Record<L, string>>): void {
    const e = this.pending.get(key);
    if (e) e.n += 1;
    else this.pending.set(key, { labels: labels(), n: 1 });
  }

  /** Adds what was counted since the last flush to `counter`. */
  flush(counter: Counter<L>): void {
    for (const e of this.pending.values()) {
      if (e.n > 0) counter.inc(e.labels, e.n);
      e.n = 0;
    }
  }
}

/** How long the keys-by-status counts (neo_provider_keys) are reused before a new count. */
export const KEY_COUNT_TTL_MS = 60_000;

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  /**
   * Resolutions by owner type, provider, mode and outcome. Never per owner: an owner id
   * label grows without bound (one series per tenant); the owner is in the log line.
   */
  readonly resolves: Counter<'owner_type' | 'provider' | 'mode' | 'outcome'>;
  readonly providerChecks: Counter<'provider' | 'outcome'>;
  /** Short-lived cloud credential exchanges (keyless connections, short_lived) by provider, trigger and outcome. */
  readonly cloudExchanges: Counter<'provider' | 'trigger' | 'outcome'>;
  /** Key health (docs/key-health.md): runtime reports, re-checks asked for and run. */
  readonly keyReports: Counter<'outcome'>;
  readonly keyRechecksRequested: Counter;
  readonly keyRechecks: Counter<'provider' | 'outcome'>;
  /** Webhook delivery attempts by event type and outcome (docs/webhooks.md "Metrics"). */
  readonly webhookDeliveries: Counter<'event_type' | 'outcome'>;
  /** Source of the webhook queue gauges (set by the app once the database is known). */
  webhookQueueSource?: () => Promise<{ depth: number; oldest: string | null }>;
  /** Source of the keys-by-status gauge (set by the app once the database is known). */
  keyStatusSource?: () => Promise<{ provider: string; status: string; n: number }[]>;
  /**
   * Event-loop delay sampled every 1 ms (prom-client's own nodejs_eventloop_lag_* sample
   * every 10 ms, which adds ~10 ms to every figure). Each sample is the time between two
   * ticks of a 1 ms timer, so an idle loop reads ~1 ms. Read and reset by each scrape;
   * stopped when the app closes. The benchmark reads it per scenario (docs/benchmarks.md).
   */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  private readonly resolveTally = new Tally<'owner_type' | 'provider' | 'mode' | 'outcome'>();
  private readonly requestTally = new Tally<'method' | 'route' | 'status'>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.loopDelay.enable();
    const loopDelay = this.loopDelay;
    new Gauge({
      name: 'neo_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (1 ms sampling), by quantile',
      labelNames: ['quantile'],
      registers: [this.registry],
      collect() {
        const s = (ns: number) => (Number.isFinite(ns) && loopDelay.count > 0 ? ns / 1e9 : 0);
        this.set({ quantile: '0.5' }, s(loopDelay.percentile(50)));
        this.set({ quantile: '0.99' }, s(loopDelay.percentile(99)));
        this.set({ quantile: '1' }, s(loopDelay.max));
        loopDelay.reset();
      },
    });
    new Gauge({
      name: 'neo_process_peak_resident_memory_bytes',
      help: 'Peak resident set size of the process since it started',
      registers: [this.registry],
      collect() {
        this.set(process.resourceUsage().maxRSS * 1024);
      },
    });
    const requestTally = this.requestTally;
    this.httpRequests = new Counter({
      name: 'neo_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
      collect() {
        requestTally.flush(this);
      },
    });
    this.httpDuration = new Histogram({
      name: 'neo_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    const resolveTally = this.resolveTally;
    this.resolves = new Counter({
      name: 'neo_credential_resolves_total',
      help: 'Credential resolutions by owner type, provider, mode and outcome',
      labelNames: ['owner_type', 'provider', 'mode', 'outcome'],
      registers: [this.registry],
      collect() {
        resolveTally.flush(this);
      },
    });
    this.providerChecks = new Counter({
      name: 'neo_provider_checks_total',
      help: 'Provider key checks by provider and outcome',
      labelNames: ['provider', 'outcome'],
      registers: [this.registry],
    });
    this.cloudExchanges = new Counter({
      name: 'neo_cloud_credential_exchanges_total',
      help: 'Short-lived cloud credential exchanges by provider, trigger (resolve: nothing valid cached; refresh: in the background) and outcome',
      labelNames: ['provider', 'trigger', 'outcome'],
      registers: [this.registry],
    });
    [this.keyReports, this.keyRechecksRequested, this.keyRechecks] = this.keyHealthMetrics();
    this.webhookDeliveries = this.webhookMetrics();
  }

  /** Webhook series: attempts by event type and outcome; queue depth and oldest pending age (read at scrape time). */
  private webhookMetrics(): Counter<'event_type' | 'outcome'> {
    const source = () => this.webhookQueueSource;
    let last: Promise<{ depth: number; oldest: string | null } | undefined> | undefined;
    // Both gauges come from one query per scrape.
    const read = () => {
      const s = source();
      if (!s) return Promise.resolve(undefined);
      last ??= s()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (last = undefined)));
      return last;
    };
    new Gauge({
      name: 'neo_webhook_queue_depth',
      help: 'Webhook deliveries waiting to be sent (pending, including retries) plus events not yet handed to the endpoints',
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (q) this.set(q.depth);
      },
    });
    new Gauge({
      name: 'neo_webhook_oldest_pending_age_seconds',
      help: 'Age of the oldest pending webhook delivery or undispatched event (0 when none)',
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (q) this.set(q.oldest ? Math.max(0, (Date.now() - Date.parse(q.oldest)) / 1000) : 0);
      },
    });
    return new Counter({
      name: 'neo_webhook_deliveries_total',
      help: 'Webhook delivery attempts by event type and outcome (delivered, retrying, failed, endpoint_gone)',
      labelNames: ['event_type', 'outcome'],
      registers: [this.registry],
    });
  }

  /** Key-health series: reports, re-checks, and keys by provider and status (read at scrape time). */
  private keyHealthMetrics(): [Counter<'outcome'>, Counter, Counter<'provider' | 'outcome'>] {
    // Counting every stored key is a scan of provider_keys (docs/benchmarks.md, the
    // /metrics scrape at 1,000,000 owners): done at most once per KEY_COUNT_TTL_MS. A scrape after that answers the
    // last counts at once and starts a new count for the next scrape; only a scrape with
    // no counts yet waits for one. Null: the database was unreachable (series absent).
    let cached: { rows: { provider: string; status: string; n: number }[] | null; at: number } | undefined;
    let counting: Promise<void> | undefined;
    const recount = (read: NonNullable<Metrics['keyStatusSource']>) =>
      (counting ??= read()
        .then(
          (rows) => (cached = { rows, at: Date.now() }),
          () => (cached = { rows: null, at: Date.now() }),
        )
        .then(() => {
          counting = undefined;
        }));
    const counts = async () => {
      const read = this.keyStatusSource;
      if (!read) return null;
      if (!cached) await recount(read);
      else if (Date.now() - cached.at >= KEY_COUNT_TTL_MS) void recount(read);
      return cached?.rows ?? null;
    };
    new Gauge({
      name: 'neo_provider_keys',
      help: 'Stored provider keys by provider and status (no owner label)',
      labelNames: ['provider', 'status'],
      registers: [this.registry],
      async collect() {
        const rows = await counts();
        this.reset();
        for (const r of rows ?? []) this.set({ provider: r.provider, status: r.status }, r.n);
      },
    });
    return [
      new Counter({ name: 'neo_key_reports_total', help: 'Runtime reports about provider keys by outcome', labelNames: ['outcome'], registers: [this.registry] }),
      new Counter({ name: 'neo_key_rechecks_requested_total', help: 'Re-checks made due by runtime reports', registers: [this.registry] }),
      new Counter({
        name: 'neo_key_rechecks_total',
        help: 'Provider key re-checks (reported and scheduled) by provider and outcome',
        labelNames: ['provider', 'outcome'],
        registers: [this.registry],
      }),
    ];
  }

  /**
   * Per-cache counters and size, and the state of the invalidation bus, read from the
   * bus at scrape time (a cache lookup does no metrics work).
   */
  observeCaches(bus: CacheBus): void {
    const counter = (field: keyof CacheCounts, help: string) =>
      new Counter({
        name: `neo_cache_${field}_total`,
        help,
        labelNames: ['cache'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of bus.caches) this.inc({ cache: c.name }, c.counts[field]);
        },
      });
    counter('hits', 'Cache lookups answered from memory, by cache');
    counter('misses', 'Cache lookups not answered from memory, by cache');
    counter('loads', 'Database loads into a cache (concurrent misses of one key share one), by cache');
    counter('invalidations', 'Entries dropped by an invalidation (one per message, or per reset of the whole cache), by cache');
    new Gauge({
      name: 'neo_cache_entries',
      help: 'Entries held, by cache',
      labelNames: ['cache'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of bus.caches) this.set({ cache: c.name }, c.size);
      },
    });
    new Gauge({
      name: 'neo_cache_bus_up',
      help: 'Cache invalidation bus: 1 when subscribed (or process-local), 0 while down (caches then keep entries 1 s at most)',
      registers: [this.registry],
      collect() {
        this.set(bus.state === 'down' ? 0 : 1);
      },
    });
    new Counter({
      name: 'neo_cache_resets_total',
      help: 'Times every cache was emptied: each bus (re)subscription or loss, and each write by another process on SQLite',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(bus.resets);
      },
    });
  }

  /** Counts one resolution (neo_credential_resolves_total); bounded labels only. */
  countResolve(ownerType: string, provider: string, mode: string, outcome: string): void {
    this.resolveTally.add(`${ownerType} ${provider} ${mode} ${outcome}`, () => ({ owner_type: ownerType, provider, mode, outcome }));
  }

  /** Counts and times every request by its route pattern (never the raw URL). */
  instrument(app: FastifyInstance): void {
    app.addHook('onClose', async () => {
      this.loopDelay.disable();
    });
    // A callback hook, not an async one: no promise and no microtask per request.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const method = request.method;
      const status = reply.statusCode;
      this.requestTally.add(`${method} ${status} ${route}`, () => ({ method, route, status: String(status) }));
      this.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
      done();
    });
  }
}
