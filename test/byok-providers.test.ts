/**
 * The six key-based provider checks against the fake providers (test/fakes/key-providers.ts):
 * every outcome of every provider, the wire details (path, auth header, never the key
 * in the URL, no redirect followed), and how each outcome is saved or refused over HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createProviderRegistry } from '../src/providers/registry.ts';
import type { CheckContext, CheckOutcome, ProviderName } from '../src/providers/types.ts';
import { ANTHROPIC_VERSION, FAKE_PROVIDERS, MODELS, startFakeKeyProviders, type FakeKeyProviders, type FakeProvider } from './fakes/key-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

/**
 * Generous for answers that come (a loaded CI machine must not turn them into
 * timeouts); short for the `-slow` keys, whose answer comes after 12 s at the earliest.
 */
const TIMEOUT_MS = 5000;
const SLOW_TIMEOUT_MS = 300;

/** Marker → expected outcome, per provider (PROVIDERS.md table). */
const MATRIX: Record<FakeProvider, Record<string, CheckOutcome>> = {
  openai: { ok: 'accepted', rejected: 'rejected', restricted: 'restricted', forbidden: 'restricted', billing: 'billing', ratelimited: 'rate_limited', down: 'unavailable', slow: 'unavailable', redirect: 'unavailable' },
  anthropic: { ok: 'accepted', rejected: 'rejected', restricted: 'restricted', billing: 'billing', ratelimited: 'rate_limited', overloaded: 'unavailable', down: 'unavailable', slow: 'unavailable' },
  google: { ok: 'accepted', rejected: 'rejected', restricted: 'restricted', leaked: 'rejected', billing: 'billing', ratelimited: 'rate_limited', down: 'unavailable', slow: 'unavailable' },
  xai: { ok: 'accepted', rejected: 'rejected', blocked: 'rejected', disabled: 'rejected', teamblocked: 'rejected', restricted: 'restricted', ratelimited: 'rate_limited', down: 'unavailable', slow: 'unavailable' },
  openrouter: { ok: 'accepted', rejected: 'rejected', management: 'rejected', billing: 'billing', ratelimited: 'rate_limited', down: 'unavailable', slow: 'unavailable' },
  'vercel-gateway': { ok: 'accepted', rejected: 'rejected', restricted: 'restricted', billing: 'billing', ratelimited: 'rate_limited', down: 'unavailable', slow: 'unavailable' },
};
// PROVIDERS.md rule 0: a 200 that is not the provider's documented JSON proves nothing.
for (const outcomes of Object.values(MATRIX)) Object.assign(outcomes, { garbled: 'unavailable', wrongshape: 'unavailable' });

/** A realistic-looking key carrying a fake-provider marker. */
function keyFor(provider: string, marker: string): string {
  const body = `${provider.replace(/[^a-z]/g, '')}${marker === 'ok' ? '' : `-${marker}`}-Q7fK2mZp9XvL4tR8wN3b`;
  return provider === 'anthropic' ? `sk-ant-api03-${body}` : provider === 'google' ? `AIzaSy${body}` : `sk-${body}`;
}

/** Where each provider expects the key. */
function keyHeader(provider: FakeProvider, headers: Record<string, string>): string | undefined {
  if (provider === 'google') return headers['x-goog-api-key'];
  return /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
}

describe('key-based provider adapters against the fake providers', () => {
  let fake: FakeKeyProviders;
  const registry = createProviderRegistry();
  let ctx: CheckContext;
  before(async () => {
    fake = await startFakeKeyProviders();
    ctx = { fetch, timeoutMs: TIMEOUT_MS, signal: new AbortController().signal, baseUrl: (api, fallback) => fake.env[`NEO_PROVIDER_URL_${api.toUpperCase().replace('-', '_')}`] ?? fallback, clock: Date.now };
  });
  after(async () => fake.close());

  for (const provider of FAKE_PROVIDERS) {
    for (const [marker, expected] of Object.entries(MATRIX[provider])) {
      it(`${provider}: ${marker} → ${expected}`, async () => {
        const adapter = registry.get(provider)!;
        assert.equal(adapter.liveCheck, true);
        const key = keyFor(provider, marker);
        const before = fake.requests.length;
        const result = await adapter.check(adapter.prepare({ apiKey: key, location: null }), marker === 'slow' ? { ...ctx, timeoutMs: SLOW_TIMEOUT_MS } : ctx);
        assert.equal(result.outcome, expected, result.message);
        if (marker === 'slow') assert.match(result.message, /did not answer in time/);
        assert.ok(result.message.length > 0);
        // Plain-language message: never the key, never the provider's raw body.
        assert.ok(!result.message.includes(key));
        assert.ok(!result.message.includes(key.slice(0, 8)), 'no echoed key fragment');
        assert.ok(!/Incorrect API key|invalid x-api-key|API key not valid/.test(result.message));
        if (expected === 'accepted') assert.deepEqual(result.models, MODELS[provider]);
        const calls = fake.requests.slice(before);
        assert.ok(calls.length >= 1);
        for (const c of calls) {
          assert.equal(c.provider, provider);
          assert.equal(c.method, 'GET');
          assert.ok(!c.query.includes(key) && !c.path.includes(key), 'the key never travels in the URL');
          // OpenRouter's model list is public and is fetched without the key.
          if (!(provider === 'openrouter' && c.path === '/api/v1/models')) assert.equal(keyHeader(provider, c.headers), key);
          if (provider === 'anthropic') {
            assert.equal(c.headers['anthropic-version'], ANTHROPIC_VERSION);
            assert.equal(c.headers['x-api-key'], undefined, 'the key travels once, as the SDK sends it');
          }
        }
        if (marker === 'redirect') assert.ok(!fake.requests.some((r) => r.path.includes('elsewhere')), 'redirect not followed');
      });
    }
  }

  it('each provider is asked the documented question', async () => {
    const seen = new Map<string, Set<string>>();
    for (const r of fake.requests) {
      if (!seen.has(r.provider)) seen.set(r.provider, new Set());
      seen.get(r.provider)!.add(r.path);
    }
    assert.deepEqual([...seen.get('openai')!], ['/v1/models']);
    assert.deepEqual([...seen.get('anthropic')!], ['/v1/models']);
    assert.deepEqual([...seen.get('google')!], ['/v1beta/models']);
    assert.deepEqual([...seen.get('xai')!].sort(), ['/v1/api-key', '/v1/models']);
    assert.deepEqual([...seen.get('openrouter')!].sort(), ['/api/v1/key', '/api/v1/models']);
    assert.deepEqual([...seen.get('vercel-gateway')!].sort(), ['/v1/credits', '/v1/models']);
    const anthropicCall = fake.requests.find((r) => r.provider === 'anthropic')!;
    assert.equal(anthropicCall.headers['anthropic-version'], '2026-10-21');
    assert.match(anthropicCall.query, /limit=1000/);
    assert.match(fake.requests.find((r) => r.provider === 'google')!.query, /pageSize=1000/);
  });

  it('follows Anthropic and Google pagination for the model list', async () => {
    for (const provider of ['anthropic', 'google'] as const) {
      const adapter = registry.get(provider)!;
      const result = await adapter.check(adapter.prepare({ apiKey: keyFor(provider, 'paged'), location: null }), ctx);
      assert.equal(result.outcome, 'accepted');
      assert.deepEqual(result.models, MODELS[provider]);
    }
  });

  it('a wrong auth header gets the provider\'s own refusal (the fake checks header formats)', async () => {
    const r1 = await fetch(`${fake.base('openai')}/v1/models`, { headers: { authorization: 'Token sk-abc' } });
    assert.equal(r1.status, 401);
    const r2 = await fetch(`${fake.base('anthropic')}/v1/models`, { headers: { 'x-api-key': 'sk-ant-abc', 'anthropic-version': ANTHROPIC_VERSION } });
    assert.equal(r2.status, 401, 'the key travels as a bearer token');
    const r3 = await fetch(`${fake.base('anthropic')}/v1/models`, { headers: { authorization: 'Bearer sk-ant-abc' } });
    assert.equal(r3.status, 400, 'anthropic-version is required');
    const r3old = await fetch(`${fake.base('anthropic')}/v1/models`, { headers: { authorization: 'Bearer sk-ant-abc', 'anthropic-version': '2023-06-01' } });
    assert.equal(r3old.status, 400, 'the old version is not served');
    const r4 = await fetch(`${fake.base('google')}/v1beta/models`, { headers: { authorization: 'Bearer AIza' } });
    assert.equal(r4.status, 403);
    for (const p of ['xai', 'vercel-gateway'] as const) {
      const r = await fetch(`${fake.base(p)}/v1/models`, { headers: { 'x-api-key': 'k' } });
      assert.equal(r.status, 401, p);
    }
    const r5 = await fetch(`${fake.base('openrouter')}/api/v1/key`);
    assert.equal(r5.status, 401);
  });

  it("once the check's overall deadline (ctx.signal) has fired, no call is made and the check is unavailable", async () => {
    for (const provider of FAKE_PROVIDERS) {
      const adapter = registry.get(provider)!;
      const before = fake.requests.length;
      const result = await adapter.check(adapter.prepare({ apiKey: keyFor(provider, 'ok'), location: null }), { ...ctx, signal: AbortSignal.abort() });
      assert.equal(result.outcome, 'unavailable', `${provider}: ${result.message}`);
      assert.equal(fake.requests.length, before, `${provider} made a call after the deadline`);
    }
  });

  it('an unreachable provider is unavailable, not an error', async () => {
    const adapter = registry.get('openai')!;
    const dead: CheckContext = { ...ctx, baseUrl: () => 'http://127.0.0.1:9' };
    const result = await adapter.check(adapter.prepare({ apiKey: keyFor('openai', 'ok'), location: null }), dead);
    assert.equal(result.outcome, 'unavailable');
  });

  it('key-based adapters refuse keys that cannot travel in a header, trim pasted whitespace and hint', () => {
    for (const provider of FAKE_PROVIDERS) {
      const adapter = registry.get(provider)!;
      assert.throws(() => adapter.prepare({ apiKey: 'sk-abc def', location: null }), /api_key/);
      assert.throws(() => adapter.prepare({ apiKey: '   ', location: null }), /api_key/);
      assert.throws(() => adapter.prepare({ apiKey: 'sk-abc\r\nX-Evil: 1', location: null }), /api_key/);
      assert.throws(() => adapter.prepare({ apiKey: 'sk-ключ-0123456789', location: null }), /api_key/);
      const p = adapter.prepare({ apiKey: '  sk-proj-abcdefghijklmnopWXYZ\n', location: 'us-east-1' });
      assert.equal(p.apiKey, 'sk-proj-abcdefghijklmnopWXYZ');
      assert.equal(p.location, null, 'location is ignored for key-only providers');
      assert.equal(p.keyHint, 'sk-…WXYZ');
      assert.equal(adapter.prepare({ apiKey: 'short-key-12', location: null }).keyHint, '…12');
    }
  });
});

for (const dialect of testDialects()) {
  describe(`saving keys per check outcome over HTTP [${dialect}]`, () => {
    let fake: FakeKeyProviders;
    let ctx: TestContext;
    let user: TestUser;
    before(async () => {
      fake = await startFakeKeyProviders();
      // The `-slow` keys wait for this timeout on every call (kept short, and tried on one
      // provider only here; the adapter tests above try every provider).
      ctx = await createTestContext({ dialect, env: { ...fake.env, NEO_PROVIDER_TIMEOUT_MS: '3000' } });
      user = await createUser(ctx);
      await setByok(ctx, user.owner);
    });
    after(async () => {
      await ctx.close();
      await fake.close();
    });

    const patchKey = (provider: string, payload: object) =>
      ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: user.headers, payload });
    const validate = (provider: string, payload: object) =>
      ctx.app.inject({ method: 'POST', url: `/api/v1/byok/providers/${provider}/validate`, headers: user.headers, payload });
    const stored = (provider: string) =>
      ctx.database.db.selectFrom('provider_keys').selectAll().where('owner_id', '=', user.id).where('provider', '=', provider).executeTakeFirst();

    for (const provider of FAKE_PROVIDERS) {
      it(`${provider}: every outcome saves or refuses as the contract says`, async () => {
        for (const [marker, outcome] of Object.entries(MATRIX[provider])) {
          if (marker === 'slow' && provider !== 'openai') continue;
          const key = keyFor(provider, marker);
          const v = await validate(provider, { api_key: key });
          assert.equal(v.statusCode, 200, `${marker} validate`);
          const vb = v.json();
          assert.equal(vb.valid, ['accepted', 'restricted', 'billing'].includes(outcome), `${marker} valid`);
          assert.ok(!v.body.includes(key));

          const res = await patchKey(provider, { api_key: key, display_name: `${provider} ${marker}` });
          assert.ok(!res.body.includes(key), 'the secret is never echoed');
          if (outcome === 'rejected') {
            assert.equal(res.statusCode, 400, marker);
            assert.equal(res.json().code, 'provider_key_invalid');
            assert.equal(vb.valid, false);
            assert.ok(vb.error);
            const row = await stored(provider);
            // Nothing saved: any stored row is from an earlier, non-rejected marker.
            if (row) assert.notEqual(row.display_name, `${provider} ${marker}`);
            continue;
          }
          assert.equal(res.statusCode, 200, `${marker}: ${res.body}`);
          const body = res.json();
          assert.equal(body.provider_key.provider, provider);
          assert.equal(body.provider_key.display_name, `${provider} ${marker}`);
          assert.equal(body.provider_key.location, null);
          assert.equal(body.provider_key.key_hint, `${key.slice(0, 3)}…${key.slice(-4)}`);
          const row = (await stored(provider))!;
          if (outcome === 'accepted') {
            assert.equal(body.provider_key.is_validated, true);
            assert.ok(body.provider_key.validated_at);
            assert.deepEqual(body.validation.valid, true);
            assert.ok(body.validation.details);
            assert.equal(body.validation.error, undefined);
            assert.deepEqual(JSON.parse(row.models!), MODELS[provider]);
            assert.ok(row.models_discovered_at);
          } else if (outcome === 'restricted' || outcome === 'billing') {
            assert.equal(body.provider_key.is_validated, true);
            assert.equal(body.validation.valid, true);
            assert.match(body.validation.details, /^Warning: /);
          } else {
            assert.equal(body.provider_key.is_validated, false);
            assert.equal(body.provider_key.validated_at, null);
            assert.equal(body.validation.valid, false);
            assert.ok(body.validation.error, 'says why');
            assert.equal(row.models, null);
            // How to re-check the stored key, truthfully: POST …/validate needs the key, so only a new save checks it.
            assert.doesNotMatch(`${body.validation.error} ${vb.error}`, /validate/, 'never suggests validating the stored key');
            assert.equal(
              body.validation.details,
              `the key is saved but not verified (status unverified); it is checked again on the next scheduled re-check, or save it again with PATCH /api/v1/byok/providers/${provider} and the same api_key to check it now`,
            );
            assert.equal(vb.details, undefined, 'validate saves nothing, so it says nothing about a stored key');
          }
        }
      });
    }

    it('the listing then holds one key per provider, ordered by provider', async () => {
      const list = (await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers })).json();
      assert.deepEqual(
        list.provider_keys.map((k: { provider: ProviderName }) => k.provider),
        [...FAKE_PROVIDERS].sort(),
      );
    });
  });
}
