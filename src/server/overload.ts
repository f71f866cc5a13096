import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';

/** Routes that answer under pressure: liveness and the figures that explain the pressure. */
const ANSWERS_UNDER_PRESSURE = new Set(['/healthz', '/metrics']);

/**
 * Load shedding (@fastify/under-pressure): while the event loop's mean delay, the heap or
 * the RSS is over its threshold (config.overload, sampled every sampleIntervalMs), a
 * request gets 503 `unavailable` with Retry-After at once, before authentication or any
 * other work, instead of queueing behind the backlog. `/healthz` (liveness: restarting a
 * busy process helps nobody) and `/metrics` still answer; `/readyz` answers 503, so a
 * load balancer sends new traffic elsewhere until the instance recovers.
 * Registered after the security headers (the 503 carries them) and before authentication.
 */
export async function installOverload(app: FastifyInstance, config: Config): Promise<void> {
  const o = config.overload;
  const mb = (n: number) => n * 2 ** 20;
  await app.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    maxHeapUsedBytes: mb(o.maxHeapUsedMb),
    maxRssBytes: mb(o.maxRssMb),
    sampleInterval: o.sampleIntervalMs,
    // A rejected promise goes through the error handler: the contract's ErrorResponse.
    pressureHandler: async (request) => {
      if (ANSWERS_UNDER_PRESSURE.has(request.routeOptions.url ?? '')) return;
      throw new AppError('unavailable', 'the server is overloaded; retry the request', { retryAfter: o.retryAfterS });
    },
  });
}
