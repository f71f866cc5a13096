/**
 * One overall deadline per provider check (docs/byok.md "Time limits"): a check of many
 * sequential calls, each well within NEO_PROVIDER_TIMEOUT_MS, is cut at twice that
 * timeout and reported `unavailable`; its remaining calls are not made. Also the
 * additive `validation.outcome` and `provider_key.models_count` fields.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkDeadlineMs } from '../src/modules/byok/byok.service.ts';
import { urlOf } from './fakes/cloud-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const BEARER = 'ABSKQmVkcm9ja0FQSUtleS1kZWFkbGluZS10ZXN0cy0xMjM0NTY3OA==';
const TIMEOUT_MS = 1000;

/**
 * Bedrock's wire answers, each after `delayMs` (honouring the abort signal like undici):
 * the model list, then inference-profile pages that always offer a next page.
 */
function bedrockFetch() {
  const state = { delayMs: 0, calls: [] as string[], ids: new Set<string>() };
  const answer = (url: string): Response => {
    if (url.includes('/foundation-models')) {
      for (const id of ['amazon.nova-pro-v1:0', 'anthropic.claude-sonnet-4-5-20250929-v1:0']) state.ids.add(id);
      return Response.json({ modelSummaries: [{ modelId: 'amazon.nova-pro-v1:0' }, { modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0' }] });
    }
    const id = `us.anthropic.claude-profile-${state.calls.length}-v1:0`;
    state.ids.add(id);
    return Response.json({ inferenceProfileSummaries: [{ inferenceProfileId: id }], nextToken: `page-${state.calls.length}` });
  };
  const fetchFn: typeof fetch = (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = urlOf(input);
      state.calls.push(url);
      const signal = init?.signal;
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = setTimeout(() => resolve(answer(url)), state.delayMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  return { state, fetchFn };
}

for (const dialect of testDialects()) {
  describe(`provider check deadline and outcome fields [${dialect}]`, () => {
    let ctx: TestContext;
    const fake = bedrockFetch();
    before(async () => {
      ctx = await createTestContext({
        dialect,
        // Loopback placeholders: the injected fetch answers, nothing is sent anywhere.
        env: { NEO_PROVIDER_URL_AMAZON_BEDROCK: 'http://127.0.0.1:9', NEO_PROVIDER_URL_AWS_STS: 'http://127.0.0.1:9', NEO_PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS) },
        deps: { fetch: fake.fetchFn },
      });
    });
    after(async () => ctx.close());

    async function byokUser(): Promise<TestUser> {
      const user = await createUser(ctx);
      await setByok(ctx, user.owner);
      return user;
    }

    it('the deadline is twice the per-call timeout, capped at 20 s', () => {
      assert.equal(checkDeadlineMs(1000), 2000);
      assert.equal(checkDeadlineMs(8000), 16_000);
      assert.equal(checkDeadlineMs(10_000), 20_000);
    });

    it('an accepted check reports outcome accepted and models_count = the ids the provider listed', async () => {
      fake.state.delayMs = 0;
      fake.state.ids.clear();
      const user = await byokUser();
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/amazon-bedrock', headers: user.headers, payload: { api_key: BEARER } });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.validation.outcome, 'accepted');
      assert.equal(body.validation.valid, true);
      assert.equal(body.provider_key.is_validated, true);
      assert.equal(body.provider_key.models_count, fake.state.ids.size);
      assert.ok(fake.state.ids.size > 2);
      const listed = (await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers })).json().provider_keys;
      assert.equal(listed[0].models_count, fake.state.ids.size);
    });

    it('calls each within their own timeout but past the overall deadline → unavailable, saved unvalidated, no further calls', async () => {
      // Six sequential calls of 600 ms each (3.6 s) against a 1 s per-call timeout and a 2 s deadline.
      fake.state.delayMs = 600;
      const user = await byokUser();
      const validated = await ctx.app.inject({ method: 'POST', url: '/api/v1/byok/providers/amazon-bedrock/validate', headers: user.headers, payload: { api_key: BEARER } });
      assert.equal(validated.statusCode, 200, validated.body);
      const v = validated.json();
      assert.equal(v.valid, false);
      assert.equal(v.outcome, 'unavailable');
      assert.match(v.error, /did not finish within 2 s/);

      fake.state.calls.length = 0;
      const saved = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/amazon-bedrock', headers: user.headers, payload: { api_key: BEARER } });
      assert.equal(saved.statusCode, 200, saved.body);
      const body = saved.json();
      assert.equal(body.validation.outcome, 'unavailable');
      assert.equal(body.provider_key.is_validated, false);
      assert.equal(body.provider_key.models_count, null, 'an inconclusive check remembers no models');
      const made = fake.state.calls.length;
      assert.ok(made < 6, `the check stopped at the deadline (made ${made} calls)`);
      // The adapter's remaining pages are not requested after the answer was sent.
      await new Promise((r) => setTimeout(r, 2 * fake.state.delayMs));
      assert.equal(fake.state.calls.length, made);
    });
  });
}
