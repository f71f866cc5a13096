/**
 * The composition root: `buildApp(deps)` wires services and routes into a Fastify app
 * without listening. `src/cli/serve.ts` alone reads the configuration and listens;
 * tests build the same app with test dependencies.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/index.ts';
import type { DatabaseHandle } from '../db/index.ts';
import { LocalBus, type CacheBus } from '../lib/bus.ts';
import { Metrics } from '../lib/metrics.ts';
import { AuthService } from '../modules/auth/auth.service.ts';
import { FeaturesService } from '../modules/features/features.service.ts';
import { healthRoutes } from '../modules/health/health.routes.ts';
import { installAuth } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { openapiOptions } from './openapi.ts';
import { ErrorResponse } from './schemas.ts';
import { validatorCompiler } from './validation.ts';

export interface AppDeps {
  config: Config;
  database: DatabaseHandle;
  /** Cross-instance cache invalidation; a process-local bus when not given. */
  bus?: CacheBus;
  clock?: () => number;
  /** Outbound HTTP for provider checks (tests may wrap it to observe calls). */
  fetch?: typeof fetch;
  /** Where logs go (tests capture them); stdout when not given. */
  logStream?: NodeJS.WritableStream;
  /** Turn logging off entirely (tests that do not inspect logs). */
  quiet?: boolean;
}

export interface Services {
  auth: AuthService;
  features: FeaturesService;
  metrics: Metrics;
  bus: CacheBus;
}

export type App = FastifyInstance;
export type TypedApp = ReturnType<FastifyInstance['withTypeProvider']> & FastifyInstance;

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's services (for the CLI, benchmarks and tests). */
    services: Services;
  }
}

export const BODY_LIMIT = 64 * 1024;
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Secrets never reach the logs: these paths are censored wherever they appear. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'api_key',
  'body.api_key',
  'credential',
  'token',
  'key',
];

function loggerOptions(deps: AppDeps): FastifyServerOptions['logger'] {
  if (deps.quiet) return false;
  return {
    level: deps.config.logLevel,
    redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // Method, route and id only: never headers or bodies.
      req: (req: { method: string; url: string; id: string }) => ({
        method: req.method,
        url: req.url.split('?')[0],
        id: req.id,
      }),
    },
    ...(deps.logStream ? { stream: deps.logStream } : {}),
  };
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, database } = deps;
  const bus = deps.bus ?? new LocalBus();
  const app = Fastify({
    logger: loggerOptions(deps),
    bodyLimit: BODY_LIMIT,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    ajv: { customOptions: { strict: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.addSchema(ErrorResponse);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('X-Request-Id', request.id);
  });
  installErrorHandling(app);

  const metrics = new Metrics();
  const auth = new AuthService({ db: database.db, jwt: config.jwt, bus, ...(deps.clock ? { clock: deps.clock } : {}) });
  // Services (composition root): each gets exactly what it uses.
  const features = new FeaturesService({ db: database.db, bus, defaults: { byok: config.byokDefault }, ...(deps.clock ? { clock: deps.clock } : {}) });
  const services: Services = { auth, features, metrics, bus };
  // @services-end
  app.decorate('services', services);
  installAuth(app, auth, config.internalToken);
  metrics.instrument(app);

  await app.register(swagger, openapiOptions());
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true }, staticCSP: false });

  // Routes.
  await app.register(healthRoutes, { database, metrics });
  // @routes-end
  void services;

  app.addHook('onClose', async () => {
    await bus.close();
  });
  return app;
}
