/**
 * The providers' official SDKs are the reference for what the adapters send (issue 14
 * item 7). For each of the nine adapters, the SDK's request and the adapter's request go
 * to the same local capture server (127.0.0.1), pointed at it with the SDK's base URL
 * option and the adapter's NEO_PROVIDER_URL_* override (or, for Azure, the endpoint),
 * and their method, path, query, auth header and version headers must be equal. A
 * provider changing its wire format then shows up here after a dependency update, not
 * as users' keys being refused.
 *
 * Where an exact comparison is impossible by construction, the test checks the same
 * property independently: SigV4 signatures (a fresh signature differs per request) are
 * verified with @smithy/signature-v4 by the AWS fake for both senders; the Vertex JWT
 * assertions are verified with the service account's public key (jose) and their claims
 * compared.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { BedrockClient, ListFoundationModelsCommand, ListInferenceProfilesCommand } from '@aws-sdk/client-bedrock';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createGateway } from '@ai-sdk/gateway';
import { GoogleGenAI } from '@google/genai';
import { OpenRouter } from '@openrouter/sdk';
import { JWT } from 'google-auth-library';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import OpenAI, { AzureOpenAI } from 'openai';
import { createAdapter as amazonBedrock } from '../src/providers/amazon-bedrock/index.ts';
import { createAdapter as anthropic } from '../src/providers/anthropic/index.ts';
import { createAdapter as azureFoundry } from '../src/providers/azure-foundry/index.ts';
import { createAdapter as google } from '../src/providers/google/index.ts';
import { CLOUD_PLATFORM_SCOPE, createAdapter as googleVertex, GOOGLE_TOKEN_ORIGIN, regionalOrigin } from '../src/providers/google-vertex/index.ts';
import { createAdapter as openai } from '../src/providers/openai/index.ts';
import { createAdapter as openrouter } from '../src/providers/openrouter/index.ts';
import type { CheckResult, ProviderAdapter } from '../src/providers/types.ts';
import { createAdapter as vercelGateway } from '../src/providers/vercel-gateway/index.ts';
import { createAdapter as xai } from '../src/providers/xai/index.ts';
import { startCaptureServer, type CapturedAnswer, type CapturedRequest, type CaptureServer } from './fakes/capture-server.ts';
import { checkContext, makeServiceAccount, startAwsFake, type AwsFake, type RecordedRequest } from './fakes/cloud-providers.ts';

const KEY = 'sk-fidelity-Q7fK2mZp9XvL4tR8wN3bQ7fK2mZp9XvL';

/** Runs an adapter's check against base URL overrides (api name → URL). */
function check(adapter: ProviderAdapter, overrides: Record<string, string>, apiKey = KEY, location: string | null = null): Promise<CheckResult> {
  return adapter.check(adapter.prepare({ apiKey, location }), checkContext(overrides, { timeoutMs: 10_000 }));
}

/** The parts of a request that must agree: method, path, query, and the named headers. */
function wire(r: CapturedRequest, headers: readonly string[]) {
  return { method: r.method, path: r.path, query: r.query, headers: Object.fromEntries(headers.map((h) => [h, r.headers[h]])) };
}

/**
 * Asserts the SDK's and the adapter's request agree on method, path, query, the auth and
 * version headers `sent` (which the SDK must send), and the headers `absent` (which
 * neither may send: a second credential header, say).
 */
function assertSameRequest(sdk: CapturedRequest | undefined, adapter: CapturedRequest | undefined, sent: readonly string[], absent: readonly string[] = []): void {
  assert.ok(sdk, 'the SDK sent the request');
  assert.ok(adapter, 'the adapter sent the request');
  for (const h of sent) assert.ok(sdk.headers[h] !== undefined, `the SDK sends ${h}`);
  for (const h of absent) assert.equal(sdk.headers[h], undefined, `the SDK sends no ${h}`);
  assert.deepEqual(wire(adapter, [...sent, ...absent]), wire(sdk, [...sent, ...absent]));
}

/** One request of `reqs` for a path, failing clearly when there is none or several. */
function one(reqs: CapturedRequest[], path: string): CapturedRequest | undefined {
  const found = reqs.filter((r) => r.path === path);
  assert.ok(found.length <= 1, `one request to ${path}, got ${found.length}`);
  return found[0];
}

/**
 * Runs an SDK call against the capture server and returns the requests it made. Only the
 * request matters: an SDK that then refuses the capture server's short answer (strict
 * response schemas) is fine, and a call that sent nothing fails the comparison.
 */
async function sent(server: CaptureServer, run: () => Promise<unknown>): Promise<CapturedRequest[]> {
  const mark = server.requests.length;
  await run().catch(() => undefined);
  return server.since(mark);
}

/** The AWS fake (which verifies every SigV4 signature independently) as the capture server. */
interface AwsCaptured extends CapturedRequest {
  verified: boolean;
}

let awsFakes: AwsFake[] = [];
async function awsCapture(): Promise<AwsFake> {
  const f = await startAwsFake();
  awsFakes.push(f);
  return f;
}

function fromAws(r: RecordedRequest, verified: boolean): AwsCaptured {
  const u = new URL(r.path, 'http://capture');
  return { method: r.method, path: u.pathname, query: [...u.searchParams].sort(([a], [b]) => a.localeCompare(b)), headers: r.headers, body: r.body, verified };
}

function awsSince(f: AwsFake, mark: number): AwsCaptured[] {
  return f.requests.slice(mark).map((r, i) => fromAws(r, f.records[mark + i]?.verified ?? false));
}

async function awsSent(f: AwsFake, run: () => Promise<unknown>): Promise<AwsCaptured[]> {
  const mark = f.requests.length;
  await run().catch(() => undefined);
  return awsSince(f, mark);
}

/** The credential scope of a SigV4 Authorization header: key id, day, region, service. */
function sigv4Scope(r: CapturedRequest): string | undefined {
  return /^AWS4-HMAC-SHA256 Credential=([^,]+),/.exec(r.headers.authorization ?? '')?.[1];
}

/** A form body as an object (order-insensitive); {} when empty. */
function formOf(r: CapturedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(r.body));
}

function mediaType(r: CapturedRequest): string {
  return (r.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** A fetch that sends Google's hosts to the capture server, recording the hosts asked for. */
function rewritingFetch(target: string): { fetch: typeof fetch; hosts: string[] } {
  const hosts: string[] = [];
  const rewrite = (input: string | URL | Request): string => {
    const u = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    hosts.push(u.host);
    return `${target}${u.pathname}${u.search}`;
  };
  return { hosts, fetch: (input, init) => fetch(rewrite(input), init) };
}

/** The base URL @google/genai computed for its client (its own regional host logic). */
function sdkBaseUrl(ai: GoogleGenAI): string {
  return (ai as unknown as { apiClient: { getBaseUrl(): string } }).apiClient.getBaseUrl();
}

const openaiList: CapturedAnswer = { json: { object: 'list', data: [{ id: 'gpt-5', object: 'model', created: 1754000000, owned_by: 'openai' }] } };

describe('official SDKs and adapters send the same requests', () => {
  const servers: CaptureServer[] = [];
  const capture = async (answer: (r: CapturedRequest) => CapturedAnswer) => {
    const s = await startCaptureServer(answer);
    servers.push(s);
    return s;
  };
  after(async () => {
    await Promise.all([...servers.map((s) => s.close()), ...awsFakes.map((f) => f.close())]);
    awsFakes = [];
  });

  it('openai: GET /v1/models, Authorization: Bearer (openai SDK)', async () => {
    const s = await capture(() => openaiList);
    const sdk = await sent(s, () => new OpenAI({ apiKey: KEY, baseURL: `${s.url}/v1`, maxRetries: 0 }).models.list());
    const result = await check(openai(), { openai: s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/v1/models'), one(ours, '/v1/models'), ['authorization']);
    assert.equal(ours[0]!.headers.authorization, `Bearer ${KEY}`);
  });

  it('anthropic: GET /v1/models?limit=1000, Authorization: Bearer + anthropic-version (@anthropic-ai/sdk)', async () => {
    const s = await capture(() => ({
      json: { data: [{ type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false, first_id: 'claude-sonnet-4-5-20250929', last_id: 'claude-sonnet-4-5-20250929' },
    }));
    const sdk = await sent(s, () => new Anthropic({ apiKey: KEY, baseURL: s.url, maxRetries: 0 }).models.list({ limit: 1000 }));
    const result = await check(anthropic(), { anthropic: s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/v1/models'), one(ours, '/v1/models'), ['authorization', 'anthropic-version'], ['x-api-key', 'anthropic-beta']);
    assert.equal(ours[0]!.headers.authorization, `Bearer ${KEY}`);
  });

  it('google: GET /v1beta/models?pageSize=1000, x-goog-api-key (@google/genai)', async () => {
    const s = await capture(() => ({ json: { models: [{ name: 'models/gemini-2.5-pro', displayName: 'Gemini 2.5 Pro' }] } }));
    const sdk = await sent(s, () => new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: s.url } }).models.list({ config: { pageSize: 1000 } }));
    const result = await check(google(), { google: s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/v1beta/models'), one(ours, '/v1beta/models'), ['x-goog-api-key'], ['authorization']);
  });

  it('xai: GET /v1/api-key then GET /v1/models, Authorization: Bearer (openai SDK at https://api.x.ai/v1, as xAI documents)', async () => {
    const s = await capture((r) =>
      r.path === '/v1/api-key'
        ? { json: { redacted_api_key: 'sk-f****9XvL', api_key_id: 'b6a1c0a0-0000-4000-8000-000000000003', team_blocked: false, api_key_blocked: false, api_key_disabled: false } }
        : openaiList,
    );
    const client = new OpenAI({ apiKey: KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const sdk = [...(await sent(s, () => client.get('/api-key'))), ...(await sent(s, () => client.models.list()))];
    const result = await check(xai(), { xai: s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/v1/api-key'), one(ours, '/v1/api-key'), ['authorization']);
    assertSameRequest(one(sdk, '/v1/models'), one(ours, '/v1/models'), ['authorization']);
  });

  it('openrouter: GET /api/v1/key, Authorization: Bearer (@openrouter/sdk); the public model list without the key', async () => {
    const s = await capture((r) =>
      r.path === '/api/v1/key'
        ? { json: { data: { label: 'sk-or-v1-abc...xyz', limit: null, usage: 0, is_free_tier: false, limit_remaining: null, is_provisioning_key: false, is_management_key: false, rate_limit: { requests: 200, interval: '10s' } } } }
        : { json: { data: [{ id: 'anthropic/claude-sonnet-4.5', name: 'Claude Sonnet 4.5', context_length: 200000 }] } },
    );
    const client = new OpenRouter({ apiKey: KEY, serverURL: `${s.url}/api/v1`, retryConfig: { strategy: 'none' } });
    const sdk = [...(await sent(s, () => client.apiKeys.getCurrentKeyMetadata())), ...(await sent(s, () => client.models.list()))];
    const result = await check(openrouter(), { openrouter: s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/api/v1/key'), one(ours, '/api/v1/key'), ['authorization']);
    // The model list is public: same request, but the adapter deliberately sends no key there (docs/byok.md).
    assertSameRequest(one(sdk, '/api/v1/models'), one(ours, '/api/v1/models'), []);
    assert.equal(one(ours, '/api/v1/models')!.headers.authorization, undefined);
  });

  it('vercel-gateway: GET /v1/credits (@ai-sdk/gateway) and GET /v1/models (openai SDK at /v1, as Vercel documents), Authorization: Bearer', async () => {
    const s = await capture((r) => (r.path === '/v1/credits' ? { json: { balance: '42.50', total_used: '7.50' } } : openaiList));
    const gateway = createGateway({ apiKey: KEY, baseURL: `${s.url}/v3/ai` });
    const sdk = [
      ...(await sent(s, () => gateway.getCredits())),
      ...(await sent(s, () => new OpenAI({ apiKey: KEY, baseURL: `${s.url}/v1`, maxRetries: 0 }).models.list())),
    ];
    const result = await check(vercelGateway(), { 'vercel-gateway': s.url });
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(sdk.length);
    assertSameRequest(one(sdk, '/v1/credits'), one(ours, '/v1/credits'), ['authorization']);
    assertSameRequest(one(sdk, '/v1/models'), one(ours, '/v1/models'), ['authorization']);
  });

  it('amazon-bedrock, access keys: STS GetCallerIdentity, ListFoundationModels, ListInferenceProfiles (@aws-sdk/client-sts, @aws-sdk/client-bedrock), SigV4 verified independently', async () => {
    const aws = await awsCapture();
    const keys = aws.addIdentity({ temporary: true });
    const credentials = { accessKeyId: keys.access_key_id, secretAccessKey: keys.secret_access_key, sessionToken: keys.session_token! };
    const sts = new STSClient({ region: 'us-east-1', endpoint: aws.url, credentials, maxAttempts: 1 });
    const bedrock = new BedrockClient({ region: 'us-east-1', endpoint: aws.url, credentials, maxAttempts: 1 });
    const sdk = [
      ...(await awsSent(aws, () => sts.send(new GetCallerIdentityCommand({})))),
      ...(await awsSent(aws, () => bedrock.send(new ListFoundationModelsCommand({})))),
      ...(await awsSent(aws, () => bedrock.send(new ListInferenceProfilesCommand({ maxResults: 1000, typeEquals: 'SYSTEM_DEFINED' })))),
    ];
    assert.equal(sdk.length, 3, 'the SDK calls were all sent');
    assert.ok(sdk.every((r) => r.verified), 'the SDK signatures verify (the fake checks them with @smithy/signature-v4)');
    const mark = aws.requests.length;
    const result = await check(amazonBedrock(), { 'aws-sts': aws.url, 'amazon-bedrock': aws.url }, JSON.stringify(keys), 'us-east-1');
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = awsSince(aws, mark);
    assert.ok(ours.every((r) => r.verified), 'the adapter signatures verify');
    assert.deepEqual(ours.map((r) => r.path), ['/', '/foundation-models', '/inference-profiles']);
    for (const [i, path] of ['/', '/foundation-models', '/inference-profiles'].entries()) {
      const [a, b] = [sdk[i]!, ours[i]!];
      assert.equal(a.path, path);
      // The signature differs per request by design; what it covers must agree: scope (key id,
      // day, region, service) and the session token, plus method, path, query and body.
      assertSameRequest(a, b, ['x-amz-security-token']);
      assert.deepEqual(sigv4Scope(b), sigv4Scope(a));
      assert.deepEqual(formOf(b), formOf(a), `${path}: same body`);
    }
    assert.deepEqual(formOf(sdk[0]!), { Action: 'GetCallerIdentity', Version: '2011-06-15' });
    assert.deepEqual(sdk[2]!.query, [['maxResults', '1000'], ['type', 'SYSTEM_DEFINED']], 'typeEquals travels as type');
  });

  it('amazon-bedrock, Bedrock API key: ListFoundationModels with Authorization: Bearer (@aws-sdk/client-bedrock httpBearerAuth)', async () => {
    const aws = await awsCapture();
    const apiKey = 'ABSKQmVkcm9ja0FQSUtleS1maWRlbGl0eS10ZXN0czEyMzQ1Njc4OTA=';
    aws.bearerKeys.add(apiKey);
    const bedrock = new BedrockClient({ region: 'us-east-1', endpoint: aws.url, token: { token: apiKey }, authSchemePreference: ['httpBearerAuth'], maxAttempts: 1 });
    const sdk = [
      ...(await awsSent(aws, () => bedrock.send(new ListFoundationModelsCommand({})))),
      ...(await awsSent(aws, () => bedrock.send(new ListInferenceProfilesCommand({ maxResults: 1000, typeEquals: 'SYSTEM_DEFINED' })))),
    ];
    const mark = aws.requests.length;
    const result = await check(amazonBedrock(), { 'amazon-bedrock': aws.url }, apiKey, 'us-east-1');
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = awsSince(aws, mark);
    assert.equal(ours.length, 2);
    assertSameRequest(sdk[0], ours[0], ['authorization'], ['x-amz-date', 'x-amz-security-token']);
    assertSameRequest(sdk[1], ours[1], ['authorization'], ['x-amz-date', 'x-amz-security-token']);
    assert.equal(ours[0]!.headers.authorization, `Bearer ${apiKey}`);
  });

  it('google-vertex: token exchange (google-auth-library JWT) with an independently verified assertion, then the publisher models (@google/genai, vertexai)', async () => {
    const sa = makeServiceAccount();
    const s = await capture((r) =>
      r.path === '/token'
        ? { json: { access_token: 'ya29.capture-token', expires_in: 3599, token_type: 'Bearer' } }
        : { json: { publisherModels: [{ name: 'publishers/google/models/gemini-2.5-pro', versionId: '001' }] } },
    );
    // google-auth-library posts to Google's token URL, which it does not let one change (and
    // the assertion's `aud` is that URL): its transport, like the adapter's fetch below, sends
    // Google's URLs to the capture server, so both sign for the same audience.
    const fetchVia = rewritingFetch(s.url);
    const jwt = new JWT({
      email: sa.clientEmail,
      key: sa.privateKeyPem,
      keyId: sa.privateKeyId,
      scopes: [CLOUD_PLATFORM_SCOPE],
      transporterOptions: { fetchImplementation: fetchVia.fetch, retry: false },
    });
    const sdkToken = await sent(s, () => jwt.getAccessToken());
    for (const location of ['us-central1', 'us', 'global']) {
      const ai = new GoogleGenAI({ vertexai: true, project: sa.projectId, location, googleAuthOptions: { authClient: jwt } });
      // The host the SDK would call for this location is the adapter's.
      assert.equal(sdkBaseUrl(ai).replace(/\/$/, ''), regionalOrigin(location), location);
    }
    const ai = new GoogleGenAI({ vertexai: true, project: sa.projectId, location: 'us-central1', googleAuthOptions: { authClient: jwt }, httpOptions: { baseUrl: s.url } });
    const sdkList = await sent(s, () => ai.models.list({ config: { pageSize: 100, queryBase: true } }));

    const mark = s.requests.length;
    const adapter = googleVertex();
    const ctx = checkContext({}, { inner: fetchVia.fetch, timeoutMs: 10_000 });
    const result = await adapter.check(adapter.prepare({ apiKey: sa.json, location: 'us-central1' }), ctx);
    assert.equal(result.outcome, 'accepted', result.message);
    const ours = s.since(mark);
    assert.ok(fetchVia.hosts.includes('us-central1-aiplatform.googleapis.com'));

    // Step 1: the same token request; both assertions verify with the account's public key.
    const [a, b] = [one(sdkToken, '/token'), one(ours, '/token')];
    assertSameRequest(a, b, []);
    assert.equal(mediaType(b!), mediaType(a!));
    const [fa, fb] = [new URLSearchParams(a!.body), new URLSearchParams(b!.body)];
    assert.deepEqual([...fb.keys()].sort(), [...fa.keys()].sort());
    assert.equal(fb.get('grant_type'), fa.get('grant_type'));
    const verify = (assertion: string) => jwtVerify(assertion, sa.publicKey, { algorithms: ['RS256'], audience: `${GOOGLE_TOKEN_ORIGIN}/token`, issuer: sa.clientEmail });
    const [va, vb] = [await verify(fa.get('assertion')!), await verify(fb.get('assertion')!)];
    assert.equal(decodeProtectedHeader(fb.get('assertion')!).alg, decodeProtectedHeader(fa.get('assertion')!).alg);
    // PROVIDERS.md: the adapter also names the signing key (kid = private_key_id); Google accepts both.
    assert.equal(vb.protectedHeader.kid, sa.privateKeyId);
    const claims = (c: Record<string, unknown>) => ({ iss: c.iss, scope: c.scope, aud: c.aud, sub: c.sub, lifetime: Number(c.exp) - Number(c.iat) });
    assert.deepEqual(claims(vb.payload), claims(va.payload));
    assert.deepEqual(claims(decodeJwt(fb.get('assertion')!)), { iss: sa.clientEmail, scope: CLOUD_PLATFORM_SCOPE, aud: 'https://oauth2.googleapis.com/token', sub: undefined, lifetime: 3600 });

    // Step 2: the same listing with the same access token (the SDK has no listAllVersions option;
    // the adapter adds it to get dated versions such as claude-sonnet-4-5@20250929).
    const path = '/v1beta1/publishers/google/models';
    const noAllVersions = (r: CapturedRequest | undefined) => r && { ...r, query: r.query.filter(([k]) => k !== 'listAllVersions') };
    assertSameRequest(one(sdkList, path), noAllVersions(one(ours, path)), ['authorization']);
    assert.equal(one(ours, path)!.headers.authorization, 'Bearer ya29.capture-token');
  });

  it('azure-foundry: GET {endpoint}/openai/v1/models and the versioned fallback, api-key (openai SDK AzureOpenAI)', async () => {
    let v1 = true;
    const s = await capture((r) => (r.path === '/openai/v1/models' && !v1 ? { status: 404, json: { error: { code: '404', message: 'Resource not found' } } } : openaiList));
    const endpoint = s.url;
    const adapter = azureFoundry({ allowedHosts: [new URL(endpoint).host] });
    // The v1 API: AzureOpenAI always adds its api-version, which the v1 route does not need
    // (the adapter sends none there); everything else must agree.
    const sdkV1 = await sent(s, () => new AzureOpenAI({ baseURL: `${endpoint}/openai/v1`, apiKey: KEY, apiVersion: 'preview', maxRetries: 0 }).models.list());
    const mark = s.requests.length;
    assert.equal((await check(adapter, {}, KEY, endpoint)).outcome, 'accepted');
    const oursV1 = s.since(mark);
    const withoutVersion = (r: CapturedRequest | undefined) => r && { ...r, query: r.query.filter(([k]) => k !== 'api-version') };
    assertSameRequest(withoutVersion(one(sdkV1, '/openai/v1/models')), one(oursV1, '/openai/v1/models'), ['api-key'], ['authorization']);
    // The versioned route (resources without the v1 API): exactly what AzureOpenAI sends.
    v1 = false;
    const sdkLegacy = await sent(s, () => new AzureOpenAI({ endpoint, apiKey: KEY, apiVersion: '2024-10-21', maxRetries: 0 }).models.list());
    const mark2 = s.requests.length;
    assert.equal((await check(adapter, {}, KEY, endpoint)).outcome, 'accepted');
    assertSameRequest(one(sdkLegacy, '/openai/models'), one(s.since(mark2), '/openai/models'), ['api-key'], ['authorization']);
  });
});
