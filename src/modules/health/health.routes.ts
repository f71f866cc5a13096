import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { DatabaseHandle } from '../../db/index.ts';
import { AppError } from '../../errors/index.ts';
import type { CacheBus } from '../../lib/bus.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { errorResponses } from '../../http/schemas.ts';

const Status = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });
const Readiness = Type.Object(
  {
    status: Type.Literal('ok'),
    cache_bus: Type.Union([Type.Literal('local'), Type.Literal('up'), Type.Literal('down')], {
      description:
        'Cache invalidation bus: `up` (subscribed), `down` (reconnecting: changes made on other instances are seen within 1 s instead of at once) or `local` (one instance). `down` does not make the instance unready.',
    }),
  },
  { additionalProperties: false },
);

export const healthRoutes: FastifyPluginAsync<{ database: DatabaseHandle; metrics: Metrics; bus: CacheBus }> = async (app, opts) => {
  app.get(
    '/healthz',
    {
      config: { auth: 'public' },
      schema: { tags: ['Operations'], summary: 'Liveness: the process is up', operationId: 'get-healthz', response: { 200: Status } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['Operations'],
        summary: 'Readiness: the database answers; reports the cache bus state',
        operationId: 'get-readyz',
        response: { 200: Readiness, ...errorResponses() },
      },
    },
    async () => {
      try {
        await opts.database.ping();
      } catch (err) {
        throw new AppError('unavailable', 'the database is unreachable', { retryAfter: 5, cause: err });
      }
      // A bus that is down leaves the instance ready: its caches then keep entries for
      // 1 s at most, so its answers stay correct; failing readiness would turn a blip of
      // Redis or of the LISTEN connection into an outage of every instance.
      return { status: 'ok' as const, cache_bus: opts.bus.state };
    },
  );

  app.get(
    '/metrics',
    {
      // Metrics name owners and providers, so they need the internal service token.
      config: { auth: 'internal' },
      schema: {
        tags: ['Operations'],
        summary: 'Prometheus metrics (internal service token)',
        security: [{ InternalToken: [] }],
        operationId: 'get-metrics',
        // Only the 200 is text: errors stay application/json ErrorResponses.
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses(401),
        },
      },
    },
    async (_request, reply) => {
      void reply.type(opts.metrics.registry.contentType);
      return opts.metrics.registry.metrics();
    },
  );

  app.get('/api/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
};
