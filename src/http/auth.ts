/**
 * Route-level authentication. Every route declares `config.auth`:
 * `user` (Bearer JWT or X-Api-Key; the default for /api/v1 routes),
 * `internal` (the service token of NEO_INTERNAL_TOKEN only) or `public`.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unauthorized } from '../errors/index.ts';
import { isPending, type Now } from '../lib/cache.ts';
import type { TeamRole, UserRow } from '../db/schema.ts';

export type AuthMode = 'user' | 'internal' | 'public';

export interface Membership {
  teamId: string;
  role: TeamRole;
}

export interface Principal {
  user: UserRow;
  via: 'jwt' | 'apikey';
  /** The caller's active team membership, or null for a solo user. */
  membership: Membership | null;
}

/** What authenticates a user route's credentials: the principal itself on a warm cache, else a promise (src/lib/cache.ts). */
export interface Authenticator {
  authenticateJwtNow(token: string): Now<Principal>;
  authenticateApiKeyNow(key: string): Now<Principal>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

export interface AuthHooks {
  /** Called after a failed authentication (for per-IP limits); may throw to replace the error. */
  onFailure?: (request: FastifyRequest, err: unknown) => void | Promise<void>;
}

export function installAuth(app: FastifyInstance, auth: Authenticator, internalToken: string, hooks: AuthHooks = {}): void {
  // The configured token's digest is computed once; each call hashes only what it was given.
  const internalDigest = sha256(internalToken);
  app.decorateRequest('principal', null);
  /** Principal of a `user` route (JWT or API key); throws for missing or malformed credentials. */
  const userPrincipal = (request: FastifyRequest): Now<Principal> => {
    const token = bearer(request);
    const apiKey = request.headers['x-api-key'];
    // Both present: the bearer token is used (CONTRACT.md section 1).
    if (token !== undefined) {
      if (token === '') throw unauthorized('malformed Authorization header; expected "Bearer <token>"');
      return auth.authenticateJwtNow(token);
    }
    if (typeof apiKey === 'string') return auth.authenticateApiKeyNow(apiKey.trim());
    if (apiKey !== undefined) throw unauthorized('send exactly one X-Api-Key header');
    throw unauthorized('send Authorization: Bearer <token> or X-Api-Key');
  };
  /** A failed authentication: the per-IP limit hears of it (and may replace the error), then the request fails. */
  const fail = (request: FastifyRequest, err: unknown, done: (err?: Error) => void): void => {
    const onFailure = hooks.onFailure;
    if (!onFailure) return done(err as Error);
    Promise.resolve()
      .then(() => onFailure(request, err))
      .then(
        () => done(err as Error),
        (replaced: unknown) => done(replaced as Error),
      );
  };
  // A callback hook rather than an async one: public and internal routes (the resolve hot
  // path), and user routes whose credentials are cached, are decided synchronously,
  // without a promise and a microtask per request.
  app.addHook('onRequest', (request, _reply, done) => {
    // Read once: Fastify builds a new frozen object at every read of request.routeOptions.
    const route = request.routeOptions;
    const url = route.url;
    // Unknown routes answer 404 to everyone.
    if (!url) return done();
    // Routes that do not say: API routes need a user, internal ones the service token,
    // the rest (docs assets, the settings page) are public.
    const mode: AuthMode = route.config.auth ?? (url.startsWith('/api/v1') ? 'user' : url.startsWith('/internal/') ? 'internal' : 'public');
    if (mode === 'public') return done();
    if (mode === 'internal') {
      const token = bearer(request);
      if (token && timingSafeEqual(sha256(token), internalDigest)) return done();
      return fail(request, unauthorized('a valid internal service token is required'), done);
    }
    let principal: Now<Principal>;
    try {
      principal = userPrincipal(request);
    } catch (err) {
      return fail(request, err, done);
    }
    // Warm caches: the principal is there, the request goes on without a promise.
    if (!isPending(principal)) {
      request.principal = principal;
      return done();
    }
    principal.then(
      (p) => {
        request.principal = p;
        done();
      },
      (err: unknown) => fail(request, err, done),
    );
  });
}

/**
 * SHA-256 digest: equal-length inputs for a constant-time comparison (as lib/hash.ts
 * safeEqual). One-shot `crypto.hash`: no Hash object per call.
 */
function sha256(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/** The authenticated caller of a `user` route. */
export function principal(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}
