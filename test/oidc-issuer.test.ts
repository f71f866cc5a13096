/**
 * The service as an OpenID Connect issuer (issue 18 item 1, docs/keyless-cloud.md):
 * discovery and JWKS served over HTTP; a minted token verifies against the JWKS fetched
 * over HTTP the way the clouds do (`iss`, `aud`, `sub`, `exp`, `iat`, signature by `kid`);
 * key rotation with a grace period; NEO_OIDC_ISSUER validation; the rotate-key CLI.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { randomBytes } from 'node:crypto';
import { main } from '../src/cli/main.ts';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { masterKeyId } from '../src/crypto/envelope.ts';
import { rotateMasterKey } from '../src/crypto/rotate.ts';
import { MasterKeyMismatchError } from '../src/crypto/vault.ts';
import { openDatabase } from '../src/db/index.ts';
import { buildApp } from '../src/app.ts';
import { MIN_ROTATION_GRACE_MS, OIDC_TOKEN_TTL_S, OidcIssuer, PUBLISH_AHEAD_MS, rotateOidcKey } from '../src/modules/oidc/issuer.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, testDialects, type TestContext } from './helpers/context.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** A controllable clock (ms). */
function manualClock(start = Date.parse('2026-12-02T12:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

for (const dialect of testDialects()) {
  describe(`OIDC issuer over HTTP (${dialect})`, () => {
    let ctx: TestContext;
    let issuer: string;
    const clock = manualClock();

    before(async () => {
      const port = await freePort();
      issuer = `http://127.0.0.1:${port}`;
      ctx = await createTestContext({ dialect, env: { NEO_OIDC_ISSUER: issuer }, deps: { clock: clock.now } });
      await ctx.app.listen({ port, host: '127.0.0.1' });
    });
    after(async () => ctx?.close());

    /** Verifies a token the way a cloud does: discovery → jwks_uri → key by kid, with the claims checked at the clock's time. */
    async function verifyLikeACloud(token: string, audience: string, subject: string) {
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
      // A fresh key set per call: no cached key hides a rotation.
      const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { cacheMaxAge: 0, cooldownDuration: 0 });
      return jwtVerify(token, jwks, {
        issuer: discovery.issuer,
        audience,
        subject,
        algorithms: ['RS256'],
        currentDate: new Date(clock.now()),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      });
    }

    /** The kid of a token minted now for a user, after checking that it verifies against the JWKS of the moment. */
    async function signingKid(userId: string) {
      const token = await ctx.app.services.oidc.mintToken({ type: 'user', id: userId }, 'sts.amazonaws.com');
      await verifyLikeACloud(token, 'sts.amazonaws.com', `neo:user:${userId}`);
      return decodeProtectedHeader(token).kid;
    }

    it('serves the discovery document and the JWKS it names, with cache headers', async () => {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('cache-control') ?? '', /public, max-age=\d+/);
      const doc = (await res.json()) as Record<string, unknown>;
      assert.deepEqual(doc, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti'],
      });
      const jwksRes = await fetch(doc.jwks_uri);
      assert.equal(jwksRes.status, 200);
      assert.match(jwksRes.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(jwksRes.headers.get('cache-control') ?? '', /public, max-age=\d+/);
      const { keys } = (await jwksRes.json()) as { keys: Record<string, unknown>[] };
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.kty, 'RSA');
      assert.equal(keys[0]!.alg, 'RS256');
      assert.equal(keys[0]!.use, 'sig');
      assert.equal(typeof keys[0]!.kid, 'string');
      // Public parts only.
      for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(keys[0]![p], undefined, `JWKS leaks ${p}`);
    });

    it('mints a token that verifies against the JWKS fetched over HTTP: iss, aud, sub, exp, iat', async () => {
      const teamId = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
      const token = await ctx.app.services.oidc.mintToken({ type: 'team', id: teamId }, 'sts.amazonaws.com');
      const { payload, protectedHeader } = await verifyLikeACloud(token, 'sts.amazonaws.com', `neo:team:${teamId}`);
      const iat = Math.floor(clock.now() / 1000);
      assert.equal(payload.iss, issuer);
      assert.equal(payload.sub, `neo:team:${teamId}`);
      assert.equal(payload.aud, 'sts.amazonaws.com');
      assert.equal(payload.iat, iat);
      assert.equal(payload.exp, iat + OIDC_TOKEN_TTL_S);
      assert.ok(payload.exp - payload.iat <= 600, 'lives at most 10 minutes');
      assert.equal(typeof payload.jti, 'string');
      assert.equal(protectedHeader.alg, 'RS256');

      const userToken = await ctx.app.services.oidc.mintToken({ type: 'user', id: 'u-1' }, 'api://AzureADTokenExchange');
      const user = await verifyLikeACloud(userToken, 'api://AzureADTokenExchange', 'neo:user:u-1');
      assert.equal(user.payload.sub, 'neo:user:u-1');

      // Audience-bound: a token for one cloud is refused by another; expired after 5 minutes.
      await assert.rejects(verifyLikeACloud(token, 'api://AzureADTokenExchange', `neo:team:${teamId}`), /aud/);
      clock.advance((OIDC_TOKEN_TTL_S + 1) * 1000);
      await assert.rejects(verifyLikeACloud(token, 'sts.amazonaws.com', `neo:team:${teamId}`), /exp/);
    });

    it('rotation: the new key is published first and signs only after the JWKS cache time; the old one stays published for the grace after that', async () => {
      const oidc = ctx.app.services.oidc;
      const owner = { type: 'team' as const, id: 'team-rot' };
      const before = await oidc.mintToken(owner, 'sts.amazonaws.com');
      const oldKid = decodeProtectedHeader(before).kid;

      const grace = MIN_ROTATION_GRACE_MS;
      const rotatedAt = clock.now();
      const rotated = await oidc.rotate(grace);
      assert.equal(rotated.previous?.kid, oldKid);
      assert.notEqual(rotated.kid, oldKid);
      assert.equal(rotated.signs_from, new Date(rotatedAt + PUBLISH_AHEAD_MS).toISOString());
      assert.equal(rotated.previous?.remove_after, new Date(rotatedAt + PUBLISH_AHEAD_MS + grace).toISOString());

      // Published at once, so that a cloud holding the JWKS for its max-age (300 s) knows the new
      // key before any token carries it; meanwhile tokens are still signed with the old key.
      const kids = async () => ((await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
      assert.deepEqual(new Set(await kids()), new Set([oldKid, rotated.kid]));
      assert.equal(decodeProtectedHeader(await oidc.mintToken(owner, 'sts.amazonaws.com')).kid, oldKid);
      clock.advance(PUBLISH_AHEAD_MS - 1000);
      const lastOld = await oidc.mintToken(owner, 'sts.amazonaws.com');
      assert.equal(decodeProtectedHeader(lastOld).kid, oldKid);
      clock.advance(1000);
      const afterRotation = await oidc.mintToken(owner, 'sts.amazonaws.com');
      assert.equal(decodeProtectedHeader(afterRotation).kid, rotated.kid);

      // Both verify now (the old key's last token is within its 5 minutes).
      await verifyLikeACloud(lastOld, 'sts.amazonaws.com', 'neo:team:team-rot');
      await verifyLikeACloud(afterRotation, 'sts.amazonaws.com', 'neo:team:team-rot');

      // Past the grace: the old key is gone from the JWKS; a fresh token verifies with the new key.
      clock.advance(grace + 1000);
      assert.deepEqual(await kids(), [rotated.kid]);
      const later = await oidc.mintToken(owner, 'sts.amazonaws.com');
      await verifyLikeACloud(later, 'sts.amazonaws.com', 'neo:team:team-rot');
      // A token of the old key (even re-dated) no longer finds its key.
      await assert.rejects(verifyLikeACloud(before, 'sts.amazonaws.com', 'neo:team:team-rot'), /no applicable key/);
    });

    it('two rotations within the publish-ahead time: no key signs before its own signs_from, the one signing before both keeps signing', async () => {
      const oidc = ctx.app.services.oidc;
      const signer = () => signingKid('u-twice');
      const first = await signer();
      const r1 = await oidc.rotate(MIN_ROTATION_GRACE_MS);
      clock.advance(2 * 60_000);
      const r2 = await oidc.rotate(MIN_ROTATION_GRACE_MS);
      assert.equal(r2.previous?.kid, r1.kid);
      // r1's key has been published for 2 minutes only: a cloud may still hold a JWKS without it.
      assert.equal(await signer(), first, 'the key signing before the rotations signs until the first new key may');
      clock.advance(PUBLISH_AHEAD_MS - 2 * 60_000 - 1000);
      assert.equal(await signer(), first);
      clock.advance(1000);
      assert.equal(Date.parse(r1.signs_from), clock.now());
      assert.equal(await signer(), r1.kid, "from r1's signs_from");
      // The same choice by an instance that reads the key set afresh.
      ctx.app.services.bus.resetCaches();
      assert.equal(await signer(), r1.kid);
      clock.advance(Date.parse(r2.signs_from) - clock.now() - 1000);
      assert.equal(await signer(), r1.kid);
      clock.advance(1000);
      assert.equal(await signer(), r2.kid, "from r2's signs_from");
    });

    it('after two rotations, a retired key that no longer opens is skipped for an older published one, not for a key whose time has not come', async () => {
      const oidc = ctx.app.services.oidc;
      const signer = () => signingKid('u-sealed');
      clock.advance(1000);
      const first = await signer();
      const r1 = await oidc.rotate(MIN_ROTATION_GRACE_MS);
      clock.advance(2 * 60_000);
      const r2 = await oidc.rotate(MIN_ROTATION_GRACE_MS);
      // r1's sealed private key is damaged: it cannot sign when its time comes.
      await ctx.database.db.updateTable('oidc_signing_keys').set({ private_key: 'v1.damaged' }).where('kid', '=', r1.kid).execute();
      ctx.app.services.bus.resetCaches();
      assert.equal(await signer(), first);
      clock.advance(Date.parse(r1.signs_from) - clock.now() + 1000);
      assert.equal(await signer(), first, "r2's key does not sign before its time while the first key can");
      clock.advance(Date.parse(r2.signs_from) - clock.now());
      assert.equal(await signer(), r2.kid);
    });

    it('a rotation made by another process (the CLI on the same database) is served and used', async () => {
      const oidc = ctx.app.services.oidc;
      const result = await rotateOidcKey({ db: ctx.database.db, masterKey: Buffer.from(TEST_MASTER_KEY, 'base64'), clock: clock.now, graceMs: MIN_ROTATION_GRACE_MS });
      // What the bus does on SQLite when another process commits (data_version), and the 30 s reload elsewhere.
      ctx.app.services.bus.resetCaches();
      assert.notEqual(decodeProtectedHeader(await oidc.mintToken({ type: 'user', id: 'u-2' }, 'sts.amazonaws.com')).kid, result.kid, 'published first');
      clock.advance(PUBLISH_AHEAD_MS);
      const token = await oidc.mintToken({ type: 'user', id: 'u-2' }, 'sts.amazonaws.com');
      assert.equal(decodeProtectedHeader(token).kid, result.kid);
      await verifyLikeACloud(token, 'sts.amazonaws.com', 'neo:user:u-2');
    });

    it('the private key is stored sealed, never in clear', async () => {
      const rows = await ctx.database.db.selectFrom('oidc_signing_keys').selectAll().execute();
      assert.ok(rows.length >= 1);
      for (const r of rows) {
        assert.doesNotMatch(r.private_key, /PRIVATE KEY/);
        assert.doesNotMatch(Buffer.from(r.private_key, 'base64').toString('latin1'), /PRIVATE KEY/);
        assert.equal(JSON.parse(r.public_jwk).d, undefined);
      }
    });
  });
}

for (const dialect of testDialects()) {
  describe(`OIDC signing keys and the CLI (${dialect})`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false, env: { NEO_OIDC_ISSUER: 'https://byok.example.com' } });
    });
    after(async () => ctx?.close());

    const cli = async (args: string[], extra: Record<string, string> = {}) => {
      let stdout = '';
      let stderr = '';
      const env = {
        NEO_DATA_DIR: ctx.dataDir,
        NEO_DATABASE_URL: ctx.config.databaseUrl,
        NEO_JWT_SECRET: TEST_JWT_SECRET,
        NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
        NEO_MASTER_KEY: TEST_MASTER_KEY,
        NEO_OIDC_ISSUER: 'https://byok.example.com',
        ...extra,
      };
      const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, isTTY: false });
      return { code, stdout, stderr };
    };
    const kids = async () => (await ctx.app.services.oidc.jwks()).keys.map((k) => k.kid);

    it('`admin oidc rotate-key` makes a new signing key and keeps the previous one published for --grace', async () => {
      const first = (await kids())[0]!;
      const r = await cli(['admin', 'oidc', 'rotate-key', '--grace', '2h']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { kid: string; signs_from: string; previous: { kid: string; remove_after: string }; removed: string[] };
      assert.equal(out.previous.kid, first);
      assert.ok(Math.abs(Date.parse(out.signs_from) - (Date.now() + PUBLISH_AHEAD_MS)) < 60_000);
      assert.equal(Date.parse(out.previous.remove_after) - Date.parse(out.signs_from), 2 * 3_600_000, 'published for --grace after it stops signing');
      // The running server sees the other process's rotation (SQLite: data_version on the next request; elsewhere within 30 s).
      ctx.app.services.bus.resetCaches();
      assert.deepEqual(new Set(await kids()), new Set([first, out.kid]));
      const token = await ctx.app.services.oidc.mintToken({ type: 'user', id: 'u' }, 'sts.amazonaws.com');
      assert.equal(decodeProtectedHeader(token).kid, first, 'the new key signs only from signs_from');
    });

    it('a first key made by rotate-key (none to replace) signs at once, and says so', async () => {
      const fresh = await createTestContext({ dialect, captureLogs: false, env: { NEO_OIDC_ISSUER: 'https://byok.example.com' } });
      try {
        const at = Date.now();
        const r = await rotateOidcKey({ db: fresh.database.db, masterKey: Buffer.from(TEST_MASTER_KEY, 'base64'), clock: () => at, graceMs: MIN_ROTATION_GRACE_MS });
        assert.equal(r.previous, null);
        assert.equal(r.signs_from, new Date(at).toISOString());
        const token = await fresh.app.services.oidc.mintToken({ type: 'user', id: 'u' }, 'sts.amazonaws.com');
        assert.equal(decodeProtectedHeader(token).kid, r.kid);
      } finally {
        await fresh.close();
      }
    });

    it('`admin oidc rotate-key` refuses a bad --grace and documents itself', async () => {
      for (const grace of ['5m', '31d', '1y', 'soon']) {
        const r = await cli(['admin', 'oidc', 'rotate-key', '--grace', grace]);
        assert.equal(r.code, 2, grace);
        assert.match(r.stderr, /--grace must/);
      }
      const help = await cli(['admin', 'oidc', 'rotate-key', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /grace/);
    });

    it('a master-key rotation reseals the signing keys: the same kid signs under the new master key alone', async () => {
      const before = await kids();
      // The key that signs now (a rotation above may still be within its publish-ahead time).
      const signing = decodeProtectedHeader(await ctx.app.services.oidc.mintToken({ type: 'team', id: 't' }, 'sts.amazonaws.com')).kid;
      const newKey = randomBytes(32);
      const result = await rotateMasterKey({ db: ctx.database.db, newKey, oldKeys: [Buffer.from(TEST_MASTER_KEY, 'base64')] });
      assert.equal(result.complete, true, JSON.stringify(result));
      assert.equal(result.signing_keys_resealed, before.length);
      const rows = await ctx.database.db.selectFrom('oidc_signing_keys').select('master_key_id').execute();
      assert.ok(rows.every((r) => r.master_key_id === masterKeyId(newKey)));
      const issuer = new OidcIssuer({ db: ctx.database.db, issuer: 'https://byok.example.com', masterKey: newKey });
      assert.equal(decodeProtectedHeader(await issuer.mintToken({ type: 'team', id: 't' }, 'sts.amazonaws.com')).kid, signing);
      // The old master key alone no longer opens the database (the check value moved), nor the signing keys.
      const config = { ...ctx.config, masterKey: Buffer.from(TEST_MASTER_KEY, 'base64') };
      await assert.rejects(buildApp({ config, database: ctx.database, quiet: true }), MasterKeyMismatchError);
    });
  });
}

for (const dialect of testDialects()) {
  describe(`two instances on one database (${dialect})`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false, env: { NEO_OIDC_ISSUER: 'https://byok.example.com' } });
    });
    after(async () => ctx?.close());

    it('create one signing key between them when both need the first at once, serve the same JWKS, and verify each other\'s tokens', async () => {
      // A second instance: its own connections to the same database, the same configuration.
      const database = await openDatabase(ctx.config.databaseUrl, { poolSize: 2 });
      const other = await buildApp({ config: ctx.config, database, quiet: true });
      try {
        const owner = { type: 'team' as const, id: 'team-multi' };
        const [a, b] = await Promise.all([
          ctx.app.services.oidc.mintToken(owner, 'sts.amazonaws.com'),
          other.services.oidc.mintToken(owner, 'sts.amazonaws.com'),
        ]);
        assert.equal(decodeProtectedHeader(a).kid, decodeProtectedHeader(b).kid, 'both sign with the one key');
        const rows = await ctx.database.db.selectFrom('oidc_signing_keys').select('kid').execute();
        assert.equal(rows.length, 1);
        const jwksA = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        const jwksB = await other.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        assert.equal(jwksA.body, jwksB.body);
        // A token of one instance verifies with the other's JWKS.
        const verified = await jwtVerify(a, createLocalJWKSet(jwksB.json()), { issuer: 'https://byok.example.com', audience: 'sts.amazonaws.com' });
        assert.equal(verified.payload.sub, 'neo:team:team-multi');
      } finally {
        await other.close();
        await database.close();
      }
    });

    it('two rotations at once: one wins, the other says so; one active key remains', async () => {
      const masterKey = Buffer.from(TEST_MASTER_KEY, 'base64');
      const results = await Promise.allSettled([
        rotateOidcKey({ db: ctx.database.db, masterKey, graceMs: MIN_ROTATION_GRACE_MS }),
        rotateOidcKey({ db: ctx.database.db, masterKey, graceMs: MIN_ROTATION_GRACE_MS }),
      ]);
      assert.ok(results.some((r) => r.status === 'fulfilled'));
      for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /another rotation/);
      const active = await ctx.database.db.selectFrom('oidc_signing_keys').select('kid').where('active', '=', 1).execute();
      assert.equal(active.length, 1);
    });
  });
}

describe('OIDC issuer off (NEO_OIDC_ISSUER unset)', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
  });
  after(async () => ctx?.close());

  it('serves no discovery document or JWKS and mints nothing', async () => {
    for (const url of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const res = await ctx.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.match(res.json<{ message: string }>().message, /NEO_OIDC_ISSUER/);
    }
    assert.equal(ctx.app.services.oidc.issuer(), undefined);
    await assert.rejects(ctx.app.services.oidc.mintToken({ type: 'user', id: 'x' }, 'sts.amazonaws.com'), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'oidc_issuer_not_configured');
      assert.equal(err.status, 400);
      assert.match(err.message, /NEO_OIDC_ISSUER/);
      return true;
    });
  });
});

describe('NEO_OIDC_ISSUER validation', () => {
  const base = {
    NEO_JWT_SECRET: 'a-jwt-secret-that-is-long-enough-0123456789',
    NEO_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
    NEO_INTERNAL_TOKEN: 'an-internal-token-that-is-long-enough-0123',
    NEO_DATABASE_URL: ':memory:',
  };
  const issuerOf = (value: string) => loadConfig({ ...base, NEO_OIDC_ISSUER: value }).oidcIssuer;
  const problemOf = (value: string) => {
    try {
      loadConfig({ ...base, NEO_OIDC_ISSUER: value });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.join('\n');
    }
    return assert.fail(`accepted ${value}`);
  };

  it('accepts https (without a trailing slash) and loopback http for local tests', () => {
    assert.equal(issuerOf('https://byok.example.com'), 'https://byok.example.com');
    assert.equal(issuerOf('https://byok.example.com/'), 'https://byok.example.com');
    assert.equal(issuerOf('https://example.com/neo/'), 'https://example.com/neo');
    assert.equal(issuerOf('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(issuerOf('http://localhost:3000'), 'http://localhost:3000');
    assert.equal(loadConfig(base).oidcIssuer, undefined);
  });

  it('refuses plain http elsewhere, other schemes, queries, fragments, credentials and non-URLs', () => {
    assert.match(problemOf('http://byok.example.com'), /NEO_OIDC_ISSUER must use https/);
    assert.match(problemOf('http://10.0.0.5:8080'), /NEO_OIDC_ISSUER must use https/);
    assert.match(problemOf('ftp://byok.example.com'), /NEO_OIDC_ISSUER must be an https URL/);
    assert.match(problemOf('https://byok.example.com/?a=1'), /query/);
    assert.match(problemOf('https://byok.example.com/#x'), /fragment/);
    assert.match(problemOf('https://u:p@byok.example.com'), /credentials/);
    assert.match(problemOf('byok.example.com'), /NEO_OIDC_ISSUER must be the public https URL/);
  });
});
