import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';

for (const dialect of testDialects()) {
  describe(`operations endpoints [${dialect}]`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => ctx.close());

    it('GET /healthz answers ok with a request id', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'ok' });
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    it('GET /readyz answers ok while the database is reachable, with the cache bus state', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 200);
      // One process-local bus in tests (PostgreSQL/Redis states: test/bus-gap.test.ts).
      assert.deepEqual(res.json(), { status: 'ok', cache_bus: 'local' });
    });

    it('keeps a safe X-Request-Id and replaces an unsafe one', async () => {
      const ok = await ctx.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      assert.equal(ok.headers['x-request-id'], 'abc-123');
      const bad = await ctx.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b<script>' } });
      assert.notEqual(bad.headers['x-request-id'], 'a b<script>');
    });

    it('unknown routes answer a 404 ErrorResponse', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/nope' });
      assert.equal(res.statusCode, 404);
      const body = res.json();
      assert.equal(body.code, 'not_exists');
      assert.equal(body.kind, 'not found');
      assert.equal(body.error_id, res.headers['x-request-id']);
      assert.match(body.message, /^not found: /);
    });

    it('GET /metrics serves Prometheus text to the internal token only', async () => {
      const anonymous = await ctx.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.json().code, 'unauthorized');
      const res = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` } });
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /neo_http_requests_total/);
    });

    it('GET /api/openapi.json is OpenAPI 3.1 with both security schemes', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' });
      assert.equal(res.statusCode, 200);
      const doc = res.json();
      assert.equal(doc.openapi, '3.1.0');
      assert.ok(doc.components.securitySchemes.BearerAuth);
      assert.ok(doc.components.securitySchemes.ApiKeyAuth);
      assert.ok(doc.components.schemas.ErrorResponse);
    });
  });
}
