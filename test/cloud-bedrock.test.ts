/**
 * amazon-bedrock live check against the AWS fake, which verifies every SigV4 signature
 * with an independent implementation (@smithy/signature-v4): both credential forms,
 * session tokens, region defaults, every outcome of PROVIDERS.md, and the fake's own
 * rigour (wrong secret, region or service name are refused).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import aws4 from 'aws4';
import { createAdapter } from '../src/providers/amazon-bedrock/index.ts';
import type { CheckResult, ProviderAdapter } from '../src/providers/types.ts';
import { checkContext, dnsFailureFor, urlOf, startAwsFake, startRecordingServer, type AwsFake } from './fakes/cloud-providers.ts';

const BEARER = 'ABSKQmVkcm9ja0FQSUtleS1mYWtlLWZvci10ZXN0czEyMzQ1Njc4OTA=';

function assertNoSecret(result: CheckResult, ...secrets: (string | undefined)[]): void {
  for (const s of secrets) if (s) assert.ok(!result.message.includes(s.slice(0, 12)), 'message contains a secret');
}

/** Signs and sends one request by hand (to test the fake itself). */
async function signedCall(
  fake: AwsFake,
  opts: { service: string; region: string; path: string; method: string; body?: string },
  creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
) {
  const url = new URL(fake.url);
  const req = aws4.sign(
    { host: url.host, path: opts.path, method: opts.method, service: opts.service, region: opts.region, ...(opts.body ? { body: opts.body } : {}) },
    creds,
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) if (!/^(host|content-length)$/i.test(k)) headers[k] = String(v);
  const res = await fetch(`${fake.url}${opts.path}`, { method: opts.method, headers, ...(opts.body ? { body: opts.body } : {}) });
  const text = await res.text();
  return { status: res.status, text, errorType: res.headers.get('x-amzn-errortype') };
}

describe('amazon-bedrock check()', () => {
  let fake: AwsFake;
  let adapter: ProviderAdapter;
  let overrides: Record<string, string>;

  before(async () => {
    fake = await startAwsFake();
    overrides = { 'aws-sts': fake.url, 'amazon-bedrock': fake.url };
    fake.bearerKeys.add(BEARER);
  });
  after(async () => fake.close());
  beforeEach(() => {
    adapter = createAdapter();
    fake.region = 'us-east-1';
    fake.stsFault = null;
    fake.bedrockFault = null;
    fake.profilesFault = null;
    fake.delayMs = 0;
    fake.records.length = 0;
  });

  const run = (apiKey: string, location: string | null = null, ctx = checkContext(overrides)) =>
    adapter.check(adapter.prepare({ apiKey, location }), ctx);

  it('accepts SigV4 keys: STS then the model list, signed for sts and bedrock in us-east-1 by default', async () => {
    const keys = fake.addIdentity();
    const result = await run(JSON.stringify(keys));
    assert.equal(result.outcome, 'accepted', result.message);
    assert.deepEqual(result.models, [
      'amazon.nova-pro-v1:0',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'meta.llama3-70b-instruct-v1:0',
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    ]);
    assert.deepEqual(
      fake.records.map((r) => [r.service, r.path, r.auth, r.scopeService, r.scopeRegion, r.verified]),
      [
        ['sts', '/', 'sigv4', 'sts', 'us-east-1', true],
        ['bedrock', '/foundation-models', 'sigv4', 'bedrock', 'us-east-1', true],
        ['bedrock', '/inference-profiles', 'sigv4', 'bedrock', 'us-east-1', true],
      ],
    );
    assert.match(result.message, /4 models listed in us-east-1/);
    assertNoSecret(result, keys.secret_access_key);
    // The wire name of the filter is `type` (application profiles stay out of the list).
    const profiles = fake.requests.filter((r) => r.path.startsWith('/inference-profiles?')).at(-1)!;
    assert.deepEqual(Object.fromEntries(new URL(profiles.path, 'http://x').searchParams), { maxResults: '1000', type: 'SYSTEM_DEFINED' });
  });

  it('signs for the chosen region', async () => {
    fake.region = 'eu-central-1';
    const keys = fake.addIdentity();
    const result = await run(JSON.stringify(keys), 'eu-central-1');
    assert.equal(result.outcome, 'accepted', result.message);
    assert.ok(fake.records.every((r) => r.scopeRegion === 'eu-central-1' && r.verified));
  });

  it('a region the endpoint does not serve is refused by the signature scope', async () => {
    fake.region = 'eu-central-1';
    const keys = fake.addIdentity();
    const result = await run(JSON.stringify(keys), 'us-west-2');
    assert.equal(result.outcome, 'rejected');
    assert.equal(fake.records[0]!.scopeRegion, 'us-west-2');
  });

  it('sends the session token of temporary keys (signed), and refuses them without it', async () => {
    const keys = fake.addIdentity({ temporary: true });
    const result = await run(JSON.stringify(keys));
    assert.equal(result.outcome, 'accepted', result.message);
    assert.ok(fake.records.every((r) => r.sessionToken === keys.session_token && r.verified));
    const wrongToken = await run(JSON.stringify({ ...keys, session_token: `${keys.session_token}x` }));
    assert.equal(wrongToken.outcome, 'rejected');
    assert.match(wrongToken.message, /session_token/);
    assertNoSecret(wrongToken, keys.secret_access_key, keys.session_token);
  });

  it('rejected: an expired session token (ExpiredToken)', async () => {
    const keys = fake.addIdentity({ temporary: true, sessionExpired: true });
    const result = await run(JSON.stringify(keys));
    assert.equal(result.outcome, 'rejected');
    assert.match(result.message, /expired/);
    assert.equal(fake.records.length, 1, 'stops after STS');
  });

  it('rejected: unknown access key (InvalidClientTokenId) and wrong secret (SignatureDoesNotMatch)', async () => {
    const unknown = await run(JSON.stringify({ access_key_id: 'AKIAUNKNOWNKEY000000', secret_access_key: 'x'.repeat(40) }));
    assert.equal(unknown.outcome, 'rejected');
    assert.match(unknown.message, /does not recognize this access_key_id/);
    const keys = fake.addIdentity();
    const wrongSecret = `${keys.secret_access_key.slice(0, -4)}AAAA`;
    const bad = await run(JSON.stringify({ ...keys, secret_access_key: wrongSecret }));
    assert.equal(bad.outcome, 'rejected');
    assert.match(bad.message, /secret_access_key does not belong/);
    assertNoSecret(bad, wrongSecret, keys.secret_access_key);
    assert.equal(fake.records.filter((r) => r.service === 'bedrock').length, 0, 'no model list after a rejected STS call');
  });

  it('accepts a Bedrock API key: only the model list, as a bearer token', async () => {
    const result = await run(BEARER, 'us-east-1');
    assert.equal(result.outcome, 'accepted', result.message);
    assert.ok(result.models!.includes('anthropic.claude-sonnet-4-5-20250929-v1:0'));
    assert.ok(fake.records.every((r) => r.service === 'bedrock' && r.auth === 'bearer'));
    assert.equal(fake.records[0]!.path, '/foundation-models');
  });

  it('rejected, nothing saved: a wrong, malformed or expired Bedrock API key (403 AccessDeniedException "Authentication failed…"/"Invalid API Key format…")', async () => {
    const unknown = await run(`${BEARER.slice(0, -6)}AAAAA=`);
    assert.equal(unknown.outcome, 'rejected', unknown.message);
    assert.match(unknown.message, /Bedrock API key/);
    assertNoSecret(unknown, BEARER);
    const malformed = await run('not-a-bedrock-key-Q7fK2mZp9XvL4tR8wN3b');
    assert.equal(malformed.outcome, 'rejected', malformed.message);
    assert.match(malformed.message, /not a Bedrock API key/);
    assert.ok(fake.records.every((r) => r.auth === 'bearer' && r.path === '/foundation-models'), 'nothing after the refused list');
  });

  it('restricted: a Bedrock API key whose AccessDeniedException is about a missing permission', async () => {
    fake.bedrockFault = { code: 'AccessDeniedException', status: 403 };
    const result = await run(BEARER);
    assert.equal(result.outcome, 'restricted', result.message);
    assert.match(result.message, /bedrock:ListFoundationModels/);
  });

  it('restricted: AccessDeniedException on the model list', async () => {
    const keys = fake.addIdentity();
    fake.bedrockFault = { code: 'AccessDeniedException', status: 403 };
    const result = await run(JSON.stringify(keys));
    assert.equal(result.outcome, 'restricted');
    assert.match(result.message, /bedrock:ListFoundationModels/);
    assert.equal(result.models, undefined);
  });

  it('inference profiles are optional: without the permission the check still succeeds', async () => {
    const keys = fake.addIdentity();
    fake.profilesFault = { code: 'AccessDeniedException', status: 403 };
    const result = await run(JSON.stringify(keys));
    assert.equal(result.outcome, 'accepted');
    assert.ok(!result.models!.some((m) => m.startsWith('us.')));
  });

  it('rate_limited: ThrottlingException (Bedrock 429) and Throttling (STS 400)', async () => {
    const keys = fake.addIdentity();
    fake.bedrockFault = { code: 'ThrottlingException', status: 429 };
    assert.equal((await run(JSON.stringify(keys))).outcome, 'rate_limited');
    fake.bedrockFault = null;
    fake.stsFault = { code: 'Throttling', status: 400 };
    assert.equal((await run(JSON.stringify(keys))).outcome, 'rate_limited');
  });

  it('unavailable: 5xx, timeout, connection refused', async () => {
    const keys = JSON.stringify(fake.addIdentity());
    fake.bedrockFault = { code: 'ServiceUnavailableException', status: 503 };
    assert.equal((await run(keys)).outcome, 'unavailable');
    fake.bedrockFault = null;
    fake.stsFault = { code: 'InternalFailure', status: 500 };
    assert.equal((await run(keys)).outcome, 'unavailable');
    fake.stsFault = null;
    fake.delayMs = 400;
    const slow = await run(keys, null, checkContext(overrides, { timeoutMs: 100 }));
    assert.equal(slow.outcome, 'unavailable');
    assert.match(slow.message, /did not answer in time/);
    fake.delayMs = 0;
    const closed = await startRecordingServer();
    await closed.close();
    assert.equal((await run(keys, null, checkContext({ 'aws-sts': closed.url, 'amazon-bedrock': closed.url }))).outcome, 'unavailable');
  });

  it('without overrides it calls the regional STS and Bedrock hosts only', async () => {
    const ctx = checkContext(
      {},
      {
        inner: async (input) => {
          const url = urlOf(input);
          if (url.startsWith('https://sts.')) return new Response('<GetCallerIdentityResponse/>', { status: 200 });
          if (url.includes('/foundation-models')) return Response.json({ modelSummaries: [{ modelId: 'amazon.nova-pro-v1:0' }] });
          return Response.json({ inferenceProfileSummaries: [] });
        },
      },
    );
    const keys = JSON.stringify({ access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    assert.equal((await run(keys, 'ap-southeast-2', ctx)).outcome, 'accepted');
    assert.deepEqual(ctx.calls.slice(0, 2), ['https://sts.ap-southeast-2.amazonaws.com/', 'https://bedrock.ap-southeast-2.amazonaws.com/foundation-models']);
    assert.ok(ctx.calls[2]!.startsWith('https://bedrock.ap-southeast-2.amazonaws.com/inference-profiles?'));
    ctx.calls.length = 0;
    assert.equal((await run(keys, 'us-gov-west-1', ctx)).outcome, 'accepted');
    assert.equal(ctx.calls[0], 'https://sts.us-gov-west-1.amazonaws.com/');
  });

  it('unavailable, not rejected: a DNS failure in a known region (no outbound DNS or network on this server)', async () => {
    const ctx = checkContext({}, { inner: async (input) => Promise.reject(dnsFailureFor(input)) });
    const keys = JSON.stringify({ access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    for (const [key, region, host] of [
      [keys, 'eu-central-1', 'AWS STS in eu-central-1'],
      [BEARER, 'us-east-1', 'Amazon Bedrock in us-east-1'],
    ] as const) {
      const result = await run(key, region, ctx);
      assert.equal(result.outcome, 'unavailable', result.message);
      assert.ok(result.message.startsWith(`${host} could not be reached: its host name did not resolve`), result.message);
      assert.match(result.message, /no working outbound DNS or network access; try again later$/);
    }
  });

  it('rejected without any call: a well-formed region that is not a known Bedrock region', async () => {
    // prepare() already refuses it (test/cloud-prepare.test.ts); check() re-checks a credential it is handed directly.
    const ctx = checkContext(overrides);
    for (const region of ['xx-nowhere-9', 'cn-north-1']) {
      const result = await adapter.check({ apiKey: BEARER, location: region, keyHint: '…' }, ctx);
      assert.equal(result.outcome, 'rejected');
      assert.match(result.message, new RegExp(`unknown region "${region}" for Amazon Bedrock`));
    }
    assert.deepEqual(ctx.calls, []);
  });

  it("the check's overall deadline (ctx.signal) cuts the calls short, whatever the per-call timeout", async () => {
    const keys = JSON.stringify(fake.addIdentity());
    const fired = await run(keys, null, checkContext(overrides, { signal: AbortSignal.abort() }));
    assert.equal(fired.outcome, 'unavailable');
    assert.equal(fake.records.length, 0, 'no call once the deadline has fired');
    // Each call is well within its own 10 s timeout; the 100 ms deadline ends the first one.
    fake.delayMs = 400;
    const late = await run(keys, null, checkContext(overrides, { signal: AbortSignal.timeout(100) }));
    assert.equal(late.outcome, 'unavailable');
    assert.match(late.message, /did not answer in time/);
  });

  it('reads the AWS error code from JSON bodies without the header, too', async () => {
    const ctx = checkContext(
      {},
      { inner: async () => Response.json({ __type: 'com.amazon.coral.service#AccessDeniedException', message: 'no' }, { status: 403 }) },
    );
    assert.equal((await run(BEARER, null, ctx)).outcome, 'restricted');
  });

  it('an error code that does not look like an AWS code never reaches the message', async () => {
    const cases: { headers?: Record<string, string>; body: unknown }[] = [
      { headers: { 'x-amzn-errortype': 'Call <b>+1 555 0100</b> now:http://x' }, body: {} },
      { headers: { 'x-amzn-errortype': `ns#${'A'.repeat(65)}` }, body: {} },
      { body: { __type: 'com.amazon#Visit evil.example for help' } },
      { body: { code: 'Bad\u0000Code' } },
    ];
    for (const c of cases) {
      const ctx = checkContext({}, { inner: async () => Response.json(c.body, { status: 418, headers: c.headers ?? {} }) });
      const result = await run(BEARER, null, ctx);
      assert.equal(result.outcome, 'unavailable');
      assert.equal(result.message, 'Amazon Bedrock gave an unexpected answer (HTTP 418); try again later');
    }
    // A well-formed code is kept, with its `:<url>` suffix and `namespace#` prefix dropped.
    const ok = checkContext(
      {},
      { inner: async () => Response.json({}, { status: 418, headers: { 'x-amzn-errortype': 'aws.protocol#SomeNewException:http://internal/' } }) },
    );
    assert.equal((await run(BEARER, null, ok)).message, 'Amazon Bedrock gave an unexpected answer (SomeNewException); try again later');
  });
});

describe('AWS fake verifies SigV4 independently', () => {
  let fake: AwsFake;
  before(async () => {
    fake = await startAwsFake({ region: 'us-east-1' });
  });
  after(async () => fake.close());

  const sts = { service: 'sts', region: 'us-east-1', path: '/', method: 'POST', body: 'Action=GetCallerIdentity&Version=2011-06-15' };

  it('accepts a correct signature', async () => {
    const k = fake.addIdentity();
    const res = await signedCall(fake, sts, { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key });
    assert.equal(res.status, 200);
    assert.match(res.text, /<GetCallerIdentityResult>/);
  });

  it('refuses a wrong secret, a wrong region and a wrong service name', async () => {
    const k = fake.addIdentity();
    const creds = { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key };
    // A last character that surely differs (a fixed 'Q' equals the real one 1 time in 64).
    const last = k.secret_access_key.endsWith('Q') ? 'R' : 'Q';
    const wrongSecret = await signedCall(fake, sts, { ...creds, secretAccessKey: `${k.secret_access_key.slice(0, -1)}${last}` });
    assert.equal(wrongSecret.status, 403);
    assert.match(wrongSecret.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    const wrongRegion = await signedCall(fake, { ...sts, region: 'eu-west-1' }, creds);
    assert.match(wrongRegion.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    const wrongService = await signedCall(fake, { ...sts, service: 'iam' }, creds);
    assert.match(wrongService.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    const bedrockAsSts = await signedCall(fake, { service: 'sts', region: 'us-east-1', path: '/foundation-models', method: 'GET' }, creds);
    assert.equal(bedrockAsSts.status, 403);
    assert.match(bedrockAsSts.errorType ?? '', /^InvalidSignatureException:/);
  });

  it('refuses an unknown key id and a missing or wrong session token', async () => {
    const unknown = await signedCall(fake, sts, { accessKeyId: 'AKIA0000000000000000', secretAccessKey: 'x'.repeat(40) });
    assert.match(unknown.text, /<Code>InvalidClientTokenId<\/Code>/);
    const t = fake.addIdentity({ temporary: true });
    const noToken = await signedCall(fake, sts, { accessKeyId: t.access_key_id, secretAccessKey: t.secret_access_key });
    assert.match(noToken.text, /<Code>InvalidClientTokenId<\/Code>/);
    const withToken = await signedCall(fake, sts, { accessKeyId: t.access_key_id, secretAccessKey: t.secret_access_key, sessionToken: t.session_token! });
    assert.equal(withToken.status, 200);
  });

  it('refuses a tampered body', async () => {
    const k = fake.addIdentity();
    const url = new URL(fake.url);
    const req = aws4.sign({ host: url.host, path: '/', method: 'POST', service: 'sts', region: 'us-east-1', body: sts.body }, { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key });
    const headers: Record<string, string> = {};
    for (const [key, v] of Object.entries(req.headers ?? {})) if (!/^(host|content-length)$/i.test(key)) headers[key] = String(v);
    const res = await fetch(`${fake.url}/`, { method: 'POST', headers, body: 'Action=GetCallerIdentity&Version=2011-06-16' });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /SignatureDoesNotMatch/);
  });
});
