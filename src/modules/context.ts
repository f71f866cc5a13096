/**
 * What the composition root (src/app.ts) hands each module's factory (`<domain>.module.ts`):
 * configuration, database, cache bus, metrics, the app's logger, the clock and outbound
 * HTTP. A factory takes what its services use from here, and the services of the other
 * modules it depends on as arguments.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/index.ts';
import type { Db, Dialect } from '../db/index.ts';
import type { CacheBus } from '../lib/bus.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { LookupFn } from './webhooks/safe-http.ts';

export interface ModuleContext {
  config: Config;
  db: Db;
  dialect: Dialect;
  bus: CacheBus;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** Outbound HTTP for provider calls and cloud exchanges (tests may wrap it to observe calls). */
  fetch: typeof fetch;
  clock?: () => number;
  /** DNS for webhook URLs, at creation and at delivery (tests answer it; the system resolver when not given). */
  webhookLookup?: LookupFn;
}

/** A module's background work: started when the app is ready, stopped before it closes. */
export interface BackgroundJobs {
  start(): void;
  stop(): Promise<void>;
}

/** `{ clock }` when the context has one (optional properties are never set to undefined). */
export const clockOption = (ctx: Pick<ModuleContext, 'clock'>): { clock?: () => number } => (ctx.clock ? { clock: ctx.clock } : {});
