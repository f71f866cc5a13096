/**
 * Keyless cloud connections (issue 18 items 2–4, 6–8) end to end: the app listens on the
 * port named by NEO_OIDC_ISSUER, and the fakes of AWS STS, Google STS + IAM Credentials
 * and Microsoft Entra fetch its discovery document and JWKS over HTTP to verify each token
 * (signature, iss, aud, sub, exp, iat) and enforce the trust condition on `sub`, so one
 * owner's token never opens another owner's role. Saves are checked with the temporary
 * credentials exactly as stored keys are; resolve hands out short-lived credentials,
 * cached and refreshed in the background on a controlled clock.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FAILED_EXCHANGE_MS, REJECTED_EXCHANGE_MS } from '../src/modules/internal/short-lived.ts';
import { oidcSubject } from '../src/modules/oidc/issuer.ts';
import { makeServiceAccount, workloadPrincipal } from './fakes/cloud-providers.ts';
import { startEntraFake, type EntraFake } from './fakes/entra.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';
import { setMode, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function manualClock(start = Date.now()) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

interface Credential {
  api_key: string;
  location: string | null;
  kind: string;
  expires_at: string | null;
}

const MIN = 60_000;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const WIP = 'projects/123456789012/locations/global/workloadIdentityPools/neo-pool/providers/neo-provider';

for (const dialect of testDialects()) {
  describe(`keyless cloud connections [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let entra: EntraFake;
    let issuer: string;
    const clock = manualClock();

    before(async () => {
      const port = await freePort();
      issuer = `http://127.0.0.1:${port}`;
      fakes = await startProviderFakes();
      entra = await startEntraFake();
      fakes.aws.clock = clock.now;
      fakes.google.clock = clock.now;
      fakes.azure.clock = clock.now;
      entra.clock = clock.now;
      entra.onIssue = (token, expiresAt) => fakes.azure.bearerTokens.set(token, expiresAt);
      entra.tenants.add(TENANT);
      ctx = await createTestContext({
        dialect,
        env: {
          ...fakes.env,
          NEO_OIDC_ISSUER: issuer,
          NEO_PROVIDER_URL_GOOGLE_STS: fakes.google.url,
          NEO_PROVIDER_URL_GOOGLE_IAM_CREDENTIALS: fakes.google.url,
          NEO_PROVIDER_URL_AZURE_LOGIN: entra.url,
        },
        deps: { clock: clock.now },
      });
      await ctx.app.listen({ port, host: '127.0.0.1' });
    });
    after(async () => {
      await ctx?.close();
      await entra?.close();
      await fakes?.close();
    });

    async function user(): Promise<TestUser> {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      return u;
    }

    function save(u: TestUser, provider: string, fields: Record<string, unknown>, location: string) {
      return ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: u.headers, payload: { api_key: JSON.stringify(fields), location } });
    }

    async function resolve(u: TestUser, model: string, extra: Record<string, unknown> = {}) {
      return ctx.app.inject({
        method: 'POST',
        url: '/internal/v1/credentials/resolve',
        headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
        payload: { user_id: u.id, model, ...extra },
      });
    }

    async function credentialOf(u: TestUser, model: string, extra: Record<string, unknown> = {}): Promise<Credential & { provider: string }> {
      const res = await resolve(u, model, extra);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<{ credential: Credential; provider: string }>();
      return { ...body.credential, provider: body.provider };
    }

    /** The stored secret of an owner's key, decrypted: for keyless connections, identifiers only. */
    async function storedSecret(u: TestUser, provider: string): Promise<string> {
      const row = await ctx.database.db.selectFrom('provider_keys').selectAll().where('owner_id', '=', u.id).where('provider', '=', provider).executeTakeFirstOrThrow();
      return ctx.app.services.vault.decrypt(u.owner, provider as never, row.ciphertext, row.location);
    }

    describe('Amazon Bedrock by IAM role', () => {
      let alice: TestUser;
      const roleArn = 'arn:aws:iam::123456789012:role/neo-bedrock';

      it('saves a role the trust policy lets this owner assume, checked by listing models with the temporary keys; nothing secret stored', async () => {
        alice = await user();
        fakes.aws.roles.set(roleArn, { issuer, subject: oidcSubject(alice.owner) });
        const res = await save(alice, 'amazon-bedrock', { role_arn: roleArn }, 'us-east-1');
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ provider_key: { key_hint: string; is_validated: boolean; models_count: number; keyless: boolean }; validation: { valid: boolean; details: string } }>();
        assert.equal(body.validation.valid, true);
        assert.match(body.validation.details, /keyless/);
        assert.equal(body.provider_key.keyless, true);
        const listed = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: alice.headers });
        assert.equal(listed.json<{ provider_keys: { provider: string; keyless: boolean }[] }>().provider_keys.find((k) => k.provider === 'amazon-bedrock')?.keyless, true);
        assert.equal(body.provider_key.key_hint, roleArn);
        assert.ok(body.provider_key.models_count > 0);
        const ex = fakes.aws.exchanges.at(-1)!;
        assert.deepEqual([ex.action, ex.roleArn, ex.sub, ex.sessionName], ['AssumeRoleWithWebIdentity', roleArn, `neo:user:${alice.id}`, `neo-user-${alice.id}`]);
        // The listing was signed with the role's temporary keys (and verified by the fake).
        const listing = fakes.aws.records.filter((r) => r.path === '/foundation-models').at(-1)!;
        assert.equal(listing.accessKeyId, ex.accessKeyId);
        assert.equal(listing.verified, true);
        assert.equal(await storedSecret(alice, 'amazon-bedrock'), JSON.stringify({ role_arn: roleArn }));
      });

      it("refuses another owner's save of that role: the trust condition on sub (400 provider_key_invalid)", async () => {
        const mallory = await user();
        const res = await save(mallory, 'amazon-bedrock', { role_arn: roleArn }, 'us-east-1');
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json<{ code: string }>().code, 'provider_key_invalid');
        assert.match(res.json<{ message: string }>().message, /trust policy/);
      });

      it('refuses a role ARN that is malformed or mixed with access keys, before any call', async () => {
        const before = fakes.aws.requests.length;
        for (const fields of [{ role_arn: 'arn:aws:iam::12:role/x' }, { role_arn: roleArn, secret_access_key: 'x'.repeat(40) }]) {
          const res = await save(alice, 'amazon-bedrock', fields, 'us-east-1');
          assert.equal(res.statusCode, 400);
          assert.equal(res.json<{ code: string }>().code, 'invalid_request');
        }
        assert.equal(fakes.aws.requests.length, before);
      });

      it('"Check now" re-checks the connection with a fresh exchange for this owner (key health)', async () => {
        const before = fakes.aws.exchanges.length;
        const res = await ctx.app.inject({ method: 'POST', url: '/api/v1/byok/providers/amazon-bedrock/check', headers: alice.headers });
        assert.equal(res.statusCode, 200, res.body);
        const k = res.json<{ provider_key: { status: string; last_check_outcome: string } }>().provider_key;
        assert.deepEqual([k.status, k.last_check_outcome], ['active', 'accepted']);
        assert.equal(fakes.aws.exchanges.length, before + 1);
        assert.equal(fakes.aws.exchanges.at(-1)!.sub, oidcSubject(alice.owner));
      });

      it('resolves to temporary SigV4 keys (kind aws_access_keys, expires_at), cached, refreshed in the background, served while STS is down, then 503 / 409', async () => {
        await setMode(ctx, alice, 'byok');
        const first = await credentialOf(alice, 'claude-sonnet-4-5');
        assert.equal(first.provider, 'amazon-bedrock');
        assert.equal(first.kind, 'aws_access_keys');
        assert.equal(first.location, 'us-east-1');
        const keys = JSON.parse(first.api_key) as { access_key_id: string; secret_access_key: string; session_token: string };
        assert.match(keys.access_key_id, /^ASIA/);
        assert.ok(keys.session_token.length > 16);
        assert.ok(fakes.aws.identities.has(keys.access_key_id), 'keys issued by STS for the role');
        const expires = Date.parse(first.expires_at!);
        assert.ok(expires > clock.now() && expires <= clock.now() + 3600_000, 'expires within the hour');

        // Cached: no exchange for the next resolve.
        const exchanges = fakes.aws.exchanges.length;
        assert.deepEqual(await credentialOf(alice, 'claude-sonnet-4-5'), first);
        assert.equal(fakes.aws.exchanges.length, exchanges);

        // 46 minutes on (less than 15 minutes left): the cached keys still come back at once, and a background refresh starts.
        clock.advance(46 * MIN);
        assert.equal((await credentialOf(alice, 'claude-sonnet-4-5')).api_key, first.api_key);
        await ctx.app.services.shortLived.settled();
        assert.equal(fakes.aws.exchanges.length, exchanges + 1);
        const second = await credentialOf(alice, 'claude-sonnet-4-5');
        assert.notEqual(second.api_key, first.api_key);
        assert.ok(Date.parse(second.expires_at!) > expires);

        // STS down: resolve keeps answering with the cached keys while they are valid.
        fakes.aws.stsFault = { status: 503, code: 'ServiceUnavailable' };
        clock.advance(46 * MIN);
        assert.equal((await credentialOf(alice, 'claude-sonnet-4-5')).api_key, second.api_key);
        await ctx.app.services.shortLived.refreshDue();
        assert.equal((await credentialOf(alice, 'claude-sonnet-4-5')).api_key, second.api_key);
        assert.ok(ctx.logs.some((l) => l.includes('short_lived.refresh_failed')));

        // Expired, STS still down: 503 with Retry-After.
        clock.advance(15 * MIN);
        const down = await resolve(alice, 'claude-sonnet-4-5');
        assert.equal(down.statusCode, 503, down.body);
        assert.equal(down.json<{ code: string }>().code, 'cloud_credential_unavailable');
        assert.equal(down.headers['retry-after'], String(FAILED_EXCHANGE_MS / 1000));
        // Within Retry-After the same answer comes at once, without asking STS again.
        const tried = fakes.aws.exchanges.length;
        fakes.aws.stsFault = null;
        assert.equal((await resolve(alice, 'claude-sonnet-4-5')).statusCode, 503);
        assert.equal(fakes.aws.exchanges.length, tried);
        clock.advance(FAILED_EXCHANGE_MS);

        // STS back but the trust removed: 409 naming the fix.
        fakes.aws.roles.set(roleArn, { issuer, subject: 'neo:user:someone-else' });
        const refused = await resolve(alice, 'claude-sonnet-4-5');
        assert.equal(refused.statusCode, 409, refused.body);
        assert.equal(refused.json<{ code: string }>().code, 'cloud_credential_rejected');

        // The trust fixed on AWS's side: seen once the refusal's window has passed.
        fakes.aws.roles.set(roleArn, { issuer, subject: oidcSubject(alice.owner) });
        assert.equal((await resolve(alice, 'claude-sonnet-4-5')).statusCode, 409);
        clock.advance(REJECTED_EXCHANGE_MS);
        const back = await credentialOf(alice, 'claude-sonnet-4-5');
        assert.equal(back.kind, 'aws_access_keys');
        // No temporary secret, session token or token of the issuer in the logs.
        const logs = ctx.logs.join('\n');
        for (const c of [first, second, back]) {
          const k = JSON.parse(c.api_key) as { secret_access_key: string; session_token: string };
          assert.ok(!logs.includes(k.secret_access_key) && !logs.includes(k.session_token), 'temporary keys never logged');
        }
        assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\./.test(logs), 'no JWT in the logs');
        const metrics = await ctx.app.services.metrics.registry.metrics();
        for (const series of ['trigger="resolve",outcome="accepted"', 'trigger="refresh",outcome="accepted"', 'trigger="refresh",outcome="unavailable"', 'trigger="resolve",outcome="rejected"']) {
          assert.ok(metrics.includes(`neo_cloud_credential_exchanges_total{provider="amazon-bedrock",${series}}`), series);
        }
      });
    });

    describe('Google Vertex by Workload Identity Federation', () => {
      let vera: TestUser;
      const saEmail = 'neo-vertex@neo-test-project.iam.gserviceaccount.com';

      it('saves a workload identity that impersonates a service account, checked by listing publisher models', async () => {
        vera = await user();
        fakes.google.workloadProviders.set(WIP, { issuer, subjects: new Set([oidcSubject(vera.owner)]) });
        fakes.google.impersonators.set(saEmail, new Set([workloadPrincipal(WIP, oidcSubject(vera.owner))]));
        const res = await save(vera, 'google-vertex', { workload_identity_provider: WIP, service_account_email: saEmail, project_id: 'neo-test-project' }, 'us-central1');
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ provider_key: { key_hint: string; models_count: number }; validation: { valid: boolean } }>();
        assert.equal(body.validation.valid, true);
        assert.equal(body.provider_key.key_hint, saEmail);
        assert.ok(body.provider_key.models_count > 0);
        assert.deepEqual(
          fakes.google.exchanges.slice(-2).map((e) => e.kind),
          ['sts', 'generateAccessToken'],
        );
        assert.ok(!(await storedSecret(vera, 'google-vertex')).includes('private_key'));
      });

      it("refuses another owner's token: the provider's attribute condition on sub", async () => {
        const mallory = await user();
        const res = await save(mallory, 'google-vertex', { workload_identity_provider: WIP, service_account_email: saEmail, project_id: 'neo-test-project' }, 'us-central1');
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json<{ code: string }>().code, 'provider_key_invalid');
      });

      it('resolves to an access token (kind access_token) that Vertex accepts; expiry and refresh on the clock', async () => {
        await setMode(ctx, vera, 'byok');
        const c = await credentialOf(vera, 'gemini-2-5-pro');
        assert.equal(c.provider, 'google-vertex');
        assert.equal(c.kind, 'access_token');
        assert.equal(c.location, 'us-central1');
        assert.equal(fakes.google.issued.get(c.api_key)?.email, saEmail, 'a token of the impersonated service account');
        const exchanges = fakes.google.exchanges.length;
        clock.advance(50 * MIN);
        assert.equal((await credentialOf(vera, 'gemini-2-5-pro')).api_key, c.api_key);
        await ctx.app.services.shortLived.settled();
        assert.equal(fakes.google.exchanges.length, exchanges + 2);
        const next = await credentialOf(vera, 'gemini-2-5-pro');
        assert.notEqual(next.api_key, c.api_key);
        // Google down after expiry: 503.
        fakes.google.tokenFault = { status: 503, body: { error: 'internal_failure' } };
        clock.advance(61 * MIN);
        const down = await resolve(vera, 'gemini-2-5-pro');
        assert.equal(down.statusCode, 503, down.body);
        fakes.google.tokenFault = null;
      });
    });

    describe('Azure AI Foundry by Entra workload identity federation', () => {
      let azi: TestUser;
      const clientId = '5d3c0f5e-8b1a-4c7e-9a2f-0e6b7d8c9a10';

      it('saves an Entra app with a federated credential for this owner, checked by listing models with the bearer token', async () => {
        azi = await user();
        entra.apps.set(clientId, { tenantId: TENANT, federatedCredentials: [{ issuer, subject: oidcSubject(azi.owner), audiences: ['api://AzureADTokenExchange'] }] });
        const res = await save(azi, 'azure-foundry', { tenant_id: TENANT, client_id: clientId }, fakes.azure.url);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json<{ validation: { valid: boolean } }>().validation.valid, true);
        assert.deepEqual(entra.exchanges.at(-1), { clientId, sub: oidcSubject(azi.owner) });
        const listing = fakes.azure.requests.at(-1)!;
        assert.match(listing.headers.authorization ?? '', /^Bearer /);
        assert.equal(listing.headers['api-key'], undefined);
      });

      it("refuses another owner's token (AADSTS700213) and an unknown tenant (AADSTS90002)", async () => {
        const mallory = await user();
        const res = await save(mallory, 'azure-foundry', { tenant_id: TENANT, client_id: clientId }, fakes.azure.url);
        assert.equal(res.statusCode, 400, res.body);
        assert.match(res.json<{ message: string }>().message, /AADSTS700213/);
        const other = await save(mallory, 'azure-foundry', { tenant_id: '00000000-0000-0000-0000-000000000001', client_id: clientId }, fakes.azure.url);
        assert.equal(other.statusCode, 400);
        assert.match(other.json<{ message: string }>().message, /AADSTS90002/);
      });

      it('resolves to an Entra access token the endpoint accepts; Entra down with a valid cached token does not fail resolve', async () => {
        await setMode(ctx, azi, 'byok');
        const c = await credentialOf(azi, 'gpt-5');
        assert.equal(c.provider, 'azure-foundry');
        assert.equal(c.kind, 'access_token');
        assert.equal(c.location, fakes.azure.url);
        assert.ok((fakes.azure.bearerTokens.get(c.api_key) ?? 0) > clock.now());
        entra.fault = 503;
        clock.advance(50 * MIN);
        assert.equal((await credentialOf(azi, 'gpt-5')).api_key, c.api_key);
        await ctx.app.services.shortLived.settled();
        clock.advance(10 * MIN);
        const down = await resolve(azi, 'gpt-5');
        assert.equal(down.statusCode, 503, down.body);
        entra.fault = null;
        clock.advance(FAILED_EXCHANGE_MS);
        assert.equal((await credentialOf(azi, 'gpt-5')).kind, 'access_token');
      });
    });

    it('a deleted connection is no longer refreshed by the background sweep', async () => {
      const u = await user();
      const clientId = '0f0e0d0c-0b0a-4908-8706-050403020100';
      entra.apps.set(clientId, { tenantId: TENANT, federatedCredentials: [{ issuer, subject: oidcSubject(u.owner), audiences: ['api://AzureADTokenExchange'] }] });
      assert.equal((await save(u, 'azure-foundry', { tenant_id: TENANT, client_id: clientId }, fakes.azure.url)).statusCode, 200);
      await setMode(ctx, u, 'byok');
      await credentialOf(u, 'gpt-5');
      const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/azure-foundry', headers: u.headers });
      assert.equal(del.statusCode, 200, del.body);
      const before = entra.exchanges.filter((e) => e.clientId === clientId).length;
      clock.advance(50 * MIN);
      await ctx.app.services.shortLived.refreshDue();
      assert.equal(entra.exchanges.filter((e) => e.clientId === clientId).length, before);
    });

    it('never logs a token of the issuer or a credential the clouds issued', () => {
      const logs = ctx.logs.join('\n');
      assert.ok(ctx.logs.length > 0);
      assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\./.test(logs), 'no JWT of the issuer');
      for (const token of [...fakes.google.issued.keys(), ...fakes.azure.bearerTokens.keys()]) assert.ok(!logs.includes(token), 'no access token');
      for (const id of fakes.aws.identities.values()) {
        assert.ok(!logs.includes(id.secretAccessKey), 'no AWS secret');
        if (id.sessionToken) assert.ok(!logs.includes(id.sessionToken), 'no session token');
      }
    });

    describe('short_lived: true for stored cloud keys', () => {
      it('delivers a stored Vertex service-account key as an access token', async () => {
        const u = await user();
        const sa = makeServiceAccount();
        fakes.google.addAccount(sa);
        const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/google-vertex', headers: u.headers, payload: { api_key: sa.json, location: 'us-central1' } });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json<{ provider_key: { keyless: boolean } }>().provider_key.keyless, false);
        const listed = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: u.headers });
        assert.equal(listed.json<{ provider_keys: { keyless: boolean }[] }>().provider_keys[0]?.keyless, false);
        await setMode(ctx, u, 'byok');
        const plain = await credentialOf(u, 'gemini-2-5-pro');
        assert.deepEqual([plain.kind, plain.expires_at, plain.api_key], ['gcp_service_account', null, sa.json]);
        const short = await credentialOf(u, 'gemini-2-5-pro', { short_lived: true });
        assert.equal(short.kind, 'access_token');
        assert.ok(!short.api_key.includes('PRIVATE KEY'));
        assert.equal(fakes.google.issued.get(short.api_key)?.email, sa.clientEmail);
        assert.ok(Date.parse(short.expires_at!) <= clock.now() + 3600_000);
      });

      it('delivers stored long-term AWS keys as one-hour GetSessionToken keys', async () => {
        const u = await user();
        const id = fakes.aws.addIdentity();
        const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/amazon-bedrock', headers: u.headers, payload: { api_key: JSON.stringify(id), location: 'us-east-1' } });
        assert.equal(res.statusCode, 200, res.body);
        await setMode(ctx, u, 'byok');
        const short = await credentialOf(u, 'claude-sonnet-4-5', { short_lived: true });
        assert.equal(short.kind, 'aws_access_keys');
        const keys = JSON.parse(short.api_key) as { access_key_id: string; secret_access_key: string; session_token: string };
        assert.notEqual(keys.access_key_id, id.access_key_id);
        assert.notEqual(keys.secret_access_key, id.secret_access_key);
        assert.ok(keys.session_token);
        assert.equal(fakes.aws.exchanges.at(-1)?.action, 'GetSessionToken');
        assert.ok(Math.abs(Date.parse(short.expires_at!) - (clock.now() + 3600_000)) < 1000, 'one hour (STS states whole seconds)');
        // Without short_lived the stored keys come as saved.
        const plain = await credentialOf(u, 'claude-sonnet-4-5');
        assert.deepEqual([plain.kind, plain.expires_at, plain.api_key], ['aws_access_keys', null, JSON.stringify(id)]);
      });
    });
  });
}

describe('keyless cloud connections without NEO_OIDC_ISSUER', () => {
  it('answers 400 oidc_issuer_not_configured on save, before any cloud call', async () => {
    const ctx = await createTestContext();
    try {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      const res = await ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/providers/amazon-bedrock',
        headers: u.headers,
        payload: { api_key: JSON.stringify({ role_arn: 'arn:aws:iam::123456789012:role/neo-bedrock' }), location: 'us-east-1' },
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'oidc_issuer_not_configured');
    } finally {
      await ctx.close();
    }
  });
});
