/**
 * Overload (issue 15, item 4): while the event loop is saturated or memory is over its
 * threshold, requests get 503 `unavailable` with Retry-After (the contract's
 * ErrorResponse) at once instead of queueing; `/healthz` and `/metrics` still answer;
 * service resumes when the pressure is gone. The saturation comes from a route that
 * blocks the event loop, added by this test only (nothing test-specific in src/).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createTestContext, type TestContext } from './helpers/context.ts';

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* busy: the event loop does nothing else */
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls /readyz until it answers 200; false when it did not within `ms`. */
async function servedWithin(ctx: TestContext, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if ((await ctx.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200) return true;
    await sleep(50);
  }
  return false;
}

describe('overload: 503 with Retry-After, then recovery', () => {
  const contexts: TestContext[] = [];
  after(async () => {
    for (const c of contexts) await c.close();
  });

  it('a saturated event loop refuses requests with 503 unavailable and Retry-After, /healthz still answers, and service resumes', { timeout: 60_000 }, async () => {
    const ctx = await createTestContext({
      env: { NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '50', NEO_OVERLOAD_SAMPLE_INTERVAL_MS: '50', NEO_OVERLOAD_RETRY_AFTER_S: '3' },
      beforeReady: (app) => {
        app.get('/test/block', async () => {
          blockFor(200);
          return { blocked: true };
        });
      },
    });
    contexts.push(ctx);
    const { app } = ctx;

    // Starting the app (migrations, compiling schemas) itself holds the loop for a while.
    assert.ok(await servedWithin(ctx, 10_000), 'not serving after start');

    // Saturate: requests that each hold the loop for 200 ms, back to back.
    let saturating = true;
    const load = (async () => {
      while (saturating) {
        await app.inject({ method: 'GET', url: '/test/block' });
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    let refused;
    let healthDuringPressure;
    const deadline = Date.now() + 20_000;
    try {
      while (Date.now() < deadline) {
        const res = await app.inject({ method: 'GET', url: '/readyz', headers: { 'x-request-id': 'overload-probe-1' } });
        if (res.statusCode === 503) {
          refused = res;
          healthDuringPressure = await app.inject({ method: 'GET', url: '/healthz' });
          break;
        }
        await sleep(5);
      }
    } finally {
      saturating = false;
      await load;
    }
    assert.ok(refused, 'no 503 while the event loop was saturated');
    assert.equal(refused.headers['retry-after'], '3');
    assert.equal(refused.headers['x-request-id'], 'overload-probe-1');
    const body = refused.json();
    assert.equal(body.code, 'unavailable');
    assert.equal(body.kind, 'service unavailable');
    assert.equal(body.error_id, 'overload-probe-1');
    assert.match(body.message, /^service unavailable: the server is overloaded/);
    // Security headers are on the refusal too (the check runs after them).
    assert.ok(refused.headers['content-security-policy']);
    // Liveness answers under pressure: restarting a busy process helps nobody.
    assert.equal(healthDuringPressure?.statusCode, 200);


    // Recovery: once the loop is free again, requests are served.
    assert.ok(await servedWithin(ctx, 10_000), 'still refusing 10 s after the load stopped');
  });

  it('heap over its threshold: every API request is refused before authentication; /healthz and /metrics answer', { timeout: 30_000 }, async () => {
    const ctx = await createTestContext({
      env: { NEO_OVERLOAD_MAX_HEAP_USED_MB: '1', NEO_OVERLOAD_SAMPLE_INTERVAL_MS: '20' },
    });
    contexts.push(ctx);
    await sleep(100); // the first sample
    const api = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { authorization: 'Bearer not-a-token' } });
    assert.equal(api.statusCode, 503, api.body);
    assert.equal(api.headers['retry-after'], '2');
    assert.equal(api.json().code, 'unavailable');
    const resolve = await ctx.app.inject({ method: 'POST', url: '/internal/v1/credentials/resolve', payload: { user_id: 'x', model: 'gpt-5' } });
    assert.equal(resolve.statusCode, 503);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ctx.config.internalToken}` } });
    assert.equal(metrics.statusCode, 200);
  });

  it('invalid thresholds stop the server with the variable named', async () => {
    const { loadConfig } = await import('../src/config/index.ts');
    assert.throws(() => loadConfig({ NEO_DATA_DIR: '/nonexistent', NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 'fast', NEO_OVERLOAD_RETRY_AFTER_S: '0' }), (err: Error) => {
      assert.match(err.message, /NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS must be a whole number/);
      assert.match(err.message, /NEO_OVERLOAD_RETRY_AFTER_S must be between 1 and 3600/);
      return true;
    });
  });
});
