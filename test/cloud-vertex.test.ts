/**
 * google-vertex live check against the Google fake: the signed assertion, the token
 * exchange, the regional model list, every outcome of PROVIDERS.md, the token cache, and
 * that the token_uri inside a submitted JSON is never called.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAdapter } from '../src/providers/google-vertex/index.ts';
import type { CheckResult, ProviderAdapter } from '../src/providers/types.ts';
import {
  checkContext,
  dnsFailureFor,
  urlOf,
  makeServiceAccount,
  startGoogleFake,
  startRecordingServer,
  type FakeBase,
  type GoogleFake,
  type ServiceAccountFixture,
} from './fakes/cloud-providers.ts';

/** No message may carry the private key, the JSON or an access token. */
function assertNoSecret(result: CheckResult, sa: ServiceAccountFixture, fake: GoogleFake): void {
  const keyBody = sa.privateKeyPem.split('\n')[5] ?? '';
  assert.ok(keyBody.length > 20);
  assert.ok(!result.message.includes(keyBody), 'message contains the private key');
  assert.ok(!result.message.includes(sa.privateKeyId), 'message contains the private key id');
  for (const token of fake.issued.keys()) assert.ok(!result.message.includes(token), 'message contains an access token');
}

describe('google-vertex check()', () => {
  let fake: GoogleFake;
  let recorder: FakeBase;
  let adapter: ProviderAdapter;
  let sa: ServiceAccountFixture;
  let overrides: Record<string, string>;

  before(async () => {
    fake = await startGoogleFake();
    recorder = await startRecordingServer();
    overrides = { 'google-oauth': fake.url, 'google-vertex': fake.url };
  });
  after(async () => {
    await fake.close();
    await recorder.close();
  });
  beforeEach(() => {
    // A fresh adapter (empty token cache) and a fresh account per test.
    adapter = createAdapter();
    sa = makeServiceAccount();
    fake.addAccount(sa);
    fake.tokenFault = null;
    fake.delayMs = 0;
    fake.requests.length = 0;
  });

  const run = (location: string | null = null, s = sa, ctx = checkContext(overrides)) =>
    adapter.check(adapter.prepare({ apiKey: s.json, location }), ctx);

  it('accepts a valid service account and returns the model ids of the default region', async () => {
    const result = await run();
    assert.equal(result.outcome, 'accepted', result.message);
    assert.deepEqual(result.models, ['claude-sonnet-4-5', 'claude-sonnet-4-5@20250929', 'gemini-2.5-flash', 'gemini-2.5-pro', 'text-embedding-005']);
    assert.match(result.message, /5 models listed in us-central1/);
    // The region the fake saw is the default one.
    const lists = fake.listRequests();
    assert.ok(lists.length >= 1);
    assert.ok(lists.every((r) => r.path.startsWith('/us-central1/v1beta1/publishers/')));
    assertNoSecret(result, sa, fake);
  });

  it('signs the assertion exactly as Google requires (iss, scope, aud, kid, one hour)', async () => {
    await run();
    const a = fake.lastAssertion;
    assert.ok(a);
    assert.equal(a.header.alg, 'RS256');
    assert.equal(a.header.kid, sa.privateKeyId);
    assert.equal(a.claims.iss, sa.clientEmail);
    assert.equal(a.claims.scope, 'https://www.googleapis.com/auth/cloud-platform');
    assert.equal(a.claims.aud, fake.tokenUrl);
    assert.equal(Number(a.claims.exp) - Number(a.claims.iat), 3600);
    const form = new URLSearchParams(fake.tokenRequests()[0]!.body);
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    // The model list carries the access token as a bearer token.
    assert.match(fake.listRequests()[0]!.headers.authorization ?? '', /^Bearer ya29\.fake-/);
  });

  it('lists the chosen region', async () => {
    const result = await run('europe-west4');
    assert.equal(result.outcome, 'accepted', result.message);
    assert.ok(fake.listRequests().every((r) => r.path.startsWith('/europe-west4/')));
    const global = await run('global');
    assert.equal(global.outcome, 'accepted', global.message);
    assert.ok(fake.listRequests().some((r) => r.path.startsWith('/global/')));
  });

  it('follows pagination of the model list', async () => {
    const saved = fake.models.google!;
    fake.models.google = Array.from({ length: 230 }, (_, i) => ({ name: `gemini-test-${String(i).padStart(3, '0')}`, versionId: '001' }));
    try {
      const result = await run();
      assert.equal(result.outcome, 'accepted');
      assert.equal(result.models!.filter((m) => m.startsWith('gemini-test-')).length, 230);
      assert.equal(fake.listRequests().filter((r) => r.path.includes('/publishers/google/')).length, 3);
    } finally {
      fake.models.google = saved;
    }
  });

  it('a hostile token_uri inside the JSON is never called', async () => {
    const hostile = makeServiceAccount({ tokenUri: `${recorder.url}/token` });
    fake.addAccount(hostile);
    const ctx = checkContext(overrides);
    const result = await run(null, hostile, ctx);
    assert.equal(result.outcome, 'accepted', result.message);
    assert.equal(recorder.requests.length, 0);
    assert.ok(ctx.calls.every((u) => u.startsWith(fake.url)));
    assert.equal(fake.lastAssertion?.claims.aud, fake.tokenUrl);
  });

  it('without overrides it calls only Google: oauth2.googleapis.com and the regional Vertex host', async () => {
    // A stub transport (no network): it records the URLs and answers like Google.
    const ctx = checkContext(
      {},
      {
        inner: async (input) => {
          const url = urlOf(input);
          if (url === 'https://oauth2.googleapis.com/token') return Response.json({ access_token: 'ya29.stub', expires_in: 3599 });
          return Response.json({ publisherModels: [{ name: 'publishers/google/models/gemini-2.5-pro' }] });
        },
      },
    );
    const hostile = makeServiceAccount({ tokenUri: `${recorder.url}/token` });
    const result = await run('europe-west4', hostile, ctx);
    assert.equal(result.outcome, 'accepted', result.message);
    assert.equal(ctx.calls[0], 'https://oauth2.googleapis.com/token');
    assert.ok(ctx.calls[1]!.startsWith('https://europe-west4-aiplatform.googleapis.com/v1beta1/publishers/google/models?'));
    assert.ok(ctx.calls.slice(1).every((u) => u.startsWith('https://europe-west4-aiplatform.googleapis.com/v1beta1/publishers/')));
    const g = await run('global', hostile, ctx);
    assert.equal(g.outcome, 'accepted');
    assert.ok(ctx.calls.some((u) => u.startsWith('https://aiplatform.googleapis.com/v1beta1/publishers/google/models')));
    assert.equal(recorder.requests.length, 0);
  });

  it('caches the access token per credential until shortly before expiry', async () => {
    // Start 3400 s in the past (the fake still accepts a one-hour assertion from then).
    let now = Date.now() - 3400 * 1000;
    const ctx = checkContext(overrides, { clock: () => now });
    assert.equal((await run(null, sa, ctx)).outcome, 'accepted');
    assert.equal((await run('europe-west4', sa, ctx)).outcome, 'accepted');
    assert.equal(fake.tokenRequests().length, 1, 'the second check reuses the cached token');
    // Another credential gets its own token.
    const other = makeServiceAccount();
    fake.addAccount(other);
    assert.equal((await run(null, other, ctx)).outcome, 'accepted');
    assert.equal(fake.tokenRequests().length, 2);
    // Within the refresh margin before expiry (3599 s), a new token is fetched.
    now = Date.now();
    assert.equal((await run(null, sa, ctx)).outcome, 'accepted');
    assert.equal(fake.tokenRequests().length, 3);
  });

  it('a cached token that stops working is replaced once', async () => {
    assert.equal((await run()).outcome, 'accepted');
    fake.revokeAllTokens();
    const result = await run();
    assert.equal(result.outcome, 'accepted', result.message);
    assert.equal(fake.tokenRequests().length, 2);
  });

  it('rejected: a service account Google does not know (invalid_grant)', async () => {
    const unknown = makeServiceAccount();
    const result = await run(null, unknown);
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /invalid_grant/);
    assert.equal(result.models, undefined);
    assert.equal(fake.listRequests().length, 0);
    assertNoSecret(result, unknown, fake);
  });

  it("unavailable, not rejected: invalid_grant blaming the assertion's time window (this server's clock is off)", async () => {
    // A clock two hours fast: the assertion's iat/exp lie outside Google's window.
    const result = await run(null, sa, checkContext(overrides, { clock: () => Date.now() + 2 * 3600_000 }));
    assert.equal(result.outcome, 'unavailable', result.message);
    assert.match(result.message, /clock/);
    assert.equal(fake.tokenRequests().length, 1);
    assert.equal(fake.listRequests().length, 0);
    // Google's own wording of that answer, whatever the account.
    fake.tokenFault = { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.' } };
    assert.equal((await run()).outcome, 'unavailable');
  });

  it('accepts the multi-region locations us and eu, on their aiplatform.{loc}.rep.googleapis.com hosts', async () => {
    fake.regions.add('us').add('eu');
    for (const location of ['us', 'EU']) {
      const result = await run(location);
      assert.equal(result.outcome, 'accepted', result.message);
      assert.ok(fake.listRequests().at(-1)!.path.startsWith(`/${location.toLowerCase()}/v1beta1/publishers/`));
    }
    const ctx = checkContext(
      {},
      {
        inner: async (input) =>
          urlOf(input) === 'https://oauth2.googleapis.com/token'
            ? Response.json({ access_token: 'ya29.stub', expires_in: 3599 })
            : Response.json({ publisherModels: [{ name: 'publishers/google/models/gemini-2.5-pro' }] }),
      },
    );
    for (const location of ['us', 'eu']) {
      const result = await run(location, sa, ctx);
      assert.equal(result.outcome, 'accepted', result.message);
      assert.ok(ctx.calls.at(-1)!.startsWith(`https://aiplatform.${location}.rep.googleapis.com/v1beta1/publishers/`), ctx.calls.at(-1));
    }
  });

  it('rejected: a disabled account, and a key whose signature does not verify', async () => {
    const disabled = makeServiceAccount();
    fake.addAccount(disabled, { disabled: true });
    assert.equal((await run(null, disabled)).outcome, 'rejected');
    // Same identity, another private key (the registered public key does not match).
    const forged = makeServiceAccount();
    const impostor = JSON.parse(makeServiceAccount().json) as Record<string, unknown>;
    const registered = JSON.parse(forged.json) as Record<string, unknown>;
    fake.addAccount(forged);
    const swapped = { ...forged, json: JSON.stringify({ ...registered, private_key: impostor.private_key }) };
    const result = await run(null, swapped);
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /invalid_grant/);
    assert.equal(fake.listRequests().length, 0);
  });

  it('restricted: Vertex AI API disabled, missing IAM permission, region not served', async () => {
    for (const [fault, pattern] of [
      ['SERVICE_DISABLED', /not enabled/],
      ['IAM_PERMISSION_DENIED', /roles\/aiplatform\.user/],
      ['NOT_FOUND', /not available in us-central1/],
    ] as const) {
      fake.addAccount(sa, { listFault: fault });
      const result = await run();
      assert.equal(result.outcome, 'restricted', fault);
      assert.match(result.message, pattern);
      assert.equal(result.models, undefined);
    }
    fake.addAccount(sa);
    const region = await run('me-central2');
    assert.equal(region.outcome, 'restricted');
    assert.match(region.message, /me-central2/);
  });

  it('billing: billing disabled on the project', async () => {
    fake.addAccount(sa, { listFault: 'BILLING_DISABLED' });
    const result = await run();
    assert.equal(result.outcome, 'billing');
    assert.match(result.message, new RegExp(sa.projectId));
  });

  it('rate_limited: 429 from the token endpoint or the model list', async () => {
    fake.tokenFault = { status: 429, body: { error: 'rate_limit_exceeded' } };
    assert.equal((await run()).outcome, 'rate_limited');
    fake.tokenFault = null;
    fake.addAccount(sa, { listFault: 'RATE_LIMITED' });
    assert.equal((await run()).outcome, 'rate_limited');
  });

  it('unavailable: 5xx, timeout, connection refused', async () => {
    fake.tokenFault = { status: 503, body: { error: 'backend_error' } };
    assert.equal((await run()).outcome, 'unavailable');
    fake.tokenFault = null;
    fake.addAccount(sa, { listFault: 'INTERNAL' });
    assert.equal((await run()).outcome, 'unavailable');
    fake.addAccount(sa);
    fake.delayMs = 400;
    const slow = await run(null, sa, checkContext(overrides, { timeoutMs: 100 }));
    assert.equal(slow.outcome, 'unavailable');
    assert.match(slow.message, /did not answer in time/);
    fake.delayMs = 0;
    const closed = await startRecordingServer();
    await closed.close();
    const refused = await run(null, sa, checkContext({ 'google-oauth': closed.url, 'google-vertex': closed.url }));
    assert.equal(refused.outcome, 'unavailable');
    assert.match(refused.message, /could not be reached/);
  });

  it('unavailable, not rejected: a known region whose Vertex host does not resolve (no outbound DNS or network)', async () => {
    const ctx = checkContext(
      {},
      {
        inner: async (input) => {
          const url = urlOf(input);
          if (url === 'https://oauth2.googleapis.com/token') return Response.json({ access_token: 'ya29.stub', expires_in: 3599 });
          throw dnsFailureFor(input);
        },
      },
    );
    const result = await run('europe-west9', sa, ctx);
    assert.equal(result.outcome, 'unavailable', result.message);
    assert.ok(result.message.startsWith('Vertex AI in europe-west9 could not be reached: its host name did not resolve'), result.message);
    assert.match(result.message, /no working outbound DNS or network access; try again later$/);
    assert.ok(ctx.calls.includes('https://europe-west9-aiplatform.googleapis.com/v1beta1/publishers/google/models?pageSize=100&listAllVersions=true'));
    // The token endpoint itself unresolvable (a fresh adapter: no cached token): the same, inconclusive.
    const fresh = createAdapter();
    const noDns = checkContext({}, { inner: async (input) => Promise.reject(dnsFailureFor(input)) });
    const token = await fresh.check(fresh.prepare({ apiKey: sa.json, location: null }), noDns);
    assert.equal(token.outcome, 'unavailable');
    assert.match(token.message, /^Google token endpoint could not be reached: its host name did not resolve/);
  });

  it('rejected without any call: a well-formed location that is not a known Vertex AI location', async () => {
    // prepare() already refuses it (test/cloud-prepare.test.ts); check() re-checks a credential it is handed directly.
    const ctx = checkContext(overrides);
    const result = await adapter.check({ apiKey: sa.json, location: 'moon-south9', keyHint: sa.clientEmail }, ctx);
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /unknown region "moon-south9" for Vertex AI/);
    assert.deepEqual(ctx.calls, []);
  });

  it('a redirect from Google is not followed', async () => {
    const ctx = checkContext(
      {},
      {
        inner: async (input) => {
          const url = urlOf(input);
          if (url === 'https://oauth2.googleapis.com/token') return Response.json({ access_token: 'ya29.stub', expires_in: 3599 });
          return new Response(null, { status: 302, headers: { location: `${recorder.url}/steal` } });
        },
      },
    );
    const result = await run(null, sa, ctx);
    assert.equal(result.outcome, 'unavailable');
    assert.equal(recorder.requests.length, 0);
  });
});
