/** Prometheus metrics (GET /metrics). Labels never carry a secret, only ids and names. */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly resolves: Counter<'owner_type' | 'owner_id' | 'provider' | 'mode' | 'outcome'>;
  readonly providerChecks: Counter<'provider' | 'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({
      name: 'neo_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'neo_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    this.resolves = new Counter({
      name: 'neo_credential_resolves_total',
      help: 'Credential resolutions by owner, provider, mode and outcome',
      labelNames: ['owner_type', 'owner_id', 'provider', 'mode', 'outcome'],
      registers: [this.registry],
    });
    this.providerChecks = new Counter({
      name: 'neo_provider_checks_total',
      help: 'Provider key checks by provider and outcome',
      labelNames: ['provider', 'outcome'],
      registers: [this.registry],
    });
  }

  /** Counts and times every request by its route pattern (never the raw URL). */
  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }
}
