/**
 * HTTP hygiene (src/http/security.ts and buildApp): security headers and CSP on every
 * response (the settings page and /docs checked in a real browser for CSP violations),
 * CORS off unless configured, the 64 KiB body limit, content types, request timeouts,
 * X-Request-Id accepted only in a safe format, no-store on API responses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { CSP_DIRECTIVES, DOCS_CSP } from '../src/http/security.ts';
import { chromiumMissing, IN_CI, launchChromium, openPage } from './helpers/browser.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const EXPECTED_CSP = Object.entries(CSP_DIRECTIVES)
  .map(([k, v]) => `${k} ${v.join(' ')}`)
  .join(';');

function assertSecurityHeaders(headers: Record<string, unknown>, where: string): void {
  assert.equal(headers['x-content-type-options'], 'nosniff', where);
  assert.equal(headers['x-frame-options'], 'DENY', where);
  assert.equal(headers['referrer-policy'], 'no-referrer', where);
  assert.match(String(headers['strict-transport-security']), /max-age=31536000; includeSubDomains/, where);
  assert.equal(headers['cross-origin-opener-policy'], 'same-origin', where);
  assert.equal(headers['cross-origin-resource-policy'], 'same-origin', where);
  assert.match(String(headers['permissions-policy']), /camera=\(\)/, where);
  assert.equal(headers['x-powered-by'], undefined, where);
  const csp = String(headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/, where);
  assert.match(csp, /frame-ancestors 'none'/, where);
  assert.doesNotMatch(csp, /unsafe-eval/, where);
}

for (const dialect of testDialects()) {
  describe(`HTTP hygiene [${dialect}]`, () => {
    let ctx: TestContext;
    let user: TestUser;
    before(async () => {
      ctx = await createTestContext({ dialect });
      user = await createUser(ctx);
      await setByok(ctx, user.owner);
    });
    after(async () => ctx.close());

    it('every kind of response carries the security headers and the strict CSP', async () => {
      const cases = [
        await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: user.headers }),
        await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode' }),
        await ctx.app.inject({ method: 'GET', url: '/nope' }),
        await ctx.app.inject({ method: 'GET', url: '/healthz' }),
        await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' }),
      ];
      for (const res of cases) {
        assertSecurityHeaders(res.headers, `${res.statusCode} ${res.body.slice(0, 80)}`);
        assert.equal(String(res.headers['content-security-policy']).replace(/; /g, ';'), EXPECTED_CSP);
      }
    });

    it('API responses are not cached', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      const err = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers' });
      assert.equal(err.headers['cache-control'], 'no-store');
    });

    it('the settings page keeps its own CSP, and /docs gets the docs CSP', async () => {
      const page = await ctx.app.inject({ method: 'GET', url: '/' });
      assert.equal(page.statusCode, 200);
      assertSecurityHeaders(page.headers, '/');
      assert.doesNotMatch(String(page.headers['content-security-policy']), /unsafe-inline/);
      const docs = await ctx.app.inject({ method: 'GET', url: '/docs/' });
      assert.equal(docs.statusCode, 200);
      assert.equal(docs.headers['content-security-policy'], DOCS_CSP);
      assertSecurityHeaders(docs.headers, '/docs/');
    });

    it('CORS is off by default: no Access-Control headers, preflights are not answered', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { ...user.headers, origin: 'https://evil.example' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      const pre = await ctx.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/byok/mode',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'PATCH' },
      });
      assert.equal(pre.headers['access-control-allow-origin'], undefined);
      assert.notEqual(pre.statusCode, 204);
    });

    it('a body over 64 KiB is a 413 ErrorResponse; just under it reaches validation', async () => {
      const big = await ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/providers/openai',
        headers: { ...user.headers, 'content-type': 'application/json' },
        payload: JSON.stringify({ api_key: 'x'.repeat(64 * 1024) }),
      });
      assert.equal(big.statusCode, 413);
      assert.equal(big.json().code, 'payload_too_large');
      assert.equal(big.json().error_id, big.headers['x-request-id']);
      const under = await ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/providers/openai',
        headers: { ...user.headers, 'content-type': 'application/json' },
        payload: JSON.stringify({ api_key: 'x'.repeat(64 * 1024 - 20) }),
      });
      assert.equal(under.statusCode, 400);
      assert.equal(under.json().code, 'invalid_request');
      assert.ok(!under.body.includes('xxxxxxxxxx'), 'the submitted value is not echoed');
    });

    it('a body that is not JSON is a 415 ErrorResponse', async () => {
      const res = await ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/mode',
        headers: { ...user.headers, 'content-type': 'text/plain' },
        payload: 'mode=byok',
      });
      assert.equal(res.statusCode, 415);
      assert.equal(res.json().code, 'unsupported_media_type');
      for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
        const r = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, 'content-type': type }, payload: 'mode=byok' });
        assert.equal(r.statusCode, 415, type);
      }
    });

    it('the server has bounded request, header and idle timeouts', () => {
      const server = ctx.app.server;
      assert.equal(server.requestTimeout, 30_000);
      assert.equal(server.headersTimeout, 5_000);
      assert.equal(server.maxConnections, 512, 'the default NEO_MAX_CONNECTIONS');
      assert.equal(server.timeout, 30_000);
      assert.equal(server.keepAliveTimeout, 72_000);
    });

    it('X-Request-Id is kept only in a safe format and is the error_id', async () => {
      const ok = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-request-id': 'trace-01:abc.DEF_9' } });
      assert.equal(ok.headers['x-request-id'], 'trace-01:abc.DEF_9');
      assert.equal(ok.json().error_id, 'trace-01:abc.DEF_9');
      const unsafe = ['a b', '<script>', 'x'.repeat(129), 'é', '../../etc', '', 'a,b', '"quoted"'];
      for (const value of unsafe) {
        const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-request-id': value } });
        assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, `replaced: ${JSON.stringify(value)}`);
        assert.equal(res.json().error_id, res.headers['x-request-id']);
      }
      const dup = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { 'x-request-id': ['one', 'two'] } });
      assert.match(String(dup.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'duplicate headers are not trusted');
      const max = 'a'.repeat(128);
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': max } })).headers['x-request-id'], max);
    });
  });
}

describe('CORS when NEO_CORS_ORIGINS is set', () => {
  let ctx: TestContext;
  let user: TestUser;
  before(async () => {
    ctx = await createTestContext({ env: { NEO_CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' } });
    user = await createUser(ctx);
    await setByok(ctx, user.owner);
  });
  after(async () => ctx.close());

  it('answers a preflight from a listed origin, with the headers a client needs', async () => {
    const res = await ctx.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/byok/mode',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(res.headers['access-control-allow-methods']), /PATCH/);
    assert.match(String(res.headers['access-control-allow-headers']), /Authorization/);
    assert.match(String(res.headers['access-control-allow-headers']), /X-Api-Key/);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    assert.match(String(res.headers.vary), /Origin/);
  });

  it('exposes X-Request-Id and Retry-After to a listed origin and says nothing to others', async () => {
    const ok = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { ...user.headers, origin: 'https://admin.example.com' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://admin.example.com');
    assert.match(String(ok.headers['access-control-expose-headers']), /X-Request-Id/);
    assert.match(String(ok.headers['access-control-expose-headers']), /Retry-After/);
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null', 'http://app.example.com']) {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: { ...user.headers, origin } });
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
    }
  });
});

const missing = chromiumMissing();
describe('CSP in a real browser', { skip: missing && !IN_CI ? missing : false }, () => {
  let ctx: TestContext;
  let browser: Browser;
  let base: string;
  before(async () => {
    if (missing) throw new Error(missing);
    ctx = await createTestContext();
    base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ctx?.close();
  });

  it('/docs (swagger-ui) renders the API reference with no CSP violation', async () => {
    const p = await openPage(browser, base);
    try {
      await p.page.goto('/docs/', { waitUntil: 'load' });
      await p.page.waitForSelector('.swagger-ui .info .title');
      assert.match(await p.page.textContent('.swagger-ui .info .title') ?? '', /Neo API/);
      await p.page.waitForSelector('.opblock-tag');
      assert.deepEqual(await p.cspViolations(), []);
      assert.deepEqual(p.record.errors, []);
    } finally {
      await p.close();
    }
  });

  it('the settings page loads with no CSP violation under the global headers', async () => {
    const p = await openPage(browser, base);
    try {
      const res = await p.page.goto('/', { waitUntil: 'load' });
      assert.equal(res?.status(), 200);
      await p.page.waitForLoadState('networkidle');
      assert.deepEqual(await p.cspViolations(), []);
      assert.deepEqual(p.record.errors, []);
    } finally {
      await p.close();
    }
  });
});
