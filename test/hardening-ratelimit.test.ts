/**
 * Rate limits (src/http/security.ts): writes per principal, provider-calling operations
 * per principal (stricter), failed authentications per client IP (only failed attempts
 * are refused; valid credentials from that IP pass); every 429 is the
 * contract's ErrorResponse with Retry-After. With NEO_TEST_REDIS_URL the limits are
 * shared by two app instances through Redis; a dead Redis fails open.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config/index.ts';
import { buildApp, type App } from '../src/app.ts';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_SECRETS_ENV, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createUser, setByok, type TestUser } from './helpers/fixtures.ts';

/** A fresh loopback address per test, so per-IP counters never collide across runs. */
function freshIp(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 255)}.${randomInt(1, 255)}`;
}

function assertRateLimited(res: LightMyRequestResponse): void {
  assert.equal(res.statusCode, 429, res.body);
  const body = res.json();
  assert.equal(body.code, 'rate_limited');
  assert.equal(body.kind, 'rate limited');
  assert.equal(body.error, 'Too many requests');
  assert.match(body.message, /^rate limited: /);
  assert.equal(body.error_id, res.headers['x-request-id']);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'error_id', 'kind', 'message']);
  const retry = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${String(res.headers['retry-after'])}`);
}

async function byokUser(ctx: TestContext): Promise<TestUser> {
  const u = await createUser(ctx);
  await setByok(ctx, u.owner);
  return u;
}

const setMode = (app: App, headers: Record<string, string>, ip = '127.0.0.1') =>
  app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers, payload: { mode: 'neo' }, remoteAddress: ip });

for (const dialect of testDialects()) {
  describe(`rate limits [${dialect}]`, () => {
    let ctx: TestContext;
    let fake: FakeKeyProviders;
    before(async () => {
      fake = await startFakeKeyProviders();
      ctx = await createTestContext({
        dialect,
        env: {
          ...fake.env,
          NEO_RATE_LIMIT: 'on',
          NEO_RATE_LIMIT_WRITES: '5',
          NEO_RATE_LIMIT_PROVIDER_CALLS: '3',
          NEO_RATE_LIMIT_AUTH_FAILURES: '4',
        },
      });
    });
    after(async () => {
      await ctx.close();
      await fake.close();
    });

    it('limits writes per principal: the 6th write in a minute is a 429 ErrorResponse with Retry-After', async () => {
      const u = await byokUser(ctx);
      for (let i = 0; i < 5; i++) {
        const ok = await setMode(ctx.app, u.headers);
        assert.equal(ok.statusCode, 200, ok.body);
        assert.equal(ok.headers['x-ratelimit-limit'], '5');
        assert.equal(ok.headers['x-ratelimit-remaining'], String(4 - i));
      }
      assertRateLimited(await setMode(ctx.app, u.headers));
      // Same principal through its API key: the same budget.
      const key = await createApiKey(ctx, u);
      assertRateLimited(await setMode(ctx.app, { 'x-api-key': key }));
      // Reads are not limited; another principal has its own budget.
      const read = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers });
      assert.equal(read.statusCode, 200);
      const other = await byokUser(ctx);
      assert.equal((await setMode(ctx.app, other.headers)).statusCode, 200);
    });

    it('limits provider calls (validate and key saves) more strictly, before the provider is called', async () => {
      const u = await byokUser(ctx);
      const key = `sk-openai-${randomBytes(12).toString('hex')}`;
      for (let i = 0; i < 3; i++) {
        const res = await ctx.app.inject({ method: 'POST', url: '/api/v1/byok/providers/openai/validate', headers: u.headers, payload: { api_key: key } });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().valid, true);
      }
      const calls = fake.requests.length;
      assertRateLimited(await ctx.app.inject({ method: 'POST', url: '/api/v1/byok/providers/openai/validate', headers: u.headers, payload: { api_key: key } }));
      // A key save costs a provider call too: same budget.
      const save = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: u.headers, payload: { api_key: key } });
      assertRateLimited(save);
      assert.equal(fake.requests.length, calls, 'no provider call was made for a limited request');
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: u.headers })).json().provider_keys.length, 0, 'nothing saved');
      // Other writes still have budget (5 writes: 3 validations + the limited ones count).
      const other = await byokUser(ctx);
      assert.equal(
        (await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: other.headers, payload: { api_key: key } })).statusCode,
        200,
      );
    });

    it('limits failed authentications per client IP: past the allowance failures get 429, valid credentials from that IP still pass', async () => {
      const ip = freshIp();
      const u = await byokUser(ctx);
      const key = await createApiKey(ctx, u);
      const bad = { authorization: 'Bearer not-a-jwt' };
      for (let i = 0; i < 4; i++) {
        const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip });
        assert.equal(res.statusCode, 401);
      }
      assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip }));
      // Every kind of failed credential from that address is refused with 429 …
      assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-api-key': `neo_sk_${'A'.repeat(32)}` }, remoteAddress: ip }));
      assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', remoteAddress: ip }));
      // … while valid credentials from the SAME address pass (behind a proxy without
      // NEO_TRUST_PROXY every client shares one IP: one guesser must not lock all out).
      const jwt = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: ip });
      assert.equal(jwt.statusCode, 200, jwt.body);
      assert.equal(jwt.json().mode, 'neo');
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { 'x-api-key': key }, remoteAddress: ip })).statusCode, 200);
      // A valid write from it still goes through (the per-principal write limit applies).
      assert.equal((await setMode(ctx.app, u.headers, ip)).statusCode, 200);
      // Another address is unaffected, and public routes stay open.
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: freshIp() })).statusCode, 401);
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz', remoteAddress: ip })).statusCode, 200);
      // One warning for the address, not one per refused attempt.
      assert.equal(ctx.logs.filter((l) => l.includes('"limit":"auth_failures"') && l.includes(`"ip":"${ip}"`)).length, 1);
    });

    it('counts failed internal-token attempts too; the valid token still resolves from that IP', async () => {
      const ip = freshIp();
      const resolve = (token: string) =>
        ctx.app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/resolve',
          headers: { authorization: `Bearer ${token}` },
          payload: { user_id: '00000000-0000-7000-8000-000000000000', model: 'auto' },
          remoteAddress: ip,
        });
      for (let i = 0; i < 4; i++) assert.equal((await resolve(`wrong-${i}`)).statusCode, 401);
      assertRateLimited(await resolve('wrong-again'));
      // The runtime's own token is not refused: the call reaches the route (unknown user → 404).
      const ok = await resolve(TEST_INTERNAL_TOKEN);
      assert.equal(ok.statusCode, 404, ok.body);
      assert.equal(ok.json().code, 'not_exists');
    });

    it('valid requests never count as failed authentications', async () => {
      const ip = freshIp();
      const u = await byokUser(ctx);
      for (let i = 0; i < 10; i++) {
        const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: ip });
        assert.equal(res.statusCode, 200);
      }
    });
  });
}

describe('rate limits can be turned off', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext({ env: { NEO_RATE_LIMIT: 'off', NEO_RATE_LIMIT_WRITES: '2', NEO_RATE_LIMIT_AUTH_FAILURES: '1' } });
  });
  after(async () => ctx.close());

  it('NEO_RATE_LIMIT=off lets every write and every failed attempt through', async () => {
    const u = await byokUser(ctx);
    for (let i = 0; i < 6; i++) assert.equal((await setMode(ctx.app, u.headers)).statusCode, 200);
    const ip = freshIp();
    for (let i = 0; i < 4; i++) {
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { authorization: 'Bearer x' }, remoteAddress: ip })).statusCode, 401);
    }
  });
});

/**
 * The client IP the per-IP limit uses under each NEO_TRUST_PROXY form: one failed login
 * is allowed, the second is limited, and its warning names the address that was counted.
 */
describe('NEO_TRUST_PROXY decides which address is the client', () => {
  const contexts: TestContext[] = [];
  after(async () => {
    for (const c of contexts) await c.close();
  });

  async function clientIpUnder(trustProxy: string, remoteAddress: string, forwardedFor: string): Promise<string> {
    const ctx = await createTestContext({ env: { NEO_RATE_LIMIT: 'on', NEO_RATE_LIMIT_AUTH_FAILURES: '1', NEO_TRUST_PROXY: trustProxy } });
    contexts.push(ctx);
    const bad = { authorization: 'Bearer nope', 'x-forwarded-for': forwardedFor };
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress })).statusCode, 401);
    assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress }));
    const warnings = ctx.logs.map((l) => JSON.parse(l) as { limit?: string; ip?: string }).filter((e) => e.limit === 'auth_failures');
    assert.equal(warnings.length, 1);
    return warnings[0]!.ip!;
  }

  // A client sends a forged X-Forwarded-For; the proxy 10.0.0.5 appends what it saw (203.0.113.9).
  const viaProxy = ['10.0.0.5', '198.51.100.66, 203.0.113.9'] as const;

  it('off: the socket address (every client behind a proxy shares it)', async () => {
    assert.equal(await clientIpUnder('off', ...viaProxy), '10.0.0.5');
  });
  it('on: the leftmost X-Forwarded-For entry, which the client chose', async () => {
    assert.equal(await clientIpUnder('on', ...viaProxy), '198.51.100.66');
  });
  it('a hop count: the address the nearest proxy saw, not the forged one', async () => {
    assert.equal(await clientIpUnder('1', ...viaProxy), '203.0.113.9');
    assert.equal(await clientIpUnder('2', ...viaProxy), '198.51.100.66');
  });
  it('trusted proxy addresses/CIDRs: the first untrusted address from the right', async () => {
    assert.equal(await clientIpUnder('10.0.0.0/8', ...viaProxy), '203.0.113.9');
    // A socket that is not a trusted proxy: its X-Forwarded-For is ignored.
    assert.equal(await clientIpUnder('10.9.9.9, 192.168.0.0/16', ...viaProxy), '10.0.0.5');
    assert.equal(await clientIpUnder('10.0.0.5,203.0.113.9', ...viaProxy), '198.51.100.66');
  });
});

/** A second instance on the same database, configured like the first. */
async function secondInstance(ctx: TestContext, env: Record<string, string>): Promise<App> {
  const config = loadConfig({
    NEO_DATA_DIR: ctx.dataDir,
    NEO_DATABASE_URL: ctx.config.databaseUrl,
    ...TEST_SECRETS_ENV,
    NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env,
  });
  const app = await buildApp({ config, database: ctx.database, quiet: true });
  await app.ready();
  return app;
}

const redisUrl = process.env.NEO_TEST_REDIS_URL;
describe('rate limits shared through Redis by two instances', { skip: redisUrl ? false : 'NEO_TEST_REDIS_URL is not set' }, () => {
  let ctx: TestContext;
  let b: App;
  const env = { NEO_RATE_LIMIT: 'on', NEO_REDIS_URL: redisUrl ?? '', NEO_RATE_LIMIT_WRITES: '4', NEO_RATE_LIMIT_AUTH_FAILURES: '3' };
  before(async () => {
    ctx = await createTestContext({ env });
    b = await secondInstance(ctx, env);
  });
  after(async () => {
    await b.close();
    await ctx.close();
  });

  it('writes on instance A and instance B share one budget per principal', async () => {
    const u = await byokUser(ctx);
    assert.equal((await setMode(ctx.app, u.headers)).statusCode, 200);
    assert.equal((await setMode(b, u.headers)).statusCode, 200);
    assert.equal((await setMode(ctx.app, u.headers)).statusCode, 200);
    assert.equal((await setMode(b, u.headers)).statusCode, 200);
    assertRateLimited(await setMode(ctx.app, u.headers));
    assertRateLimited(await setMode(b, u.headers));
  });

  it('failed authentications on both instances add up per IP', async () => {
    const ip = freshIp();
    const bad = { authorization: 'Bearer nope' };
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip })).statusCode, 401);
    assert.equal((await b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip })).statusCode, 401);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip })).statusCode, 401);
    assertRateLimited(await b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip }));
    assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip }));
    // Valid credentials from that address pass on both instances.
    const u = await byokUser(ctx);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: ip })).statusCode, 200);
    assert.equal((await b.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: ip })).statusCode, 200);
  });
});

describe('a Redis outage fails open', () => {
  let ctx: TestContext;
  before(async () => {
    // Port 1 on loopback: nothing listens there.
    ctx = await createTestContext({ env: { NEO_RATE_LIMIT: 'on', NEO_REDIS_URL: 'redis://127.0.0.1:1', NEO_RATE_LIMIT_WRITES: '1' } });
  });
  after(async () => ctx.close());

  it('writes still succeed (limits are not enforced while the store is down) and the outage is logged', async () => {
    const u = await byokUser(ctx);
    for (let i = 0; i < 3; i++) assert.equal((await setMode(ctx.app, u.headers)).statusCode, 200);
    assert.ok(ctx.logs.some((l) => l.includes('rate-limit Redis unreachable')), 'the outage is logged');
  });
});
