/**
 * The composition root: `buildApp(deps)` wires services and routes into a Fastify app
 * without listening. `src/cli/serve.ts` alone reads the configuration and listens;
 * tests build the same app with test dependencies.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import underPressure from '@fastify/under-pressure';
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
import { ByokService } from './modules/byok/byok.service.ts';
import { isStoredEndpoint } from './providers/azure-foundry/index.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import { ModelsService } from './modules/models/models.service.ts';
import { modelsRoutes } from './modules/models/models.routes.ts';
import { UsersService } from './modules/users/users.service.ts';
import { usersRoutes } from './modules/users/users.routes.ts';
import { ResolveService } from './modules/internal/resolve.service.ts';
import { ShortLivedCredentials } from './modules/internal/short-lived.ts';
import { resolveRoutes } from './modules/internal/resolve.routes.ts';
import { resolveBatchRoutes } from './modules/internal/resolve-batch.routes.ts';
import { ResolveBatchService } from './modules/internal/resolve-batch.service.ts';
import { keyHealthRoutes } from './modules/keyhealth/keyhealth.routes.ts';
import { KeyHealthScheduler } from './modules/keyhealth/keyhealth.scheduler.ts';
import { KeyHealthService } from './modules/keyhealth/keyhealth.service.ts';
import { UsageRecorder } from './modules/keyhealth/usage.ts';
import { OidcIssuer } from './modules/oidc/issuer.ts';
import { oidcRoutes } from './modules/oidc/oidc.routes.ts';
import { federationRoutes } from './modules/oidc/federation.routes.ts';
import { webhooksRoutes } from './modules/webhooks/webhooks.routes.ts';
import { WebhooksService } from './modules/webhooks/webhooks.service.ts';
import type { LookupFn } from './modules/webhooks/safe-http.ts';
import { WebhookWorker } from './modules/webhooks/webhooks.worker.ts';
import { webRoutes } from './web/web.routes.ts';
import { installAuth } from './http/auth.ts';
import { OneLineRequestLog, requestLoggerFactory } from './http/request-log.ts';
import { installErrorHandling, sendError, toAppError } from './http/errors.ts';
import { openapiOptions } from './http/openapi.ts';
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
    ...(deps.logStream ? { stream: deps.logStream } : {}),
  };
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, database } = deps;
  const bus = deps.bus ?? new LocalBus();
  const app = Fastify({
    logger: loggerOptions(deps),
    logController: new OneLineRequestLog(),
    // Per-request loggers without a pino child each (src/http/request-log.ts).
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
  const auth = new AuthService({ db: database.db, dialect: database.dialect, jwt: config.jwt, bus, ...(deps.clock ? { clock: deps.clock } : {}) });
  // Services (composition root): each gets exactly what it uses.
  const features = new FeaturesService({ db: database.db, dialect: database.dialect, bus, defaults: { byok: config.byokDefault }, ...(deps.clock ? { clock: deps.clock } : {}) });
  // The master key must be the one this database was encrypted with: a clear startup error otherwise.
  await KeyVault.verifyMasterKey(database.db, config.masterKey, config.masterKeyPrevious);
  const vault = new KeyVault({
    db: database.db,
    masterKey: config.masterKey,
    ...(config.masterKeyPrevious ? { masterKeyPrevious: config.masterKeyPrevious } : {}),
    bus,
    ...(deps.clock ? { clock: deps.clock } : {}),
    // A key is handed out only for an Azure endpoint that passes the host rules again.
    acceptsLocation: (provider, location) => provider !== 'azure-foundry' || isStoredEndpoint(location, config.azureAllowedHosts),
  });
  const providers = createProviderRegistry({ azureAllowedHosts: config.azureAllowedHosts });
  const oidc = new OidcIssuer({
    db: database.db,
    ...(config.oidcIssuer ? { issuer: config.oidcIssuer } : {}),
    masterKey: config.masterKey,
    ...(config.masterKeyPrevious ? { masterKeyPrevious: config.masterKeyPrevious } : {}),
    bus,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const byok = new ByokService({
    db: database.db,
    dialect: database.dialect,
    vault,
    providers,
    features,
    bus,
    fetch: deps.fetch ?? globalThis.fetch,
    providerUrls: config.providerUrls,
    providerTimeoutMs: config.providerTimeoutMs,
    metrics,
    log: app.log,
    recheckIntervalMs: config.keyHealth.recheckIntervalMs,
    ...(deps.clock ? { clock: deps.clock } : {}),
    // Cached mode and keys for GET /byok/mode (`models` is built below; called per request).
    ownerState: (owner) => models.ownerState(owner),
    oidc,
  });
  const apiKeys = new ApiKeysService({ db: database.db, dialect: database.dialect, bus, ...(deps.clock ? { clock: deps.clock } : {}) });
  const teams = new TeamsService({
    db: database.db,
    dialect: database.dialect,
    invalidateUser: (id) => auth.invalidateUser(id),
    invalidateTeam: (id) => bus.publish('team', id),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const models = new ModelsService({ db: database.db, dialect: database.dialect, bus, features, ...(deps.clock ? { clock: deps.clock } : {}) });
  const users = new UsersService({ db: database.db, dialect: database.dialect, features, models, bus });
  const keyHealth = new KeyHealthService({
    db: database.db,
    dialect: database.dialect,
    bus,
    config: config.keyHealth,
    decrypt: (owner, provider, ciphertext, location) => vault.decrypt(owner, provider, ciphertext, location),
    check: (provider, apiKey, location, owner) => byok.checkCredential(provider, apiKey, location, owner),
    providerCallsPerMinute: config.rateLimit.providerCallsPerMinute,
    metrics,
    log: app.log,
    keyView: (owner, provider) => byok.keyView(owner, provider),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const keyHealthScheduler = new KeyHealthScheduler(keyHealth, { log: app.log });
  metrics.keyStatusSource = () => keyHealth.repo.countByStatus();
  // last_used_at: noted in memory by resolve, written in one batch by a timer (never on the request path).
  const usage = new UsageRecorder(keyHealth.repo, {
    ...(deps.clock ? { clock: deps.clock } : {}),
    onError: (err) => app.log.warn({ event: 'key_health.last_used_write_failed', err: (err as Error)?.name }, 'last_used_at write failed'),
  });
  // Keyless connections and short_lived resolve: short-lived cloud credentials, cached per owner, refreshed in the background.
  const shortLived = new ShortLivedCredentials({
    providers,
    oidc,
    decrypt: (owner, provider, ciphertext, location) => vault.decrypt(owner, provider, ciphertext, location),
    fetch: deps.fetch ?? globalThis.fetch,
    providerUrls: config.providerUrls,
    providerTimeoutMs: config.providerTimeoutMs,
    log: app.log,
    metrics,
    bus,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const resolver = new ResolveService({ auth, models, vault, metrics, usage, shortLived });
  const resolveBatch = new ResolveBatchService({ auth, models, vault, metrics, usage, shortLived });
  const webhookWorker = new WebhookWorker({
    db: database.db,
    dialect: database.dialect,
    vault,
    allowedHttpHosts: config.webhooks.allowedHttpHosts,
    retryScheduleMs: config.webhooks.retryScheduleMs,
    metrics,
    log: app.log,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.webhookLookup ? { lookup: deps.webhookLookup } : {}),
  });
  const webhooks = new WebhooksService({
    db: database.db,
    dialect: database.dialect,
    vault,
    byok,
    allowedHttpHosts: config.webhooks.allowedHttpHosts,
    onDue: () => webhookWorker.wake(),
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.webhookLookup ? { lookup: deps.webhookLookup } : {}),
  });
  metrics.webhookQueueSource = () => webhooks.repo.queueState();
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

  app.addHook('onReady', async () => {
    usage.start();
    shortLived.start();
    if (config.keyHealth.scheduler) keyHealthScheduler.start();
    if (config.webhooks.worker) webhookWorker.start();
  });
  app.addHook('preClose', async () => {
    await keyHealthScheduler.stop();
    await webhookWorker.stop();
    await usage.stop();
    await shortLived.stop();
  });
  app.addHook('onClose', async () => {
    await bus.close();
  });
  return app;
}

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
async function installOverload(app: FastifyInstance, config: Config): Promise<void> {
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
