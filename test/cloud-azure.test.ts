/**
 * azure-foundry live check against the Azure fake: every outcome of PROVIDERS.md, and
 * that no endpoint outside the allowed forms, and no redirect, ever leads to a call.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAdapter } from '../src/providers/azure-foundry/index.ts';
import type { ProviderAdapter } from '../src/providers/types.ts';
import { azureKey, checkContext, dnsFailureFor, startAzureFake, startRecordingServer, type AzureFake, type FakeBase } from './fakes/cloud-providers.ts';

describe('azure-foundry check()', () => {
  let fake: AzureFake;
  let recorder: FakeBase;
  let adapter: ProviderAdapter;
  let key: string;

  before(async () => {
    fake = await startAzureFake();
    recorder = await startRecordingServer();
    // Only the fake's exact host:port is allow-listed (as NEO_AZURE_ALLOWED_HOSTS would).
    adapter = createAdapter({ allowedHosts: [new URL(fake.url).host] });
  });
  after(async () => {
    await fake.close();
    await recorder.close();
  });
  beforeEach(() => {
    key = azureKey();
    fake.keys.add(key);
    fake.fault = null;
    fake.redirectTo = null;
    fake.legacyOnly = false;
    fake.noOpenAi = false;
    fake.delayMs = 0;
    fake.requests.length = 0;
    recorder.requests.length = 0;
  });

  const run = (apiKey = key, location = fake.url, ctx = checkContext()) => adapter.check(adapter.prepare({ apiKey, location }), ctx);

  it('accepts a valid key with the api-key header and returns the model ids', async () => {
    const result = await run();
    assert.equal(result.outcome, 'accepted', result.message);
    assert.deepEqual(result.models, ['gpt-4.1', 'gpt-5', 'o4-mini', 'text-embedding-3-large']);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.path, '/openai/v1/models');
    assert.equal(fake.requests[0]!.headers['api-key'], key);
    assert.equal(fake.requests[0]!.headers.authorization, undefined);
    assert.ok(!result.message.includes(key));
  });

  it('falls back to the versioned route when the v1 route is missing', async () => {
    fake.legacyOnly = true;
    const result = await run();
    assert.equal(result.outcome, 'accepted', result.message);
    assert.deepEqual(
      fake.requests.map((r) => r.path),
      ['/openai/v1/models', '/openai/models?api-version=2024-10-21'],
    );
  });

  it('rejected: 401 (invalid key or wrong endpoint for the key)', async () => {
    const wrong = azureKey();
    const result = await run(wrong);
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /invalid resource key or wrong API endpoint/);
    assert.equal(result.models, undefined);
    assert.ok(!result.message.includes(wrong));
  });

  it('rejected with "wrong endpoint": 404 and DNS failure', async () => {
    fake.noOpenAi = true;
    const notFound = await run();
    assert.equal(notFound.outcome, 'rejected');
    assert.match(notFound.message, /wrong endpoint/);
    const dns = await adapter.check(
      adapter.prepare({ apiKey: key, location: 'https://no-such-resource.openai.azure.com' }),
      checkContext({}, { inner: async (input) => Promise.reject(dnsFailureFor(input)) }),
    );
    assert.equal(dns.outcome, 'rejected');
    assert.match(dns.message, /^wrong endpoint: no Azure resource answers at this host name/);
    // It also names the other cause: a server without outbound DNS or network.
    assert.match(dns.message, /this server may have no outbound DNS or network access/);
  });

  it('restricted: 403 (network rules, disabled resource)', async () => {
    fake.fault = { status: 403, code: '403', message: 'Traffic is not from an approved private endpoint.' };
    const result = await run();
    assert.equal(result.outcome, 'restricted');
    assert.ok(!result.message.includes('approved private endpoint'), 'the provider text is not echoed');
  });

  it('billing: 429 with quota text; rate_limited: 429 otherwise', async () => {
    fake.fault = { status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota, please check your plan and billing details.' };
    assert.equal((await run()).outcome, 'billing');
    fake.fault = {
      status: 429,
      code: '429',
      message: 'Requests to the ChatCompletions_Create Operation have exceeded call rate limit of your current OpenAI S0 pricing tier. Please go here: https://aka.ms/oai/quotaincrease',
    };
    assert.equal((await run()).outcome, 'rate_limited');
  });

  it('unavailable: 5xx, timeout, connection refused', async () => {
    fake.fault = { status: 500, code: 'InternalServerError', message: 'boom' };
    assert.equal((await run()).outcome, 'unavailable');
    fake.fault = null;
    fake.delayMs = 400;
    const slow = await run(key, fake.url, checkContext({}, { timeoutMs: 100 }));
    assert.equal(slow.outcome, 'unavailable');
    assert.match(slow.message, /did not answer in time/);
    fake.delayMs = 0;
    const closed = await startRecordingServer();
    const closedHost = new URL(closed.url).host;
    await closed.close();
    const a = createAdapter({ allowedHosts: [closedHost] });
    assert.equal((await a.check(a.prepare({ apiKey: key, location: closed.url }), checkContext())).outcome, 'unavailable');
  });

  it('a redirect to another host is never followed: rejected as a wrong endpoint, the target never called', async () => {
    fake.redirectTo = `${recorder.url}/openai/v1/models`;
    const ctx = checkContext();
    const result = await run(key, fake.url, ctx);
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /wrong endpoint/);
    assert.equal(recorder.requests.length, 0);
    assert.ok(ctx.calls.every((u) => u.startsWith(fake.url)));
  });

  it('an endpoint on any other host, over http, an IP literal or with userinfo never causes a call', async () => {
    const recHost = new URL(recorder.url).host;
    const hostile = [
      recorder.url, // another (loopback) host:port, not allow-listed
      `https://${recHost}`,
      `http://my-resource.openai.azure.com`,
      `https://127.0.0.1`,
      `https://[::1]:${new URL(recorder.url).port}`,
      `https://user:pw@my-resource.openai.azure.com`,
      `http://x:y@${new URL(fake.url).host}`,
      `https://my-resource.openai.azure.com@${recHost}`,
      `https://my-resource.openai.azure.com.${recHost}`,
      `${fake.url}/openai/deployments`,
    ];
    for (const location of hostile) {
      assert.throws(() => adapter.prepare({ apiKey: key, location }), { code: 'invalid_request' }, location);
      // Even if a caller skipped prepare(), check() re-validates and calls nothing.
      const ctx = checkContext();
      const result = await adapter.check({ apiKey: key, location, keyHint: '…' }, ctx);
      assert.equal(result.outcome, 'rejected', location);
      assert.equal(ctx.calls.length, 0, location);
    }
    assert.equal(recorder.requests.length, 0);
    assert.equal(fake.requests.length, 0);
  });

  it('production endpoint forms go to {endpoint}/openai/v1/models only', async () => {
    const prod = createAdapter();
    const ctx = checkContext({}, { inner: async () => Response.json({ data: [{ id: 'gpt-5' }] }) });
    for (const location of ['https://r1.openai.azure.com/', 'https://r2.services.ai.azure.com', 'https://r3.cognitiveservices.azure.com']) {
      const result = await prod.check(prod.prepare({ apiKey: key, location }), ctx);
      assert.equal(result.outcome, 'accepted');
      assert.deepEqual(result.models, ['gpt-5']);
    }
    assert.deepEqual(ctx.calls, [
      'https://r1.openai.azure.com/openai/v1/models',
      'https://r2.services.ai.azure.com/openai/v1/models',
      'https://r3.cognitiveservices.azure.com/openai/v1/models',
    ]);
  });
});
