/**
 * HTTP hygiene and abuse limits, installed once by `buildApp` (docs/security.md):
 *
 * - security headers (helmet, built once) with a CSP equal to the settings page's own, so
 *   every response, including the page, passes it; `/docs` gets `DOCS_CSP`;
 * - CORS only when NEO_CORS_ORIGINS lists origins (exact matches, no credentials);
 * - `Cache-Control: no-store` on API responses (they may carry a key shown once);
 * - rate limits (@fastify/rate-limit, in memory or shared through Redis):
 *   writes per principal, provider-calling operations per principal (stricter), and
 *   failed authentications per client IP. Every 429 is the contract's ErrorResponse
 *   with code `rate_limited` and `Retry-After`.
 *
 * - transport errors (431, 400, 408 answered by Node's parser) as ErrorResponses, the
 *   headers timeout (5 s, enforced every second) and a cap on open connections.
 *
 * Body limit, request timeouts and the X-Request-Id format are set in `buildApp`.
 */
import cors from '@fastify/cors';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import helmet from 'helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Config, TrustProxy } from '../config/index.ts';
import { createRedis } from '../lib/redis.ts';
import { AppError, errorBody } from '../errors/index.ts';
import type { AuthHooks } from './auth.ts';

/** The CSP of every response: the settings page's own policy (it sets the same header). */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
};

/**
 * The CSP of the interactive API reference (`/docs`, swagger-ui). Its scripts are
 * same-origin files, but React renders `style` attributes, so styles need
 * 'unsafe-inline'; nothing else is loosened (checked in a real browser by
 * test/hardening-http.test.ts).
 */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** No powerful browser feature is used by any page of this service. */
export const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=()';

const WINDOW_MS = 60_000;
/**
 * A connection's request headers must be complete within 5 s of its first byte (of the
 * connection, for a new one): a silent or header-trickling socket is closed with a 408.
 */
export const HEADERS_TIMEOUT_MS = 5_000;
/**
 * How often Node enforces headersTimeout and requestTimeout. With its default (30 s) a
 * silent or trickling socket could outlive its timeout by up to that interval.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
const TRANSPORT_ERRORS: Record<string, () => AppError> = {
  HPE_HEADER_OVERFLOW: () => new AppError('request_headers_too_large', 'the request headers are larger than 16 KiB'),
  ERR_HTTP_REQUEST_TIMEOUT: () =>
    new AppError('request_timeout', `the request did not arrive in time (headers within ${HEADERS_TIMEOUT_MS / 1000} s, the whole request within 30 s)`),
};
const malformed = () => new AppError('invalid_request', 'the request is malformed (request line, headers or message framing)');
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Operations that make a live provider call: key saves, validations and "check now". */
const PROVIDER_CALL_ROUTE = /^\/api\/v1\/byok\/providers\/[^/]+(\/validate|\/check)?$/;

export interface SecurityDeps {
  config: Config;
  /** A shared Redis client for the limits; one is made from config.redisUrl when absent. */
  redis?: Redis;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * Fastify's `trustProxy` for NEO_TRUST_PROXY. A hop count becomes a trust function (the
 * `n` hops nearest the socket are proxies), because Fastify 5.12 ignores a numeric
 * `trustProxy` (it fails closed), which would silently give every client the proxy's
 * address. Like any hop count it is only safe when clients cannot reach the server
 * around the proxies (docs/configuration.md); an address list is checked per hop.
 */
export function trustProxyOption(tp: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof tp === 'number') return (_address, hop) => hop < tp;
  return tp;
}

function limited(detail: string, ttlMs: number): AppError {
  return new AppError('rate_limited', detail, { retryAfter: Math.max(1, Math.ceil(ttlMs / 1000)) });
}

/**
 * Fastify's `clientErrorHandler`: the errors Node's HTTP parser meets before any route
 * (headers too large, a malformed request line or header, a duplicate Content-Length,
 * a request timeout) answer the contract's ErrorResponse (431 `request_headers_too_large`,
 * 408 `request_timeout`, 400 `invalid_request`) with an error_id sent as X-Request-Id,
 * then the connection closes. `this` is the Fastify instance (for its logger).
 */
export function transportErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const appErr = ((err.code && TRANSPORT_ERRORS[err.code]) || malformed)();
  const id = randomUUID();
  const body = JSON.stringify(errorBody(appErr, id));
  this.log.debug({ error_id: id, status: appErr.status, err: { code: err.code } }, 'transport error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${appErr.status} ${STATUS_CODES[appErr.status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${id}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The headers helmet sets with these options (helmet's own code decides them, once). */
function helmetHeaders(options: Parameters<typeof helmet>[0]): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    failure = err;
  });
  if (failure) throw failure instanceof Error ? failure : new Error('helmet failed');
  return headers;
}

/**
 * Registers headers, CORS and rate limits. Call it before `installAuth` and pass the
 * returned hooks to it, so failed authentications are counted per client IP.
 */
export async function installSecurity(app: FastifyInstance, deps: SecurityDeps): Promise<AuthHooks> {
  const { config } = deps;

  // helmet's headers are computed ONCE here and set on every reply (@fastify/helmet
  // rebuilt helmet's middleware, parsing the CSP directives, on every request; the cost
  // is in docs/benchmarks.md). A route may still replace a header (the /docs CSP).
  const securityHeaders = helmetHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    crossOriginEmbedderPolicy: false,
  });
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(securityHeaders);
    done();
  });

  if (config.corsOrigins.length > 0) {
    const allowed = new Set(config.corsOrigins);
    await app.register(cors, {
      // Exact origins only; no cookies are used, so credentials stay off.
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'X-Api-Key', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      credentials: false,
      maxAge: 600,
    });
  }

  // JSON only: without Fastify's text/plain parser every other body is a 415 (and no
  // "simple" cross-site form/text request can reach a handler with a body).
  app.removeContentTypeParser('text/plain');
  // Slow clients: the headers must arrive within 5 s (the whole request within the
  // requestTimeout set in buildApp), checked every second (connectionsCheckingInterval).
  app.server.headersTimeout = Math.min(HEADERS_TIMEOUT_MS, app.server.requestTimeout || HEADERS_TIMEOUT_MS);
  // A cap on open connections (each holds a file descriptor): past it Node closes new
  // connections at once, so one client cannot take every descriptor; per-address limits
  // belong to a proxy in front (docs/deployment.md).
  app.server.maxConnections = config.maxConnections;
  let lastDropWarning = 0;
  app.server.on('drop', (data?: { remoteAddress?: string }) => {
    if (Date.now() - lastDropWarning < 10_000) return;
    lastDropWarning = Date.now();
    app.log.warn(
      { event: 'connection_limit', max_connections: config.maxConnections, remote_address: data?.remoteAddress },
      'connection refused: NEO_MAX_CONNECTIONS open connections reached (one warning per 10 s)',
    );
  });

  // Callback hooks here and below, not async ones: no promise and no microtask per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    const url = request.routeOptions.url ?? request.url;
    if ((url.startsWith('/api/v1') || url.startsWith('/internal/')) && !reply.hasHeader('cache-control')) {
      void reply.header('Cache-Control', 'no-store');
    }
    if (!reply.hasHeader('permissions-policy')) void reply.header('Permissions-Policy', PERMISSIONS_POLICY);
    done(null, payload);
  });

  if (!config.rateLimit.enabled) return {};

  let redis = deps.redis;
  if (!redis && config.redisUrl) {
    // A Redis outage must not hold requests: commands fail fast, then the limits fail open.
    const client = createRedis(config.redisUrl, { commandTimeout: 1000 });
    let lastWarn = 0;
    client.on('error', (err: Error) => {
      if (Date.now() - lastWarn < 10_000) return;
      lastWarn = Date.now();
      app.log.warn({ err: { message: err.message } }, 'rate-limit Redis unreachable; limits are not enforced meanwhile');
    });
    app.addHook('onClose', async () => {
      client.disconnect();
    });
    redis = client;
  }

  await app.register(rateLimit, {
    global: false,
    // Fail open: a store outage must not turn into an API outage (docs/security.md).
    skipOnError: true,
    nameSpace: 'neo-byok-rl:',
    ...(redis ? { redis } : {}),
  });

  const principalKey = (prefix: string) => (req: FastifyRequest) => `${prefix}:${req.principal?.user.id ?? req.ip}`;
  const writes: Limiter = app.createRateLimit({
    max: config.rateLimit.writesPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: principalKey('w'),
  });
  const providerCalls: Limiter = app.createRateLimit({
    max: config.rateLimit.providerCallsPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: principalKey('p'),
  });
  const authFailures: Limiter = app.createRateLimit({
    max: config.rateLimit.authFailuresPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: (req) => `a:${req.ip}`,
  });
  // Client IPs already reported over the failed-authentication limit in this window
  // (one warning per address and window, not one per refused attempt).
  const warned = new LRUCache<string, true>({ max: 100_000 });

  // After authentication (all onRequest hooks) and before the body is read.
  app.addHook('preParsing', (request, reply, payload, done) => {
    // Reads and service calls (resolve: no principal) pass at once, without a promise.
    if (!WRITE_METHODS.has(request.method) || !request.principal) return done(null, payload);
    limitWrites(request, reply).then(
      () => done(null, payload),
      (err: unknown) => done(err as Error),
    );
  });
  const limitWrites = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!request.principal) return;
    const route = request.routeOptions.url ?? '';
    const checks: [Limiter, string][] = [[writes, 'too many write requests']];
    if (PROVIDER_CALL_ROUTE.test(route) && (request.method === 'PATCH' || route.endsWith('/validate') || route.endsWith('/check'))) {
      checks.push([providerCalls, 'too many provider key checks (saves, validations and checks)']);
    }
    for (const [limiter, detail] of checks) {
      const r = await limiter(request);
      if (r.isAllowed) continue;
      void reply.header('X-RateLimit-Limit', String(r.max));
      void reply.header('X-RateLimit-Remaining', String(r.remaining));
      void reply.header('X-RateLimit-Reset', String(r.ttlInSeconds));
      if (r.isExceeded) {
        request.log.warn({ limit: detail, user_id: request.principal.user.id }, 'rate limited');
        throw limited(`${detail}; retry later`, r.ttl);
      }
    }
  };

  return {
    onFailure: async (request, err) => {
      // Only refused credentials count, not an unreachable database.
      if (!(err instanceof AppError) || err.code !== 'unauthorized') return;
      // Only a FAILED attempt is ever refused with 429: valid credentials from the same
      // address always pass (behind a proxy without NEO_TRUST_PROXY every client shares
      // one address, and one guesser must not lock them all out). The count is shared
      // through Redis when configured, so failures on every instance add up.
      const r = await authFailures(request);
      if (r.isAllowed || !r.isExceeded) return;
      if (!warned.get(request.ip)) {
        request.log.warn({ limit: 'auth_failures', ip: request.ip }, 'rate limited');
        warned.set(request.ip, true, { ttl: r.ttl });
      }
      throw limited('too many failed authentication attempts from this address', r.ttl);
    },
  };
}
