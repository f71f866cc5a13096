/**
 * Rate limits (src/http/security.ts): writes per principal, provider-calling operations
 * per principal (stricter), failed authentications per client IP; every 429 is the
 * contract's ErrorResponse with Retry-After. With NEO_TEST_REDIS_URL the limits are
 * shared by two app instances through Redis; a dead Redis fails open.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config/index.ts';
import { buildApp, type App } from '../src/http/app.ts';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, testDialects, type TestContext } from './helpers/context.ts';
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

    it('limits failed authentications per client IP, then refuses even valid credentials from that IP', async () => {
      const ip = freshIp();
      const u = await byokUser(ctx);
      const bad = { authorization: 'Bearer not-a-jwt' };
      for (let i = 0; i < 4; i++) {
        const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip });
        assert.equal(res.statusCode, 401);
      }
      assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: bad, remoteAddress: ip }));
      // No guessing oracle: a valid token from the same address is refused too …
      assertRateLimited(await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: ip }));
      // … while another address is unaffected, and public routes stay open.
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: u.headers, remoteAddress: freshIp() })).statusCode, 200);
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz', remoteAddress: ip })).statusCode, 200);
    });

    it('counts failed internal-token attempts too', async () => {
      const ip = freshIp();
      for (let i = 0; i < 4; i++) {
        const res = await ctx.app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/resolve',
          headers: { authorization: `Bearer wrong-${i}` },
          payload: { user_id: '00000000-0000-7000-8000-000000000000', model: 'auto' },
          remoteAddress: ip,
        });
        assert.equal(res.statusCode, 401);
      }
      assertRateLimited(
        await ctx.app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/resolve',
          headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
          payload: { user_id: '00000000-0000-7000-8000-000000000000', model: 'auto' },
          remoteAddress: ip,
        }),
      );
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

/** A second instance on the same database, configured like the first. */
async function secondInstance(ctx: TestContext, env: Record<string, string>): Promise<App> {
  const config = loadConfig({
    NEO_DATA_DIR: ctx.dataDir,
    NEO_DATABASE_URL: ctx.config.databaseUrl,
    NEO_JWT_SECRET: TEST_JWT_SECRET,
    NEO_MASTER_KEY: TEST_MASTER_KEY,
    NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
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
