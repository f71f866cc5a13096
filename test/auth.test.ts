import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { nowIso } from '../src/db/index.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { createTestContext, signTestJwt, TEST_JWT_SECRET, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, uniqueEmail } from './helpers/fixtures.ts';
import { algNoneJwt, assertErrorResponse, issueApiKey, jwtWithoutExp } from './helpers/security.ts';
import { startServerProcess } from './helpers/processes.ts';

/** GET /api/v1/user/apikey: 404 for an authenticated user without a key, 401 when authentication fails. */
const PROBE = '/api/v1/user/apikey';

for (const dialect of testDialects()) {
  describe(`authentication with an HS256 secret [${dialect}]`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => ctx.close());

    const probe = (headers: Record<string, string>) => ctx.app.inject({ method: 'GET', url: PROBE, headers });
    const usersWithSub = (sub: string) => ctx.database.db.selectFrom('users').selectAll().where('sub', '=', sub).execute();

    it('a valid HS256 JWT is accepted and creates the user just in time (sub + lower-cased email)', async () => {
      const email = uniqueEmail('Jit.User').toUpperCase();
      const sub = `idp|${uuidv7()}`;
      assert.equal((await usersWithSub(sub)).length, 0);
      const res = await probe({ authorization: `Bearer ${await signTestJwt(email, { sub })}` });
      assertErrorResponse(res, 404, 'not_exists');
      const rows = await usersWithSub(sub);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.email, email.toLowerCase());
      assert.equal(rows[0]!.role, 'user');
    });

    it('the email claim is required the first time a sub is seen, not afterwards', async () => {
      const sub = `idp|${uuidv7()}`;
      const noEmail = await signTestJwt(undefined, { sub });
      const first = assertErrorResponse(await probe({ authorization: `Bearer ${noEmail}` }), 401, 'unauthorized');
      assert.match(String(first.message), /email/);
      assert.equal((await usersWithSub(sub)).length, 0);
      const invalidEmail = await signTestJwt(undefined, { sub, claims: { email: 'not an email' } });
      assertErrorResponse(await probe({ authorization: `Bearer ${invalidEmail}` }), 401, 'unauthorized');

      const email = uniqueEmail('later');
      assertErrorResponse(await probe({ authorization: `Bearer ${await signTestJwt(email, { sub })}` }), 404, 'not_exists');
      // Known now: later tokens may omit the email.
      assertErrorResponse(await probe({ authorization: `Bearer ${await signTestJwt(undefined, { sub })}` }), 404, 'not_exists');
      const rows = await usersWithSub(sub);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.email, email);
    });

    it('a pre-provisioned user (no sub yet) is bound to the first identity with a verified email; unverified or second identities are refused', async () => {
      const email = uniqueEmail('pre');
      const id = uuidv7();
      const now = nowIso();
      await ctx.database.db.insertInto('users').values({ id, sub: null, email, role: 'admin', tag: null, created_at: now, updated_at: now }).execute();
      const sub = `idp|${uuidv7()}`;
      // An unverified email claim must not take over the pre-created (admin) account.
      for (const claims of [{ email_verified: undefined }, { email_verified: false }, { email_verified: 'true' }]) {
        const unverified = await signTestJwt(email, { sub: `idp|${uuidv7()}`, claims });
        assertErrorResponse(await probe({ authorization: `Bearer ${unverified}` }), 401, 'unauthorized');
      }
      assert.equal((await ctx.database.db.selectFrom('users').select('sub').where('id', '=', id).executeTakeFirstOrThrow()).sub, null);
      const verified = await signTestJwt(email, { sub, claims: { email_verified: true } });
      assertErrorResponse(await probe({ authorization: `Bearer ${verified}` }), 404, 'not_exists');
      const row = await ctx.database.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.sub, sub);
      assert.equal(row.role, 'admin');
      const second = await signTestJwt(email, { sub: `idp|${uuidv7()}`, claims: { email_verified: true } });
      assertErrorResponse(await probe({ authorization: `Bearer ${second}` }), 401, 'unauthorized');
    });

    it('an unverified email (email_verified false or absent) creates nothing and reserves nothing; the verified owner then signs in', async () => {
      const usersWithEmail = (email: string) => ctx.database.db.selectFrom('users').selectAll().where('email', '=', email).execute();
      for (const claims of [{ email_verified: undefined }, { email_verified: false }, { email_verified: 'true' }, { email_verified: 1 }]) {
        const email = uniqueEmail('unverified');
        const squatter = `idp|${uuidv7()}`;
        const token = await signTestJwt(email, { sub: squatter, claims });
        const body = assertErrorResponse(await probe({ authorization: `Bearer ${token}` }), 401, 'unauthorized');
        assert.match(String(body.message), /email_verified/);
        assert.equal((await usersWithEmail(email)).length, 0, `no account for ${JSON.stringify(claims)}`);
        assert.equal((await usersWithSub(squatter)).length, 0);
        // The real owner, whose identity provider verified the address, gets the account.
        const owner = `idp|${uuidv7()}`;
        assertErrorResponse(await probe({ authorization: `Bearer ${await signTestJwt(email, { sub: owner, claims: { email_verified: true } })}` }), 404, 'not_exists');
        const rows = await usersWithEmail(email);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.sub, owner);
        // The squatter stays out (the address is bound to the owner now).
        assertErrorResponse(await probe({ authorization: `Bearer ${token}` }), 401, 'unauthorized');
      }
    });

    it('Unicode look-alikes of an address (KELVIN SIGN, fullwidth, dotless i, long s) neither bind nor collide', async () => {
      const domain = `${uuidv7().slice(-8)}.corp.test`;
      const id = uuidv7();
      const now = nowIso();
      await ctx.database.db.insertInto('users').values({ id, sub: null, email: `kim@${domain}`, role: 'admin', tag: null, created_at: now, updated_at: now }).execute();
      const lookAlikes = [`\u212Aim@${domain}`, `\uFF4Bim@${domain}`, `k\u0131m@${domain}`, `KIM@${domain}`.replace('I', '\u0130'), `\u017Fam@${domain}`, `k\u0456m@${domain}`];
      for (const email of lookAlikes) {
        const sub = `idp|${uuidv7()}`;
        const token = await signTestJwt(email, { sub, claims: { email_verified: true } });
        assertErrorResponse(await probe({ authorization: `Bearer ${token}` }), 401, 'unauthorized');
        assert.equal((await usersWithSub(sub)).length, 0, `${JSON.stringify(email)} created or bound an account`);
      }
      const row = await ctx.database.db.selectFrom('users').select(['sub']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.sub, null, 'the pre-provisioned admin is still unbound');
      const all = await ctx.database.db.selectFrom('users').select('email').where('email', 'like', `%@${domain}`).execute();
      assert.deepEqual(all.map((r) => r.email), [`kim@${domain}`]);
      // ASCII case still folds: the real owner binds with any ASCII case.
      const sub = `idp|${uuidv7()}`;
      assertErrorResponse(await probe({ authorization: `Bearer ${await signTestJwt(`Kim@${domain.toUpperCase()}`, { sub, claims: { email_verified: true } })}` }), 404, 'not_exists');
      assert.equal((await ctx.database.db.selectFrom('users').select(['sub']).where('id', '=', id).executeTakeFirstOrThrow()).sub, sub);
    });

    it('expired, not-yet-valid, malformed, wrongly signed, alg:none and exp-less JWTs → 401', async () => {
      const email = uniqueEmail('bad');
      const cases: [string, string][] = [
        ['expired', await signTestJwt(email, { ttlSeconds: -60 })],
        ['malformed', 'eyJhbGciOiJIUzI1NiJ9.not-json.sig'],
        ['wrong secret', await signTestJwt(email, { secret: 'x'.repeat(48) })],
        ['alg none', algNoneJwt(email)],
        ['no exp', await jwtWithoutExp(email)],
        ['nbf in the future', await signTestJwt(email, { claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } })],
      ];
      for (const [what, token] of cases) {
        const body = assertErrorResponse(await probe({ authorization: `Bearer ${token}` }), 401, 'unauthorized', what);
        assert.ok(!String(body.message).includes(token), 'the token is not echoed');
      }
      const expired = assertErrorResponse(await probe({ authorization: `Bearer ${cases[0]![1]}` }), 401, 'unauthorized');
      assert.match(String(expired.message), /expired/);
      // None of them created a user.
      assert.equal((await ctx.database.db.selectFrom('users').select('id').where('email', '=', email).execute()).length, 0);
    });

    it('both headers present: the bearer token is used', async () => {
      const a = await createUser(ctx);
      const b = await createUser(ctx);
      const keyA = await issueApiKey(ctx, a);
      const keyB = await issueApiKey(ctx, b);
      const res = await probe({ ...a.headers, 'x-api-key': keyB });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json<{ key: string }>().key, `neo_sk_…${keyA.slice(-4)}`);
      // A valid bearer with a garbage key beside it: still the bearer's user.
      const res2 = await probe({ ...b.headers, 'x-api-key': 'garbage' });
      assert.equal(res2.json<{ key: string }>().key, `neo_sk_…${keyB.slice(-4)}`);
      // An API key alone identifies its user.
      const res3 = await probe({ 'x-api-key': keyB });
      assert.equal(res3.json<{ key: string }>().key, `neo_sk_…${keyB.slice(-4)}`);
    });

    it('tokens and API keys never reach the logs', async () => {
      const user = await createUser(ctx);
      const key = await issueApiKey(ctx, user);
      const token = user.headers.authorization.slice(7);
      await probe(user.headers);
      await probe({ 'x-api-key': key });
      await probe({ authorization: `Bearer ${algNoneJwt(user.email)}` });
      const logs = ctx.logs.join('\n');
      assert.ok(logs.length > 0, 'logs were captured');
      assert.ok(!logs.includes(token), 'a JWT is in the logs');
      assert.ok(!logs.includes(key), 'an API key is in the logs');
    });
  });

  describe(`authentication with a JWKS (RS256/ES256) [${dialect}]`, () => {
    const ISSUER = 'https://idp.example.test/';
    const AUDIENCE = 'neo-api';
    let server: Server;
    let jwksUrl: string;
    let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
    let ec: { privateKey: CryptoKey; publicKey: CryptoKey };
    let strict: TestContext;
    let open: TestContext;

    before(async () => {
      rsa = await generateKeyPair('RS256');
      ec = await generateKeyPair('ES256');
      const keys: JWK[] = [
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      ];
      server = createServer((req, res) => {
        if (req.url === '/.well-known/jwks.json') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
        } else {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      strict = await createTestContext({
        dialect,
        env: { NEO_JWT_SECRET: '', NEO_JWT_JWKS_URL: jwksUrl, NEO_JWT_ISSUER: ISSUER, NEO_JWT_AUDIENCE: AUDIENCE },
      });
      open = await createTestContext({ dialect, env: { NEO_JWT_SECRET: '', NEO_JWT_JWKS_URL: jwksUrl } });
    });
    after(async () => {
      await strict.close();
      await open.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const sign = async (
      alg: 'RS256' | 'ES256',
      opts: { email?: string; sub?: string; iss?: string | null; aud?: string | null; ttl?: number; key?: CryptoKey; kid?: string } = {},
    ) => {
      const now = Math.floor(Date.now() / 1000);
      let jwt = new SignJWT({ email: opts.email ?? uniqueEmail('jwks'), email_verified: true })
        .setProtectedHeader({ alg, kid: opts.kid ?? (alg === 'RS256' ? 'rsa-1' : 'ec-1'), typ: 'JWT' })
        .setSubject(opts.sub ?? `jwks|${uuidv7()}`)
        .setIssuedAt(now)
        .setExpirationTime(now + (opts.ttl ?? 600));
      if (opts.iss !== null) jwt = jwt.setIssuer(opts.iss ?? ISSUER);
      if (opts.aud !== null) jwt = jwt.setAudience(opts.aud ?? AUDIENCE);
      return jwt.sign(opts.key ?? (alg === 'RS256' ? rsa.privateKey : ec.privateKey));
    };
    const probe = (c: TestContext, token: string) => c.app.inject({ method: 'GET', url: PROBE, headers: { authorization: `Bearer ${token}` } });

    it('RS256 and ES256 tokens from the JWKS are accepted (user created just in time)', async () => {
      for (const alg of ['RS256', 'ES256'] as const) {
        const email = uniqueEmail(alg.toLowerCase());
        const sub = `jwks|${uuidv7()}`;
        assertErrorResponse(await probe(strict, await sign(alg, { email, sub })), 404, 'not_exists', alg);
        const row = await strict.database.db.selectFrom('users').selectAll().where('sub', '=', sub).executeTakeFirstOrThrow();
        assert.equal(row.email, email);
      }
    });

    it('issuer and audience are enforced when configured', async () => {
      for (const [what, token] of [
        ['wrong issuer', await sign('RS256', { iss: 'https://evil.example.test/' })],
        ['no issuer', await sign('RS256', { iss: null })],
        ['wrong audience', await sign('ES256', { aud: 'someone-else' })],
        ['no audience', await sign('ES256', { aud: null })],
      ] as const) {
        assertErrorResponse(await probe(strict, token), 401, 'unauthorized', what);
      }
    });

    it('without configured issuer/audience, any issuer and audience pass', async () => {
      assertErrorResponse(await probe(open, await sign('RS256', { iss: 'https://other.example.test/', aud: null })), 404, 'not_exists');
      assertErrorResponse(await probe(open, await sign('ES256', { iss: null, aud: 'x' })), 404, 'not_exists');
    });

    it('algorithm confusion: an HS256 token keyed with the public key is refused', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = { email: uniqueEmail('confused'), iss: ISSUER, aud: AUDIENCE };
      for (const secret of [
        new TextEncoder().encode(await exportSPKI(rsa.publicKey)),
        new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey))),
      ]) {
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1', typ: 'JWT' })
          .setSubject(`jwks|${uuidv7()}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(secret);
        assertErrorResponse(await probe(strict, token), 401, 'unauthorized', 'HS256 with the public key');
        assertErrorResponse(await probe(open, token), 401, 'unauthorized', 'HS256 with the public key (open)');
      }
    });

    it('an HS256 token with the old shared secret, alg:none, an unknown signing key, an expired token → 401', async () => {
      const other = await generateKeyPair('RS256');
      const cases: [string, string][] = [
        ['HS256 shared secret', await signTestJwt(uniqueEmail(), { secret: TEST_JWT_SECRET })],
        ['alg none', algNoneJwt(uniqueEmail())],
        ['key not in the JWKS', await sign('RS256', { key: other.privateKey })],
        ['unknown kid', await sign('RS256', { key: other.privateKey, kid: 'rsa-unknown' })],
        ['ES256 key under the RSA kid', await sign('ES256', { kid: 'rsa-1' })],
        ['expired', await sign('ES256', { ttl: -120 })],
      ];
      for (const [what, token] of cases) assertErrorResponse(await probe(strict, token), 401, 'unauthorized', what);
    });
  });
}

describe('NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED (identity providers that omit the claim)', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext({ env: { NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED: 'on' } });
  });
  after(async () => ctx.close());
  const probe = async (email: string, claims: Record<string, unknown>) =>
    ctx.app.inject({ method: 'GET', url: PROBE, headers: { authorization: `Bearer ${await signTestJwt(email, { sub: `idp|${uuidv7()}`, claims })}` } });

  it('accepts an absent claim, never an explicit false or a non-boolean', async () => {
    assertErrorResponse(await probe(uniqueEmail('omitted'), { email_verified: undefined }), 404, 'not_exists');
    for (const claims of [{ email_verified: false }, { email_verified: 'false' }, { email_verified: 'true' }]) {
      const email = uniqueEmail('still-unverified');
      assertErrorResponse(await probe(email, claims), 401, 'unauthorized');
      assert.equal((await ctx.database.db.selectFrom('users').select('id').where('email', '=', email).execute()).length, 0);
    }
  });
});

describe('startup warning for a JWKS without an audience', () => {
  const WARNING = 'NEO_JWT_JWKS_URL is set without NEO_JWT_AUDIENCE';
  // Nothing listens there: the JWKS is only fetched when a token arrives.
  const jwks = { NEO_JWT_SECRET: '', NEO_JWT_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json' };

  async function startupLogs(env: Record<string, string>): Promise<{ level?: number; msg?: string; issuer_set?: boolean }[]> {
    const server = await startServerProcess(env);
    try {
      return server.logs.map((l) => JSON.parse(l) as { level?: number; msg?: string; issuer_set?: boolean });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }

  it('serve warns once, naming NEO_JWT_AUDIENCE and NEO_JWT_ISSUER, when only the JWKS URL is set', async () => {
    const warnings = (await startupLogs(jwks)).filter((l) => l.msg?.startsWith(WARNING));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.level, 40, 'at warn level');
    assert.match(warnings[0]!.msg!, /tokens the identity provider issued for other applications are accepted; set NEO_JWT_AUDIENCE \(and NEO_JWT_ISSUER\)/);
    assert.equal(warnings[0]!.issuer_set, false);
  });

  it('no warning with an audience, nor with an HS256 secret', async () => {
    const withAudience = await startupLogs({ ...jwks, NEO_JWT_AUDIENCE: 'neo-api', NEO_JWT_ISSUER: 'https://idp.example' });
    assert.ok(withAudience.some((l) => l.msg === 'neo-byok listening'), 'the logs were captured');
    assert.equal(withAudience.filter((l) => l.msg?.startsWith(WARNING)).length, 0);
    assert.equal((await startupLogs({})).filter((l) => l.msg?.startsWith(WARNING)).length, 0);
  });
});
