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
import type { Config } from './config/index.ts';
import { AppError } from './errors/index.ts';
import type { DatabaseHandle } from './db/index.ts';
import { LocalBus, type CacheBus } from './lib/bus.ts';
import { Metrics } from './lib/metrics.ts';
import { AuthService } from './modules/auth/auth.service.ts';
import { FeaturesService } from './modules/features/features.service.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { apiKeysRoutes } from './modules/apikeys/apikeys.routes.ts';
import { ApiKeysService } from './modules/apikeys/apikeys.service.ts';
import { teamsRoutes } from './modules/teams/teams.routes.ts';
import { TeamsService } from './modules/teams/teams.service.ts';
import { KeyVault } from './crypto/vault.ts';
import { byokRoutes } from './modules/byok/byok.routes.ts';
import { createByok } from './modules/byok/byok.module.ts';
import type { ByokService } from './modules/byok/byok.service.ts';
import { clockOption, type ModuleContext } from './modules/context.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import { ModelsService } from './modules/models/models.service.ts';
import { modelsRoutes } from './modules/models/models.routes.ts';
import { UsersService } from './modules/users/users.service.ts';
import { usersRoutes } from './modules/users/users.routes.ts';
import { resolveRoutes } from './modules/internal/resolve.routes.ts';
import { resolveBatchRoutes } from './modules/internal/resolve-batch.routes.ts';
import { createResolver } from './modules/internal/internal.module.ts';
import type { ResolveService } from './modules/internal/resolve.service.ts';
import type { ShortLivedCredentials } from './modules/internal/short-lived.ts';
import { keyHealthRoutes } from './modules/keyhealth/keyhealth.routes.ts';
import { createKeyHealth } from './modules/keyhealth/keyhealth.module.ts';
import type { KeyHealthScheduler } from './modules/keyhealth/keyhealth.scheduler.ts';
import type { KeyHealthService } from './modules/keyhealth/keyhealth.service.ts';
import type { UsageRecorder } from './modules/keyhealth/usage.ts';
import type { OidcIssuer } from './modules/oidc/issuer.ts';
import { createOidcIssuer } from './modules/oidc/oidc.module.ts';
import { oidcRoutes } from './modules/oidc/oidc.routes.ts';
import { federationRoutes } from './modules/oidc/federation.routes.ts';
import { webhooksRoutes } from './modules/webhooks/webhooks.routes.ts';
import { createWebhooks } from './modules/webhooks/webhooks.module.ts';
import type { WebhooksService } from './modules/webhooks/webhooks.service.ts';
import type { WebhookWorker } from './modules/webhooks/webhooks.worker.ts';
import type { LookupFn } from './modules/webhooks/safe-http.ts';
import { webRoutes } from './web/web.routes.ts';
import { installAuth } from './http/auth.ts';
import { OneLineRequestLog, requestLoggerFactory } from './server/request-log.ts';
import { stdoutDestination } from './server/log-destination.ts';
import { installErrorHandling, sendError, toAppError } from './http/errors.ts';
import { openapiOptions } from './server/openapi.ts';
import { installOverload } from './server/overload.ts';
import {
  CONNECTIONS_CHECKING_INTERVAL_MS,
  DOCS_CSP,
  HEADERS_TIMEOUT_MS,
  installSecurity,
  transportErrorHandler,
  trustProxyOption,
} from './http/security.ts';
import { addFrameworkErrorResponses, ErrorResponse } from './http/schemas.ts';
import { buildStrictValidator } from './http/validation.ts';

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
  /** DNS for webhook URLs, at creation and at delivery (tests answer it; the system resolver when not given). */
  webhookLookup?: LookupFn;
}

export interface Services {
  auth: AuthService;
  features: FeaturesService;
  metrics: Metrics;
  bus: CacheBus;
  vault: KeyVault;
  providers: ProviderRegistry;
  byok: ByokService;
  apiKeys: ApiKeysService;
  teams: TeamsService;
  models: ModelsService;
  users: UsersService;
  resolver: ResolveService;
  keyHealth: KeyHealthService;
  keyHealthScheduler: KeyHealthScheduler;
  usage: UsageRecorder;
  /** The service as an OpenID Connect issuer (keyless cloud connections, docs/keyless-cloud.md). */
  oidc: OidcIssuer;
  shortLived: ShortLivedCredentials;
  webhooks: WebhooksService;
  webhookWorker: WebhookWorker;
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
    // Standard output, one synchronous write per line, unless a stream is given (src/server/log-destination.ts).
    stream: deps.logStream ?? stdoutDestination(),
  };
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, database } = deps;
  const bus = deps.bus ?? new LocalBus();
  const app = Fastify({
    logger: loggerOptions(deps),
    logController: new OneLineRequestLog(),
    // Per-request loggers without a pino child each (src/server/request-log.ts).
    childLoggerFactory: requestLoggerFactory,
    bodyLimit: BODY_LIMIT,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    trustProxy: trustProxyOption(config.trustProxy),
    // Requests that arrive while closing get the contract's 503 from the hook below.
    return503OnClosing: false,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    // Timeouts enforced every second, not every 30 s; headers within 5 s (src/http/security.ts).
    http: { connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS, headersTimeout: HEADERS_TIMEOUT_MS },
    // Errors of Node's HTTP parser (431, 400, 408) answer the contract's ErrorResponse.
    clientErrorHandler: transportErrorHandler,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    ajv: { customOptions: { strict: false } },
    // Strict body validation in every plugin context (see src/http/validation.ts).
    schemaController: { compilersFactory: { buildValidator: buildStrictValidator } },
    // Router-level failures (malformed %-encoding, over-long path parameters) bypass the
    // error handler; they answer the contract's ErrorResponse too (found by test/fuzz.test.ts).
    frameworkErrors: (err, request, reply) => {
      void reply.header('X-Request-Id', request.id);
      void sendError(reply, request, toAppError(err));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorResponse);
  // Before any route (and before @fastify/swagger collects them): framework answers are documented.
  app.addHook('onRoute', addFrameworkErrorResponses);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // A callback hook, not an async one: no promise and no microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    if (closing) {
      // A request on a kept-alive connection during shutdown: tell the client to go elsewhere.
      void reply.header('Connection', 'close');
      done(new AppError('unavailable', 'the server is shutting down; retry the request', { retryAfter: 1 }));
      return;
    }
    // Before any cached entry is used: SQLite's data_version, so that a change another
    // process (the CLI) committed is seen by the next request (src/db/notify.ts).
    bus.sync();
    done();
  });
  installErrorHandling(app);

  const metrics = new Metrics();
  metrics.observeCaches(bus);
  // Services (composition root): each module's factory takes from the context what its services use.
  const ctx: ModuleContext = {
    config,
    db: database.db,
    dialect: database.dialect,
    bus,
    metrics,
    log: app.log,
    fetch: deps.fetch ?? globalThis.fetch,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.webhookLookup ? { webhookLookup: deps.webhookLookup } : {}),
  };
  const base = { db: database.db, dialect: database.dialect, bus, ...clockOption(ctx) };
  const auth = new AuthService({ ...base, jwt: config.jwt });
  const features = new FeaturesService({ ...base, defaults: { byok: config.byokDefault } });
  const vault = await KeyVault.open({ db: database.db, config, bus, ...clockOption(ctx) });
  const providers = createProviderRegistry({ azureAllowedHosts: config.azureAllowedHosts });
  const oidc = createOidcIssuer(ctx);
  const byok = createByok(ctx, { vault, providers, features, oidc, models: () => models });
  const apiKeys = new ApiKeysService(base);
  const teams = new TeamsService({
    db: database.db,
    dialect: database.dialect,
    invalidateUser: (id) => auth.invalidateUser(id),
    invalidateTeam: (id) => bus.publish('team', id),
    ...clockOption(ctx),
  });
  const models = new ModelsService({ ...base, features });
  const users = new UsersService({ db: database.db, dialect: database.dialect, features, models, bus });
  const { keyHealth, keyHealthScheduler, usage, jobs: keyHealthJobs } = createKeyHealth(ctx, { vault, byok });
  const { resolver, resolveBatch, shortLived, jobs: shortLivedJobs } = createResolver(ctx, { auth, models, vault, providers, oidc, usage });
  const { webhooks, webhookWorker, jobs: webhookJobs } = createWebhooks(ctx, { vault, byok });
  const services: Services = { auth, features, metrics, bus, vault, providers, byok, apiKeys, teams, models, users, resolver, keyHealth, keyHealthScheduler, usage, oidc, shortLived, webhooks, webhookWorker };
  // @services-end
  app.decorate('services', services);
  // Headers, CORS and rate limits first: the per-IP limit on failed authentication hooks into auth.
  const authHooks = await installSecurity(app, { config });
  await installOverload(app, config);
  installAuth(app, auth, config.internalToken, authHooks);
  metrics.instrument(app);

  await app.register(swagger, openapiOptions());
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true }, staticCSP: DOCS_CSP });

  // Routes.
  await app.register(healthRoutes, { database, metrics, bus });
  await app.register(byokRoutes, { byok, health: keyHealth });
  await app.register(apiKeysRoutes, { apiKeys });
  await app.register(teamsRoutes, { teams });
  await app.register(modelsRoutes, { models });
  await app.register(usersRoutes, { users });
  await app.register(resolveRoutes, { resolver });
  await app.register(resolveBatchRoutes, { batch: resolveBatch });
  await app.register(keyHealthRoutes, { health: keyHealth });
  await app.register(oidcRoutes, { issuer: oidc });
  await app.register(federationRoutes, { issuer: oidc, authorize: (p) => byok.authorizeManage(p) });
  await app.register(webhooksRoutes, { byok, webhooks });
  await app.register(webRoutes);
  // @routes-end

  const background = [keyHealthJobs, shortLivedJobs, webhookJobs];
  app.addHook('onReady', async () => {
    for (const jobs of background) jobs.start();
  });
  app.addHook('preClose', async () => {
    for (const jobs of background) await jobs.stop();
  });
  app.addHook('onClose', async () => {
    await bus.close();
  });
  return app;
}
