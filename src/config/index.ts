/**
 * Configuration: the only module that reads the environment. Every variable, its type,
 * default and description is in the schema (schema.ts); `loadConfig(env)` checks the
 * environment against it and throws a ConfigError listing every problem at once. Loading
 * writes nothing: the secrets a SQLite start may lack are generated beforehand by
 * `ensureSecrets` (secrets.ts, where every rule about secrets lives), which `neo-byok
 * serve` and the CLI call.
 */
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { processEnv, type Env } from './error.ts';
import { FORMATS, PROVIDER_URL_APIS, masterKey, providerUrlVar, type ProviderUrlName } from './schema.ts';
import { dataDirOf, readEnvAndSecrets } from './secrets.ts';

export { ConfigError, processEnv } from './error.ts';
export { EnvSchema, masterKey, normalizeAllowedHttpHost, type LogLevel, type ProviderUrlName, type TrustProxy } from './schema.ts';
export { ensureSecrets } from './secrets.ts';

/** The configuration; each field's meaning is the description of its variable in the schema. */
export type Config = ReturnType<typeof loadConfig>;
export type JwtConfig = Config['jwt'];
export type KeyHealthConfig = Config['keyHealth'];

/** Validates the environment once, without side effects; throws ConfigError listing every problem. */
export function loadConfig(env: Env = processEnv()) {
  const { v, secrets } = readEnvAndSecrets(env);
  const dataDir = dataDirOf(v);
  const providerUrls: Partial<Record<ProviderUrlName, string>> = {};
  for (const api of PROVIDER_URL_APIS) {
    const raw = (v as Record<string, unknown>)[providerUrlVar(api)] as string | undefined;
    if (raw) providerUrls[api] = FORMATS.url(raw);
  }
  return {
    port: v.PORT,
    host: v.HOST,
    dataDir,
    /** `sqlite:<path>` / plain path, `:memory:`, or `postgres://…`. */
    databaseUrl: v.NEO_DATABASE_URL ?? join(dataDir, 'neo.db'),
    databasePoolSize: v.NEO_DATABASE_POOL_SIZE,
    databaseTimeouts: {
      statementTimeoutMs: v.NEO_DATABASE_STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: v.NEO_DATABASE_LOCK_TIMEOUT_MS,
      idleInTransactionTimeoutMs: v.NEO_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    logLevel: v.NEO_LOG_LEVEL,
    jwt: {
      /** HS256 shared secret (bytes), when JWKS is not configured. */
      secret: secrets.jwtSecret === undefined ? undefined : new TextEncoder().encode(secrets.jwtSecret),
      jwksUrl: v.NEO_JWT_JWKS_URL && FORMATS.url(v.NEO_JWT_JWKS_URL),
      issuer: v.NEO_JWT_ISSUER,
      audience: v.NEO_JWT_AUDIENCE,
      allowMissingEmailVerified: v.NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED,
    },
    masterKey: secrets.masterKey,
    masterKeyPrevious: v.NEO_MASTER_KEY_PREVIOUS ? masterKey(v.NEO_MASTER_KEY_PREVIOUS) : undefined,
    internalToken: secrets.internalToken,
    byokDefault: v.NEO_BYOK_DEFAULT,
    providerUrls,
    azureAllowedHosts: (v.NEO_AZURE_ALLOWED_HOSTS ?? []).map((h) => h.toLowerCase()),
    providerTimeoutMs: v.NEO_PROVIDER_TIMEOUT_MS,
    redisUrl: v.NEO_REDIS_URL && FORMATS['redis-url'](v.NEO_REDIS_URL),
    corsOrigins: v.NEO_CORS_ORIGINS ?? [],
    rateLimit: {
      enabled: v.NEO_RATE_LIMIT,
      writesPerMinute: v.NEO_RATE_LIMIT_WRITES,
      providerCallsPerMinute: v.NEO_RATE_LIMIT_PROVIDER_CALLS,
      authFailuresPerMinute: v.NEO_RATE_LIMIT_AUTH_FAILURES,
    },
    overload: {
      maxEventLoopDelayMs: v.NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
      // Default: 90 % of V8's heap limit, where the process is close to dying of it.
      maxHeapUsedMb: v.NEO_OVERLOAD_MAX_HEAP_USED_MB ?? Math.floor((getHeapStatistics().heap_size_limit / 2 ** 20) * 0.9),
      maxRssMb: v.NEO_OVERLOAD_MAX_RSS_MB,
      sampleIntervalMs: v.NEO_OVERLOAD_SAMPLE_INTERVAL_MS,
      retryAfterS: v.NEO_OVERLOAD_RETRY_AFTER_S,
    },
    /** Fastify's `trustProxy`: false (the socket address), true (every proxy), a hop count, or trusted addresses/CIDRs. */
    trustProxy: FORMATS['trust-proxy'](v.NEO_TRUST_PROXY),
    keyHealth: {
      invalidAfterMs: v.NEO_KEY_INVALID_AFTER,
      recheckIntervalMs: v.NEO_KEY_RECHECK_INTERVAL,
      recheckConcurrency: v.NEO_KEY_RECHECK_CONCURRENCY,
      scheduler: v.NEO_KEY_RECHECK,
    },
    webhooks: {
      /** Canonical lower-case `host:port` pairs. */
      allowedHttpHosts: v.NEO_WEBHOOK_ALLOWED_HTTP_HOSTS ? FORMATS['host-ports'](v.NEO_WEBHOOK_ALLOWED_HTTP_HOSTS) : [],
      retryScheduleMs: FORMATS['retry-schedule'](v.NEO_WEBHOOK_RETRY_SCHEDULE),
      worker: v.NEO_WEBHOOK_DELIVERY,
    },
    maxConnections: v.NEO_MAX_CONNECTIONS,
    oidcIssuer: v.NEO_OIDC_ISSUER && FORMATS['oidc-issuer'](v.NEO_OIDC_ISSUER),
  };
}
