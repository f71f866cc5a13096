/**
 * Authentication (CONTRACT.md section 1): Bearer JWTs (HS256 secret, or a JWKS with
 * RS256/ES256) with just-in-time users, and `X-Api-Key` Neo API keys looked up by
 * their SHA-256. Lookups are cached (src/lib/cache.ts) and invalidated by the cache bus, so a
 * revoked key or a team change takes effect at once on this instance and, through the
 * bus, on the others.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { JwtConfig } from '../../config/index.ts';
import { isUniqueViolation, nowIso, type Db, type Dialect } from '../../db/index.ts';
import type { UserRow } from '../../db/schema.ts';
import { AppError, unauthorized } from '../../errors/index.ts';
import { EVERYTHING, type CacheBus } from '../../lib/bus.ts';
import { andThen, Cache, type Now } from '../../lib/cache.ts';
import { sha256Hex } from '../../lib/hash.ts';
import { ApiKeysRepo } from '../apikeys/apikeys.repo.ts';
import { TeamsRepo } from '../teams/teams.repo.ts';
import { EMAIL_RE, normalizeEmail, UsersRepo } from '../users/users.repo.ts';

import type { Membership, Principal } from '../../http/auth.ts';

// The caller's type lives with route authentication (http/auth.ts), which sets it.
export type { Membership, Principal } from '../../http/auth.ts';

export const API_KEY_RE = /^neo_sk_[A-Za-z0-9]{32}$/;

export interface AuthServiceDeps {
  db: Db;
  dialect: Dialect;
  jwt: JwtConfig;
  bus: CacheBus;
  clock?: () => number;
  /** Max cached entries per cache. */
  cacheSize?: number;
}

const CACHE_TTL_MS = 60_000;
const JWT_CLOCK_TOLERANCE_S = 5;
/** Longer tokens are verified every time rather than held in memory. */
const MAX_CACHED_JWT_LENGTH = 4096;

export class AuthService {
  private readonly users: UsersRepo;
  private readonly teams: TeamsRepo;
  private readonly apiKeys: ApiKeysRepo;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly clock: () => number;
  /** key hash → user id (null = unknown key, cached briefly to blunt brute force). */
  private readonly apiKeyCache: Cache<{ userId: string | null }>;
  /**
   * user id → user row and membership. The row carries the user's `sub`, so the row
   * is also the reverse map user id → sub that drops `subs` in O(1) on a `user`
   * invalidation (both caches are bounded alike).
   */
  private readonly principals: Cache<{ user: UserRow; membership: Membership | null }>;
  /**
   * JWT sub → user id. A hit is trusted only while the user's row still carries that
   * sub, so an entry whose row was evicted before its invalidation cannot map a sub to
   * the wrong user.
   */
  private readonly subs: Cache<string>;
  /**
   * Verified bearer tokens → their claims, so a token reused across requests is checked
   * once a minute instead of on every request (the signature check was the largest
   * part of a JWT request: docs/benchmarks.md). An entry lives until the token expires
   * and at most 60 s, like every other cache here (a key removed from a JWKS takes effect
   * within that time). Only tokens that verified are cached: any other string, a
   * tampered token included, is verified in full.
   */
  private readonly verifiedJwts: Cache<JWTPayload>;

  constructor(private readonly deps: AuthServiceDeps) {
    this.users = new UsersRepo(deps.db);
    this.teams = new TeamsRepo(deps.db, deps.dialect);
    this.apiKeys = new ApiKeysRepo(deps.db, deps.dialect);
    this.clock = deps.clock ?? Date.now;
    const max = deps.cacheSize ?? 50_000;
    const bus = deps.bus;
    this.apiKeyCache = new Cache({ name: 'api_keys', bus, topic: 'apikey', max, ttlMs: CACHE_TTL_MS });
    this.principals = new Cache({ name: 'principals', bus, max, ttlMs: CACHE_TTL_MS });
    this.subs = new Cache({ name: 'jwt_subs', bus, max, ttlMs: CACHE_TTL_MS });
    this.verifiedJwts = new Cache({ name: 'verified_jwts', bus, max: Math.min(max, 10_000), ttlMs: CACHE_TTL_MS });
    if (deps.jwt.jwksUrl) {
      this.jwks = createRemoteJWKSet(new URL(deps.jwt.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    }
    bus.subscribe('user', (userId) => {
      if (userId === EVERYTHING) {
        this.principals.clear();
        this.subs.clear();
        return;
      }
      // O(1): the cached row names the sub (no scan of up to 50,000 entries).
      const sub = this.principals.peek(userId)?.user.sub;
      this.principals.delete(userId);
      if (sub) this.subs.delete(sub);
    });
  }

  /** Verifies a bearer JWT and returns the (possibly just created) user's principal. */
  async authenticateJwt(token: string): Promise<Principal> {
    return this.authenticateJwtNow(token);
  }

  /**
   * As `authenticateJwt`, the principal itself when the token, its sub and the user are
   * cached (the auth hook then continues without a promise; src/lib/cache.ts `lookup`).
   * Refusals are thrown, or the promise rejects.
   */
  authenticateJwtNow(token: string): Now<Principal> {
    return andThen(this.verifyJwtNow(token), (payload) => {
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) throw unauthorized('token has no usable sub claim');
      const cachedId = this.subs.get(sub);
      if (!cachedId) return this.principalOfSub(sub, payload);
      return andThen(this.principals.lookup(cachedId, () => this.readUser(cachedId)), (cached): Now<Principal> => {
        if (cached?.user.sub === sub) return { ...cached, via: 'jwt' };
        this.subs.delete(sub);
        return this.principalOfSub(sub, payload);
      });
    });
  }

  private async principalOfSub(sub: string, payload: JWTPayload): Promise<Principal> {
    // Single flight: the first requests of a new identity create its user once.
    const userId = await this.subs.getOrLoad(sub, async () => (await this.userFromClaims(sub, payload.email, payload.email_verified)).id);
    // A row cached before its identity was bound (a pre-provisioned user who used an API
    // key first) has no sub yet: reload it, so the cached row names the sub.
    if (this.principals.peek(userId)?.user.sub !== sub) this.principals.delete(userId);
    const loaded = await this.loadUser(userId);
    if (!loaded) throw unauthorized('user no longer exists');
    return { ...loaded, via: 'jwt' };
  }

  /** Looks an API key up by its SHA-256; unknown, rotated or revoked keys are refused. */
  async authenticateApiKey(key: string): Promise<Principal> {
    return this.authenticateApiKeyNow(key);
  }

  /** As `authenticateApiKey`, the principal itself when the key and its user are cached. */
  authenticateApiKeyNow(key: string): Now<Principal> {
    if (!API_KEY_RE.test(key)) throw unauthorized('malformed API key');
    const hash = sha256Hex(key);
    const entry = this.apiKeyCache.lookup(
      hash,
      async () => ({ userId: (await this.apiKeys.userIdByHash(hash)) ?? null }),
      // Unknown keys are cached for a short time only, so a key created on another
      // instance starts working quickly even before its bus message arrives.
      (e) => (e.userId ? CACHE_TTL_MS : 2_000),
    );
    return andThen(entry, ({ userId }) => {
      if (!userId) throw unauthorized('unknown or revoked API key');
      return andThen(this.principals.lookup(userId, () => this.readUser(userId)), (loaded): Principal => {
        if (!loaded) throw unauthorized('unknown or revoked API key');
        return { ...loaded, via: 'apikey' };
      });
    });
  }

  /**
   * A user and their active team membership by id, from the same bounded cache as
   * authentication (dropped on the `user` topic); undefined for an unknown user.
   * Used by the credential resolver to find a user's owner.
   */
  async membershipOf(userId: string): Promise<{ user: UserRow; membership: Membership | null } | undefined> {
    return this.loadUser(userId);
  }

  /** As `membershipOf`, the value itself on a warm cache (the resolve hot path, src/lib/cache.ts `lookup`). */
  membershipNow(userId: string): Now<{ user: UserRow; membership: Membership | null } | undefined> {
    return this.principals.lookup(userId, () => this.readUser(userId));
  }

  /** Drops cached state for a user (team or role change). */
  invalidateUser(userId: string): void {
    this.deps.bus.publish('user', userId);
  }

  private verifyJwtNow(token: string): Now<JWTPayload> {
    const cached = this.verifiedJwts.get(token);
    // jose checks `exp` against the real time with a 5 s tolerance; so does a cache hit.
    if (cached && typeof cached.exp === 'number' && cached.exp + JWT_CLOCK_TOLERANCE_S > Date.now() / 1000) return cached;
    return this.verifyJwt(token);
  }

  /** Verifies a token in full (not cached, or expired in the cache) and caches it once verified. */
  private async verifyJwt(token: string): Promise<JWTPayload> {
    const payload = await this.verifyJwtFully(token);
    if (typeof payload.exp === 'number' && token.length <= MAX_CACHED_JWT_LENGTH) {
      const ttl = Math.min(CACHE_TTL_MS, (payload.exp + JWT_CLOCK_TOLERANCE_S) * 1000 - Date.now());
      if (ttl > 0) this.verifiedJwts.set(token, payload, ttl);
    }
    return payload;
  }

  private async verifyJwtFully(token: string): Promise<JWTPayload> {
    const opts = {
      ...(this.deps.jwt.issuer ? { issuer: this.deps.jwt.issuer } : {}),
      ...(this.deps.jwt.audience ? { audience: this.deps.jwt.audience } : {}),
      clockTolerance: JWT_CLOCK_TOLERANCE_S,
      requiredClaims: ['exp'],
    };
    try {
      if (this.jwks) {
        // Asymmetric only: an HS256 token "signed" with a public key is refused.
        return (await jwtVerify(token, this.jwks, { ...opts, algorithms: ['RS256', 'ES256'] })).payload;
      }
      return (await jwtVerify(token, this.deps.jwt.secret!, { ...opts, algorithms: ['HS256'] })).payload;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthorized('token expired');
      if (!(err instanceof joseErrors.JOSEError)) throw unauthorized('token could not be verified');
      throw unauthorized('invalid token');
    }
  }

  private async userFromClaims(sub: string, emailClaim: unknown, emailVerified: unknown): Promise<UserRow> {
    const existing = await this.users.findBySub(sub);
    if (existing) return existing;
    if (typeof emailClaim !== 'string' || !EMAIL_RE.test(emailClaim.trim()) || emailClaim.length > 254) {
      throw unauthorized('the first token of a new identity must carry a valid email claim (a plain ASCII address)');
    }
    // Creating an account takes the address for good, and binding takes over an account
    // pre-created by the CLI: both need an identity provider that vouches for the address.
    // Otherwise an unverified claim would reserve it and lock the real owner out.
    const verified = emailVerified === true || (emailVerified === undefined && this.deps.jwt.allowMissingEmailVerified === true);
    if (!verified) {
      throw unauthorized('the first token of a new identity must carry email_verified: true; the address is not reserved by this token');
    }
    const email = normalizeEmail(emailClaim);
    const now = nowIso(this.clock);
    const byEmail = await this.users.findByEmail(email);
    if (byEmail) {
      if (byEmail.sub === null && (await this.users.bindSub(byEmail.id, sub, now))) return { ...byEmail, sub };
      const again = await this.users.findBySub(sub);
      if (again) return again;
      throw unauthorized('this email is already bound to another identity');
    }
    try {
      return await this.users.create({ email, sub, role: 'user' }, now);
    } catch (err) {
      // Two first requests of one identity raced; the other one created the user.
      if (isUniqueViolation(err)) {
        const again = await this.users.findBySub(sub);
        if (again) return again;
        throw unauthorized('this email is already bound to another identity');
      }
      throw err;
    }
  }

  private async loadUser(userId: string): Promise<{ user: UserRow; membership: Membership | null } | undefined> {
    return this.principals.getOrLoad(userId, () => this.readUser(userId));
  }

  private async readUser(userId: string): Promise<{ user: UserRow; membership: Membership | null } | undefined> {
    const user = await this.users.findById(userId);
    if (!user) return undefined;
    const m = await this.teams.activeMembership(userId);
    return { user, membership: m ? { teamId: m.team_id, role: m.role } : null };
  }
}

export function isAuthError(err: unknown): err is AppError {
  return err instanceof AppError && err.code === 'unauthorized';
}
