/**
 * The reusable security suite (STYLE.md "Security habits"): one call registers, for one
 * route, every authentication and authorization case a route must refuse.
 *
 *   describe('my routes', () => {
 *     let ctx: TestContext;
 *     before(async () => { ctx = await createTestContext({ dialect }); });
 *     after(async () => ctx.close());
 *     securitySuite(() => ctx, { method: 'PATCH', url: '/api/v1/byok/mode', body: { mode: 'neo' },
 *       roles: { allowed: ['admin'] }, feature: 'byok' });
 *   });
 *
 * Cases (each a node:test `it`, grouped in a `describe` named after the route):
 * - no credentials, empty/non-Bearer Authorization → 401;
 * - malformed, expired, tampered, wrongly signed (HS256 with another secret), `alg: none`,
 *   signature stripped, no `exp`, no `sub` JWT → 401; a bad bearer is not rescued by a
 *   valid X-Api-Key sent beside it (the bearer is used);
 * - unknown, malformed, rotated (old value) and deleted API keys → 401 (rotation and
 *   deletion go through the real /api/v1/user/apikey endpoints after the old key has
 *   been used once, so the auth cache must be invalidated);
 * - a control: a valid JWT and a valid API key are not refused with 401;
 * - `roles`: every team role outside `allowed` → 403 `forbidden`; allowed roles are not
 *   refused with 401/403;
 * - `feature: 'byok'`: with the owner's flag off → 403 `byok_not_enabled` (solo user and
 *   team admin); the flag is turned on for the callers of the role cases.
 *
 * Every 401/403 must be a full ErrorResponse whose `error_id` equals X-Request-Id.
 * The suite assumes the default HS256 test context (createTestContext without JWKS).
 * Each case uses fresh users, so the route's side effects never leak between cases.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { TeamRole } from '../../src/db/schema.ts';
import { signTestJwt, TEST_JWT_SECRET, type TestContext } from './context.ts';
import { createTeam, createUser, setByok, uniqueEmail, type TestUser } from './fixtures.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface SecuredRoute {
  method: HttpMethod;
  url: string;
  /** JSON body sent with every request (a function gets the calling user). */
  body?: unknown;
  /** Team-scoped route: the team roles that may call it; the others must get 403 `forbidden`. */
  roles?: { allowed: TeamRole[] };
  /** The feature flag the route requires (owner flag off → 403 `byok_not_enabled`). */
  feature?: 'byok';
  /** Extra preparation of a valid caller before the request (after team membership is set). */
  prepare?: (ctx: TestContext, caller: TestUser) => Promise<void>;
  /** Suite name; defaults to "security: METHOD url". */
  name?: string;
}

interface InjectResult {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json(): unknown;
}

const ALL_ROLES: TeamRole[] = ['admin', 'member', 'viewer'];

const EXPECTED: Record<number, { kind: string; error: string }> = {
  400: { kind: 'invalid request', error: 'Bad request' },
  401: { kind: 'unauthorized request', error: 'Unauthorized' },
  403: { kind: 'forbidden request', error: 'Forbidden' },
  404: { kind: 'not found', error: 'Not found' },
  409: { kind: 'conflict', error: 'Already exists' },
};

/**
 * Asserts that `res` is the contract's ErrorResponse with this status and code:
 * exactly the five fields, `error_id` equal to X-Request-Id, `message` = "<kind>: …".
 */
export function assertErrorResponse(res: InjectResult, status: number, code: string, context = ''): Record<string, unknown> {
  const where = context ? ` (${context})` : '';
  assert.equal(res.statusCode, status, `expected ${status}${where}, got ${res.statusCode}: ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, `content type${where}`);
  const body = res.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'error_id', 'kind', 'message'], `ErrorResponse fields${where}`);
  assert.equal(body.code, code, `code${where}`);
  const requestId = res.headers['x-request-id'];
  assert.equal(typeof requestId, 'string', `X-Request-Id header${where}`);
  assert.equal(body.error_id, requestId, `error_id equals X-Request-Id${where}`);
  const expected = EXPECTED[status];
  if (expected) {
    assert.equal(body.kind, expected.kind, `kind${where}`);
    if (code === 'unauthorized' || code === 'forbidden' || code === 'invalid_request' || code === 'not_exists' || code === 'already_exists') {
      assert.equal(body.error, expected.error, `error title${where}`);
    }
  }
  assert.equal(typeof body.kind, 'string');
  assert.ok(String(body.message).startsWith(`${String(body.kind)}: `), `message starts with "<kind>: "${where}: ${String(body.message)}`);
  assert.ok(String(body.message).length > String(body.kind).length + 2, `message has a detail${where}`);
  return body;
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsigned `alg: none` token for `email`, otherwise valid. */
export function algNoneJwt(email: string, sub = `sub|${email}`): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub, email, iat: now, exp: now + 3600 })}.`;
}

/** An HS256 token with the right secret but no `exp` claim. */
export async function jwtWithoutExp(email: string, sub = `sub|${email}`): Promise<string> {
  return new SignJWT({ email })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/** A valid token whose payload was swapped for another identity, keeping the signature. */
export async function tamperedJwt(email: string, otherEmail: string): Promise<string> {
  const [h, , s] = (await signTestJwt(email)).split('.');
  const now = Math.floor(Date.now() / 1000);
  return `${h}.${b64url({ sub: `sub|${otherEmail}`, email: otherEmail, iat: now, exp: now + 3600 })}.${s}`;
}

/** A well-formed Neo API key that nobody holds. */
export function randomApiKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = 'neo_sk_';
  // 248 = 4 × 62: rejection sampling keeps the letters uniform.
  while (out.length < 39) for (const b of randomBytes(40)) if (b < 248 && out.length < 39) out += alphabet[b % 62];
  return out;
}

/** Creates an API key for `user` through POST /api/v1/user/apikey and returns it. */
export async function issueApiKey(ctx: TestContext, user: TestUser): Promise<string> {
  const res = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers });
  assert.equal(res.statusCode, 201, `POST /api/v1/user/apikey: ${res.body.slice(0, 300)}`);
  const key = res.json<{ key: string }>().key;
  assert.match(key, /^neo_sk_[A-Za-z0-9]{32}$/);
  return key;
}

/** Registers the security cases of one route (call inside a describe whose `before` sets the context). */
export function securitySuite(getCtx: () => TestContext, route: SecuredRoute): void {
  const label = `${route.method} ${route.url}`;
  const bodyFor = (caller: TestUser | undefined): unknown =>
    typeof route.body === 'function' ? (route.body as (u: TestUser | undefined) => unknown)(caller) : route.body;

  const call = async (headers: Record<string, string>, caller?: TestUser): Promise<InjectResult> => {
    const body = bodyFor(caller);
    return getCtx().app.inject({
      method: route.method,
      url: route.url,
      headers,
      ...(body === undefined ? {} : { payload: body as object }),
    });
  };

  /** A fresh solo caller, with the route's flag on and its preparation done. */
  const freshCaller = async (): Promise<TestUser> => {
    const ctx = getCtx();
    const user = await createUser(ctx, uniqueEmail('sec'));
    if (route.feature) await setByok(ctx, user.owner, true);
    await route.prepare?.(ctx, user);
    return user;
  };

  const expect401 = async (headers: Record<string, string>, what: string): Promise<void> => {
    assertErrorResponse(await call(headers), 401, 'unauthorized', `${label} with ${what}`);
  };

  describe(route.name ?? `security: ${label}`, () => {
    it('no credentials → 401', async () => {
      await expect401({}, 'no credentials');
    });

    it('an empty or non-Bearer Authorization header → 401', async () => {
      await expect401({ authorization: '' }, 'an empty Authorization header');
      await expect401({ authorization: 'Bearer ' }, '"Bearer " and no token');
      await expect401({ authorization: 'Basic dXNlcjpwYXNz' }, 'Basic credentials');
    });

    it('a malformed JWT → 401', async () => {
      await expect401({ authorization: 'Bearer not-a-jwt' }, 'a non-JWT bearer');
      await expect401({ authorization: 'Bearer a.b.c' }, 'a JWT of garbage segments');
      const valid = await signTestJwt(uniqueEmail('sec'));
      await expect401({ authorization: `Bearer ${valid.split('.').slice(0, 2).join('.')}` }, 'a two-segment JWT');
    });

    it('an expired JWT → 401', async () => {
      const user = await freshCaller();
      const token = await signTestJwt(user.email, { sub: user.sub, ttlSeconds: -3600 });
      await expect401({ authorization: `Bearer ${token}` }, 'an expired JWT');
    });

    it('a JWT signed with another HS256 secret → 401', async () => {
      const user = await freshCaller();
      const token = await signTestJwt(user.email, { sub: user.sub, secret: 'another-secret-0123456789abcdefghijklmnopqrstuvwxyz' });
      await expect401({ authorization: `Bearer ${token}` }, 'a JWT signed with another secret');
    });

    it('a tampered JWT (payload swapped, signature kept) → 401', async () => {
      const victim = await freshCaller();
      const attacker = await freshCaller();
      await expect401({ authorization: `Bearer ${await tamperedJwt(attacker.email, victim.email)}` }, 'a tampered JWT');
    });

    it('an alg:none JWT, or one with its signature stripped → 401', async () => {
      const user = await freshCaller();
      await expect401({ authorization: `Bearer ${algNoneJwt(user.email, user.sub)}` }, 'an alg:none JWT');
      const [h, p] = user.headers.authorization.slice('Bearer '.length).split('.');
      await expect401({ authorization: `Bearer ${h}.${p}.` }, 'a JWT without signature');
    });

    it('a JWT without exp or without sub → 401', async () => {
      const user = await freshCaller();
      await expect401({ authorization: `Bearer ${await jwtWithoutExp(user.email, user.sub)}` }, 'a JWT without exp');
      const noSub = await new SignJWT({ email: user.email })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      await expect401({ authorization: `Bearer ${noSub}` }, 'a JWT without sub');
    });

    it('a bad bearer token is not rescued by a valid X-Api-Key beside it → 401', async () => {
      const user = await freshCaller();
      const key = await issueApiKey(getCtx(), user);
      await expect401({ authorization: `Bearer ${algNoneJwt(user.email, user.sub)}`, 'x-api-key': key }, 'a bad bearer and a valid key');
    });

    it('an unknown or malformed API key → 401', async () => {
      await expect401({ 'x-api-key': randomApiKey() }, 'an unknown API key');
      await expect401({ 'x-api-key': 'neo_sk_short' }, 'a too short API key');
      await expect401({ 'x-api-key': `neo_sk_${'a'.repeat(31)}!` }, 'an API key with a bad character');
      await expect401({ 'x-api-key': `sk_${'a'.repeat(32)}` }, 'an API key without the neo_sk_ prefix');
      await expect401({ 'x-api-key': '' }, 'an empty API key');
    });

    it('a rotated (old) API key → 401 at once', async () => {
      const ctx = getCtx();
      const user = await freshCaller();
      const oldKey = await issueApiKey(ctx, user);
      // Use the key once so the server has it cached; rotation must still kill it at once.
      const warm = await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': oldKey } });
      assert.equal(warm.statusCode, 200, warm.body);
      const rotated = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey/rotate', headers: user.headers });
      assert.equal(rotated.statusCode, 200, rotated.body);
      const newKey = rotated.json<{ key: string }>().key;
      assert.notEqual(newKey, oldKey);
      await expect401({ 'x-api-key': oldKey }, 'a rotated API key');
      const withNew = await call({ 'x-api-key': newKey }, user);
      assert.notEqual(withNew.statusCode, 401, `the new key is accepted by ${label}: ${withNew.body.slice(0, 300)}`);
    });

    it('a deleted API key → 401 at once', async () => {
      const ctx = getCtx();
      const user = await freshCaller();
      const key = await issueApiKey(ctx, user);
      const warm = await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': key } });
      assert.equal(warm.statusCode, 200, warm.body);
      const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/user/apikey', headers: user.headers });
      assert.equal(del.statusCode, 200, del.body);
      await expect401({ 'x-api-key': key }, 'a deleted API key');
    });

    it('control: a valid JWT and a valid API key are not refused with 401', async () => {
      const jwtUser = await freshCaller();
      const res = await call(jwtUser.headers, jwtUser);
      assert.notEqual(res.statusCode, 401, `valid JWT on ${label}: ${res.body.slice(0, 300)}`);
      const keyUser = await freshCaller();
      const key = await issueApiKey(getCtx(), keyUser);
      const res2 = await call({ 'x-api-key': key }, keyUser);
      assert.notEqual(res2.statusCode, 401, `valid API key on ${label}: ${res2.body.slice(0, 300)}`);
    });

    if (route.feature) {
      const feature = route.feature;
      it(`${feature} flag off → 403 ${feature}_not_enabled (solo user and team admin)`, async () => {
        const ctx = getCtx();
        const solo = await createUser(ctx, uniqueEmail('sec'));
        await setByok(ctx, solo.owner, false);
        await route.prepare?.(ctx, solo);
        assertErrorResponse(await call(solo.headers, solo), 403, `${feature}_not_enabled`, `${label} as a solo user with the flag off`);
        const admin = await createUser(ctx, uniqueEmail('sec-admin'));
        const team = await createTeam(ctx, [{ user: admin, role: 'admin' }]);
        await setByok(ctx, team.owner, false);
        // The admin's own (inactive) solo flag does not count while in a team.
        await setByok(ctx, { type: 'user', id: admin.id }, true);
        await route.prepare?.(ctx, admin);
        assertErrorResponse(await call(admin.headers, admin), 403, `${feature}_not_enabled`, `${label} as a team admin with the flag off`);
      });
    }

    if (route.roles) {
      const allowed = route.roles.allowed;
      for (const role of ALL_ROLES) {
        const ok = allowed.includes(role);
        it(`team role ${role} → ${ok ? 'allowed (not 401/403)' : '403 forbidden'}`, async () => {
          const ctx = getCtx();
          const admin = await createUser(ctx, uniqueEmail('sec-admin'));
          const caller = role === 'admin' ? admin : await createUser(ctx, uniqueEmail(`sec-${role}`));
          const members: { user: TestUser; role: TeamRole }[] = [{ user: admin, role: 'admin' }];
          if (caller !== admin) members.push({ user: caller, role });
          const team = await createTeam(ctx, members);
          if (route.feature) await setByok(ctx, team.owner, true);
          await route.prepare?.(ctx, caller);
          const res = await call(caller.headers, caller);
          if (ok) {
            assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${role} may call ${label}; got ${res.statusCode}: ${res.body.slice(0, 300)}`);
          } else {
            assertErrorResponse(res, 403, 'forbidden', `${label} as team ${role}`);
          }
        });
      }
    }
  });
}
