/**
 * The three cloud providers through the HTTP API (PATCH/validate/GET /byok/providers and
 * GET /user), with NEO_PROVIDER_URL_* and NEO_AZURE_ALLOWED_HOSTS pointing at the fakes:
 * what is saved, how each outcome is presented, that the models are remembered, that no
 * user-supplied URL or JSON field makes the server call another host, and that no secret
 * reaches a response or a log line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  azureKey,
  dnsFailureFor,
  makeServiceAccount,
  startAwsFake,
  startAzureFake,
  startGoogleFake,
  startRecordingServer,
  type AwsFake,
  type AzureFake,
  type FakeBase,
  type GoogleFake,
  urlOf,
} from './fakes/cloud-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const BEARER = 'ABSKQmVkcm9ja0FQSUtleS1hcGktdGVzdHMtMTIzNDU2Nzg5MA==';

for (const dialect of testDialects()) {
  describe(`cloud providers over HTTP [${dialect}]`, () => {
    let google: GoogleFake;
    let aws: AwsFake;
    let azure: AzureFake;
    let recorder: FakeBase;
    let ctx: TestContext;
    /** Every secret submitted in this suite: none may appear in a response or a log line. */
    const secrets: string[] = [];

    before(async () => {
      [google, aws, azure, recorder] = await Promise.all([startGoogleFake(), startAwsFake(), startAzureFake(), startRecordingServer()]);
      aws.bearerKeys.add(BEARER);
      secrets.push(BEARER);
      ctx = await createTestContext({
        dialect,
        env: {
          NEO_PROVIDER_URL_GOOGLE_OAUTH: google.url,
          NEO_PROVIDER_URL_GOOGLE_VERTEX: google.url,
          NEO_PROVIDER_URL_AWS_STS: aws.url,
          NEO_PROVIDER_URL_AMAZON_BEDROCK: aws.url,
          // Only the Azure fake's exact host:port (the recorder, also on 127.0.0.1, stays refused).
          NEO_AZURE_ALLOWED_HOSTS: new URL(azure.url).host,
          NEO_PROVIDER_TIMEOUT_MS: '10000',
        },
      });
    });
    after(async () => {
      await ctx.close();
      await Promise.all([google.close(), aws.close(), azure.close(), recorder.close()]);
    });

    async function byokUser(): Promise<TestUser> {
      const user = await createUser(ctx);
      await setByok(ctx, user.owner);
      return user;
    }

    const patch = (user: TestUser, provider: string, payload: Record<string, unknown>) =>
      ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: user.headers, payload });
    const validate = (user: TestUser, provider: string, payload: Record<string, unknown>) =>
      ctx.app.inject({ method: 'POST', url: `/api/v1/byok/providers/${provider}/validate`, headers: user.headers, payload });
    const list = async (user: TestUser) =>
      (await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers })).json().provider_keys as Record<string, unknown>[];

    function assertNoSecrets(text: string): void {
      for (const s of secrets) assert.ok(!text.includes(s), 'a submitted secret appears in the output');
    }

    it('google-vertex: saved validated, region defaulted, hint = client_email, models remembered', async () => {
      const user = await byokUser();
      const sa = makeServiceAccount();
      google.addAccount(sa);
      secrets.push(sa.privateKeyPem.split('\n')[3]!);
      const res = await patch(user, 'google-vertex', { api_key: sa.json, display_name: 'Vertex prod' });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.provider_key.provider, 'google-vertex');
      assert.equal(body.provider_key.location, 'us-central1');
      assert.equal(body.provider_key.key_hint, sa.clientEmail);
      assert.equal(body.provider_key.is_validated, true);
      assert.equal(body.validation.valid, true);
      assert.match(body.validation.details, /5 models listed in us-central1/);
      assertNoSecrets(res.body);
      assert.ok(!res.body.includes('PRIVATE KEY'));
      // Switch to byok: GET /user shows the Vertex models, mapped.
      const mode = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: { mode: 'byok' } });
      assert.equal(mode.statusCode, 200, mode.body);
      const me = (await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: user.headers })).json();
      const byId = new Map((me.byok_models as { id: string; supported: boolean; neo_model_id?: string }[]).map((m) => [m.id, m]));
      assert.equal(byId.get('claude-sonnet-4-5@20250929')?.neo_model_id, 'claude-sonnet-4-5');
      assert.equal(byId.get('gemini-2.5-pro')?.neo_model_id, 'gemini-2-5-pro');
      assert.equal(byId.get('text-embedding-005')?.supported, false);
      assert.ok((me.available_models as string[]).includes('claude-sonnet-4-5'));
    });

    it('google-vertex: a chosen region is stored normalized and used', async () => {
      const user = await byokUser();
      const sa = makeServiceAccount();
      google.addAccount(sa);
      const before = google.listRequests().length;
      const res = await patch(user, 'google-vertex', { api_key: sa.json, location: 'Europe-West4' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().provider_key.location, 'europe-west4');
      assert.ok(google.listRequests().slice(before).every((r) => r.path.startsWith('/europe-west4/')));
    });

    it('google-vertex: malformed JSON → 400 invalid_request naming api_key, nothing saved, no call', async () => {
      const user = await byokUser();
      const before = google.requests.length;
      const secret = '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC';
      secrets.push('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
      const res = await patch(user, 'google-vertex', { api_key: secret });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'invalid_request');
      assert.match(res.json().message, /api_key/);
      assertNoSecrets(res.body);
      const region = await patch(user, 'google-vertex', { api_key: makeServiceAccount().json, location: 'https://evil.example.com' });
      assert.equal(region.statusCode, 400);
      assert.match(region.json().message, /location/);
      assert.equal(google.requests.length, before);
      assert.deepEqual(await list(user), []);
    });

    it('google-vertex: an account Google rejects → 400 provider_key_invalid, nothing saved', async () => {
      const user = await byokUser();
      const res = await patch(user, 'google-vertex', { api_key: makeServiceAccount().json });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'provider_key_invalid');
      assert.deepEqual(await list(user), []);
    });

    it('google-vertex: a hostile token_uri in the JSON is never called', async () => {
      const user = await byokUser();
      const sa = makeServiceAccount({ tokenUri: `${recorder.url}/token` });
      google.addAccount(sa);
      const res = await patch(user, 'google-vertex', { api_key: sa.json });
      assert.equal(res.statusCode, 200, res.body);
      const v = await validate(user, 'google-vertex', { api_key: makeServiceAccount({ tokenUri: `${recorder.url}/token` }).json });
      assert.equal(v.statusCode, 200);
      assert.equal(v.json().valid, false);
      assert.equal(recorder.requests.length, 0);
    });

    it('google-vertex: restricted and billing save as validated with a warning', async () => {
      const user = await byokUser();
      const sa = makeServiceAccount();
      google.addAccount(sa, { listFault: 'SERVICE_DISABLED' });
      const res = await patch(user, 'google-vertex', { api_key: sa.json });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().provider_key.is_validated, true);
      assert.match(res.json().validation.details, /^Warning: .*not enabled/);
      google.addAccount(sa, { listFault: 'BILLING_DISABLED' });
      const billing = await validate(user, 'google-vertex', { api_key: sa.json });
      assert.equal(billing.json().valid, true);
      assert.match(billing.json().details, /billing/);
    });

    it('amazon-bedrock: temporary SigV4 keys saved validated, hint ASIA…, region us-east-1', async () => {
      const user = await byokUser();
      const keys = aws.addIdentity({ temporary: true });
      secrets.push(keys.secret_access_key, keys.session_token!);
      const res = await patch(user, 'amazon-bedrock', { api_key: JSON.stringify(keys) });
      assert.equal(res.statusCode, 200, res.body);
      const pk = res.json().provider_key;
      assert.equal(pk.location, 'us-east-1');
      assert.equal(pk.key_hint, `ASIA…${keys.access_key_id.slice(-4)}`);
      assert.equal(pk.is_validated, true);
      assertNoSecrets(res.body);
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: { mode: 'byok' } });
      const me = (await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: user.headers })).json();
      const profile = (me.byok_models as { id: string; neo_model_id?: string }[]).find((m) => m.id === 'us.anthropic.claude-sonnet-4-5-20250929-v1:0');
      assert.equal(profile?.neo_model_id, 'claude-sonnet-4-5');
    });

    it('amazon-bedrock: a Bedrock API key is saved with the general hint', async () => {
      const user = await byokUser();
      const res = await patch(user, 'amazon-bedrock', { api_key: BEARER, location: 'us-east-1' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().provider_key.key_hint, `ABS…${BEARER.slice(-4)}`);
      assertNoSecrets(res.body);
    });

    it('amazon-bedrock: a Bedrock API key that AWS refuses (AccessDeniedException "Authentication failed") → 400 provider_key_invalid, nothing saved', async () => {
      const user = await byokUser();
      const wrong = `${BEARER.slice(0, -6)}BBBBB=`;
      secrets.push(wrong);
      const res = await patch(user, 'amazon-bedrock', { api_key: wrong, location: 'us-east-1' });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'provider_key_invalid');
      assert.match(res.json().message, /Bedrock API key/);
      assertNoSecrets(res.body);
      assert.deepEqual(await list(user), []);
    });

    it('amazon-bedrock: wrong secret → 400 provider_key_invalid; throttled → saved unvalidated; denied → warning', async () => {
      const user = await byokUser();
      const keys = aws.addIdentity();
      const wrong = { ...keys, secret_access_key: `${keys.secret_access_key.slice(0, -3)}abc` };
      secrets.push(keys.secret_access_key, wrong.secret_access_key);
      const bad = await patch(user, 'amazon-bedrock', { api_key: JSON.stringify(wrong) });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().code, 'provider_key_invalid');
      assertNoSecrets(bad.body);
      assert.deepEqual(await list(user), []);

      aws.bedrockFault = { code: 'ThrottlingException', status: 429 };
      try {
        const throttled = await patch(user, 'amazon-bedrock', { api_key: JSON.stringify(keys) });
        assert.equal(throttled.statusCode, 200, throttled.body);
        assert.equal(throttled.json().provider_key.is_validated, false);
        assert.equal(throttled.json().validation.valid, false);
        assert.match(throttled.json().validation.error, /throttling/);
        aws.bedrockFault = { code: 'AccessDeniedException', status: 403 };
        const denied = await patch(user, 'amazon-bedrock', { api_key: JSON.stringify(keys) });
        assert.equal(denied.json().provider_key.is_validated, true);
        assert.match(denied.json().validation.details, /^Warning: .*bedrock:ListFoundationModels/);
      } finally {
        aws.bedrockFault = null;
      }
    });

    it('azure-foundry: saved validated with the normalized endpoint and the models', async () => {
      const user = await byokUser();
      const key = azureKey();
      azure.keys.add(key);
      secrets.push(key);
      const res = await patch(user, 'azure-foundry', { api_key: key, location: `${azure.url}/` });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().provider_key.location, azure.url);
      assert.equal(res.json().provider_key.key_hint, `${key.slice(0, 3)}…${key.slice(-4)}`);
      assert.match(res.json().validation.details, /4 models listed/);
      assertNoSecrets(res.body);
      const v = await validate(user, 'azure-foundry', { api_key: azureKey(), location: azure.url });
      assert.equal(v.json().valid, false);
      assert.match(v.json().error, /invalid resource key or wrong API endpoint/);
    });

    it('azure-foundry: location is required and must be an Azure endpoint; other hosts are never called', async () => {
      const user = await byokUser();
      const key = azureKey();
      azure.keys.add(key);
      secrets.push(key);
      const missing = await patch(user, 'azure-foundry', { api_key: key });
      assert.equal(missing.statusCode, 400);
      assert.match(missing.json().message, /location is required/);
      const recHost = new URL(recorder.url).host;
      for (const location of [
        recorder.url,
        `https://${recHost}`,
        'http://my-resource.openai.azure.com',
        'https://169.254.169.254',
        `https://user:pw@${new URL(azure.url).host}`,
        `https://my-resource.openai.azure.com@${recHost}`,
      ]) {
        const res = await patch(user, 'azure-foundry', { api_key: key, location });
        assert.equal(res.statusCode, 400, location);
        assert.equal(res.json().code, 'invalid_request', location);
        assert.match(res.json().message, /location/);
        assert.ok(!res.body.includes('pw@'));
      }
      assert.equal(recorder.requests.length, 0);
      assert.deepEqual(await list(user), []);
    });

    it('azure-foundry: a redirect is refused as a wrong endpoint and never followed', async () => {
      const user = await byokUser();
      const key = azureKey();
      azure.keys.add(key);
      azure.redirectTo = `${recorder.url}/openai/v1/models`;
      try {
        const res = await patch(user, 'azure-foundry', { api_key: key, location: azure.url });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().code, 'provider_key_invalid');
        assert.match(res.json().message, /wrong endpoint/);
      } finally {
        azure.redirectTo = null;
      }
      assert.equal(recorder.requests.length, 0);
    });

    it('lists the three cloud keys of one owner with their locations', async () => {
      const user = await byokUser();
      const sa = makeServiceAccount();
      google.addAccount(sa);
      const key = azureKey();
      azure.keys.add(key);
      assert.equal((await patch(user, 'google-vertex', { api_key: sa.json, location: 'asia-northeast1' })).statusCode, 200);
      assert.equal((await patch(user, 'amazon-bedrock', { api_key: JSON.stringify(aws.addIdentity()) })).statusCode, 200);
      assert.equal((await patch(user, 'azure-foundry', { api_key: key, location: azure.url })).statusCode, 200);
      const keys = await list(user);
      assert.deepEqual(
        keys.map((k) => [k.provider, k.location, k.is_validated]).sort(),
        [
          ['amazon-bedrock', 'us-east-1', true],
          ['azure-foundry', azure.url, true],
          ['google-vertex', 'asia-northeast1', true],
        ],
      );
    });

    it('no submitted secret or access token appears in any log line', () => {
      const logs = ctx.logs.join('\n');
      assert.ok(logs.length > 0);
      assertNoSecrets(logs);
      for (const token of google.issued.keys()) assert.ok(!logs.includes(token), 'an access token was logged');
    });
  });

  describe(`cloud providers on a server without outbound DNS [${dialect}]`, () => {
    let ctx: TestContext;
    /** Every host name the server tried to reach. */
    const hosts: string[] = [];

    before(async () => {
      ctx = await createTestContext({
        dialect,
        deps: {
          // Egress-restricted host or DNS outage: no name resolves (nothing leaves the machine).
          fetch: async (input) => {
            hosts.push(new URL(urlOf(input)).hostname);
            throw dnsFailureFor(input);
          },
        },
      });
    });
    after(async () => ctx.close());

    const patch = (user: TestUser, provider: string, payload: Record<string, unknown>) =>
      ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: user.headers, payload });

    it('a key for a known region is saved unverified (200), like every other provider, with how to re-check it', async () => {
      const user = await createUser(ctx);
      await setByok(ctx, user.owner);
      const sa = makeServiceAccount();
      for (const [provider, payload, host] of [
        ['amazon-bedrock', { api_key: BEARER, location: 'eu-west-1' }, 'Amazon Bedrock in eu-west-1'],
        ['google-vertex', { api_key: sa.json, location: 'europe-west4' }, 'Google token endpoint'],
      ] as const) {
        const res = await patch(user, provider, payload);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        assert.equal(body.provider_key.is_validated, false);
        assert.equal(body.provider_key.location, payload.location);
        assert.equal(body.validation.valid, false);
        assert.equal(body.validation.outcome, 'unavailable');
        assert.ok(body.validation.error.startsWith(`${host} could not be reached: its host name did not resolve`), body.validation.error);
        assert.match(body.validation.details, /save it again with PATCH .*the same api_key/);
      }
      assert.deepEqual([...new Set(hosts)].sort(), ['bedrock.eu-west-1.amazonaws.com', 'oauth2.googleapis.com']);
    });

    it('an unknown region is refused with 400 naming location before any call, and nothing is saved', async () => {
      const user = await createUser(ctx);
      await setByok(ctx, user.owner);
      const before = hosts.length;
      for (const [provider, payload, pattern] of [
        ['amazon-bedrock', { api_key: BEARER, location: 'eu-wset-1' }, /location: unknown region "eu-wset-1" for Amazon Bedrock/],
        ['google-vertex', { api_key: makeServiceAccount().json, location: 'europe-wset4' }, /location: unknown region "europe-wset4" for Vertex AI/],
      ] as const) {
        const res = await patch(user, provider, payload);
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'invalid_request');
        assert.match(res.json().message, pattern);
      }
      assert.equal(hosts.length, before, 'no host was looked up');
      const listed = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
      assert.deepEqual(listed.json().provider_keys, []);
    });
  });
}
