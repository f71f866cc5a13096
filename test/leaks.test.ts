/**
 * No leaks, proven: distinctive secrets are planted — provider keys of every kind
 * (six API keys, a Vertex service account, Bedrock SigV4 keys and a Bedrock API key, an
 * Azure key), a Neo API key, a JWT and the internal token — every flow runs, including
 * failures and provider error bodies that echo the key, with logging at `trace`. Then
 * every captured log line, every response (headers and body), every audit row, every
 * table and the database file bytes (+ -wal, -shm) are searched: no planted secret
 * appears anywhere except in the one documented place, the credential of a resolve
 * response (CONTRACT.md section 8), and there only the resolved provider's own secret.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { ProviderName } from '../src/providers/types.ts';
import { azureKey, makeServiceAccount } from './fakes/cloud-providers.ts';
import { createTestContext, signTestJwt, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';

const MODEL_OF: Record<ProviderName, string> = {
  openai: 'gpt-5',
  anthropic: 'claude-sonnet-4-5',
  google: 'gemini-2-5-pro',
  xai: 'grok-4',
  openrouter: 'claude-sonnet-4-5',
  'vercel-gateway': 'gpt-5',
  'google-vertex': 'gemini-2-5-pro',
  'amazon-bedrock': 'claude-sonnet-4-5',
  'azure-foundry': 'gpt-5',
};

/** A unique token that appears nowhere else: the heart of every planted secret. */
const mark = () => `PLANT${randomBytes(9).toString('hex').toUpperCase()}Z`;

interface Planted {
  label: string;
  /** Strings none of which may appear outside the allowed place. */
  needles: string[];
}

for (const dialect of testDialects()) {
  describe(`no secret leaks anywhere [${dialect}]`, { timeout: 300_000 }, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    const planted: Planted[] = [];
    /** Every response seen, except the allowed resolve credentials (checked separately). */
    const responses: { label: string; text: string }[] = [];
    const plant = (label: string, ...needles: string[]) => planted.push({ label, needles: needles.filter((n) => n.length >= 12) });

    before(async () => {
      fakes = await startProviderFakes();
      ctx = await createTestContext({ dialect, env: { ...fakes.env, NEO_LOG_LEVEL: 'trace' } });
      plant('internal token', TEST_INTERNAL_TOKEN);
      plant('master key', TEST_MASTER_KEY, Buffer.from(TEST_MASTER_KEY, 'base64').toString('hex'));
      plant('JWT secret', TEST_JWT_SECRET);
    });
    after(async () => {
      await ctx.close();
      await fakes.close();
    });

    const record = (label: string, res: LightMyRequestResponse) => {
      responses.push({ label, text: `${JSON.stringify(res.headers)}\n${res.body}` });
      return res;
    };
    const call = async (label: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) =>
      record(label, await ctx.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) }));

    /** Credentials of every kind, each built around a planted mark; the fakes accept them. */
    function credentials(): Record<ProviderName, { api_key: string; location?: string }> {
      const k = (prefix: string) => {
        const m = mark();
        const key = `${prefix}${m}tail`;
        plant(`${prefix} key`, key, m);
        return key;
      };
      const sa = makeServiceAccount();
      fakes.google.addAccount(sa);
      const pemLines = sa.privateKeyPem.split('\n').filter((l) => l.length === 64);
      plant('vertex service account', sa.json, ...pemLines.slice(1, 4));
      const identity = fakes.aws.addIdentity({ temporary: true });
      const sigv4 = JSON.stringify(identity);
      plant('bedrock SigV4', sigv4, identity.secret_access_key, identity.session_token ?? '');
      const az = azureKey();
      fakes.azure.keys.add(az);
      plant('azure key', az);
      return {
        openai: { api_key: k('sk-proj-') },
        anthropic: { api_key: k('sk-ant-api03-') },
        google: { api_key: k('AIzaSy') },
        xai: { api_key: k('xai-') },
        openrouter: { api_key: k('sk-or-v1-') },
        'vercel-gateway': { api_key: k('vck_') },
        'google-vertex': { api_key: sa.json, location: 'us-central1' },
        'amazon-bedrock': { api_key: sigv4, location: fakes.aws.region },
        'azure-foundry': { api_key: az, location: fakes.azure.url },
      };
    }

    it('runs every flow, successes and failures, with the planted secrets', async () => {
      // A Neo API key and a JWT of the caller.
      const email = uniqueEmail('leak');
      const jwt = await signTestJwt(email);
      plant('JWT', jwt, jwt.split('.')[2]!);
      const bearer = { authorization: `Bearer ${jwt}` };
      const me = await call('first request (JIT user)', 'GET', '/api/v1/user', bearer);
      assert.equal(me.statusCode, 200);
      const user: TestUser = { id: me.json().id, email, sub: `sub|${email}`, headers: bearer, owner: { type: 'user', id: me.json().id } };
      await setByok(ctx, user.owner);
      const neoKey = await createApiKey(ctx, user);
      plant('Neo API key', neoKey, neoKey.slice(7));
      const viaKey = { 'x-api-key': neoKey };

      // Save and validate a key of every kind (through the JWT and the API key).
      const creds = credentials();
      for (const [p, cred] of Object.entries(creds) as [ProviderName, { api_key: string; location?: string }][]) {
        const v = await call(`validate ${p}`, 'POST', `/api/v1/byok/providers/${p}/validate`, viaKey, cred);
        assert.equal(v.statusCode, 200, `${p}: ${v.body}`);
        assert.equal(v.json().valid, true, `${p}: ${v.body}`);
        const s = await call(`save ${p}`, 'PATCH', `/api/v1/byok/providers/${p}`, p.length % 2 ? bearer : viaKey, { ...cred, display_name: `my ${p}` });
        assert.equal(s.statusCode, 200, `${p}: ${s.body}`);
      }
      await call('list', 'GET', '/api/v1/byok/providers', bearer);
      assert.equal((await call('mode byok', 'PATCH', '/api/v1/byok/mode', bearer, { mode: 'byok' })).statusCode, 200);
      await call('mode', 'GET', '/api/v1/byok/mode', viaKey);
      await call('profile', 'GET', '/api/v1/user', viaKey);
      await call('models', 'GET', '/api/v1/models', bearer);

      // Resolution: the one documented place a secret leaves, checked exactly.
      for (const [p, cred] of Object.entries(creds) as [ProviderName, { api_key: string }][]) {
        // Make this provider the only one serving the model, by resolving its own catalogue id.
        const res = await ctx.app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/resolve',
          headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
          payload: { user_id: user.id, model: MODEL_OF[p] },
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        const served = body.provider as ProviderName;
        assert.equal(body.credential.api_key, creds[served].api_key, 'the credential is exactly the saved secret');
        // Nothing else secret in it: no other provider's key, no token.
        const rest = res.body.replace(JSON.stringify(body.credential.api_key).slice(1, -1), '');
        responses.push({ label: `resolve ${p} (credential removed)`, text: `${JSON.stringify(res.headers)}\n${rest}` });
        void cred;
      }

      // Failures whose provider answers echo the key.
      const failing: [ProviderName, string][] = [
        ['openai', `sk-proj-${mark()}-rejected-x`],
        ['anthropic', `sk-ant-api03-${mark()}-rejected-x`],
        ['google', `AIzaSy${mark()}-rejected-x`],
        ['xai', `xai-${mark()}-rejected-x`],
        ['xai', `xai-${mark()}-blocked-x`],
        ['openrouter', `sk-or-v1-${mark()}-rejected-x`],
        ['vercel-gateway', `vck_${mark()}-rejected-x`],
        ['openai', `sk-proj-${mark()}-restricted-x`],
        ['openai', `sk-proj-${mark()}-billing-x`],
        ['anthropic', `sk-ant-api03-${mark()}-ratelimited-x`],
        ['google', `AIzaSy${mark()}-down-x`],
        ['openai', `sk-proj-${mark()}-redirect-x`],
      ];
      for (const [p, key] of failing) {
        plant(`failing ${p}`, key, key.slice(3, -4));
        await call(`validate failing ${p}`, 'POST', `/api/v1/byok/providers/${p}/validate`, bearer, { api_key: key });
        await call(`save failing ${p}`, 'PATCH', `/api/v1/byok/providers/${p}`, bearer, { api_key: key });
      }
      // Cloud credentials that the providers refuse, and malformed ones refused locally.
      const strangerSa = makeServiceAccount();
      plant('unknown service account', strangerSa.json, ...strangerSa.privateKeyPem.split('\n').filter((l) => l.length === 64).slice(1, 3));
      await call('vertex unknown account', 'PATCH', '/api/v1/byok/providers/google-vertex', bearer, { api_key: strangerSa.json, location: 'us-central1' });
      const badSaJson = JSON.stringify({ type: 'service_account', private_key: strangerSa.privateKeyPem });
      await call('vertex malformed', 'PATCH', '/api/v1/byok/providers/google-vertex', bearer, { api_key: badSaJson });
      await call('vertex not json', 'PATCH', '/api/v1/byok/providers/google-vertex', bearer, { api_key: `{"private_key": "${mark()}` });
      const fakeAws = { access_key_id: 'AKIA' + randomBytes(8).toString('hex').toUpperCase(), secret_access_key: mark() + mark() };
      plant('unknown SigV4', fakeAws.secret_access_key);
      await call('bedrock unknown', 'PATCH', '/api/v1/byok/providers/amazon-bedrock', bearer, { api_key: JSON.stringify(fakeAws), location: fakes.aws.region });
      await call('bedrock bad region', 'PATCH', '/api/v1/byok/providers/amazon-bedrock', bearer, { api_key: JSON.stringify(fakeAws), location: 'mars-1' });
      const badAz = `${mark()}${mark()}`.slice(0, 32);
      plant('unknown azure key', badAz);
      await call('azure wrong key', 'PATCH', '/api/v1/byok/providers/azure-foundry', bearer, { api_key: badAz, location: fakes.azure.url });
      await call('azure bad endpoint', 'PATCH', '/api/v1/byok/providers/azure-foundry', bearer, { api_key: badAz, location: 'https://169.254.169.254/' });
      await call('unknown field', 'PATCH', '/api/v1/byok/providers/openai', bearer, { api_key: creds.openai.api_key, secret: creds.openai.api_key });
      await call('too long', 'PATCH', '/api/v1/byok/providers/openai', bearer, { api_key: creds.openai.api_key.repeat(2000) });
      await call('wrong type', 'PATCH', '/api/v1/byok/providers/openai', bearer, { api_key: [creds.openai.api_key] });

      // Authentication failures carrying the planted credentials.
      const expired = await signTestJwt(email, { ttlSeconds: -60 });
      plant('expired JWT', expired, expired.split('.')[2]!);
      await call('expired jwt', 'GET', '/api/v1/byok/mode', { authorization: `Bearer ${expired}` });
      const forged = await signTestJwt(email, { secret: `forged-${mark()}-0123456789abcdefghijklmnop` });
      plant('forged JWT', forged);
      await call('forged jwt', 'GET', '/api/v1/byok/mode', { authorization: `Bearer ${forged}` });
      await call('jwt as api key', 'GET', '/api/v1/byok/mode', { 'x-api-key': jwt });
      await call('api key as bearer', 'GET', '/api/v1/byok/mode', { authorization: `Bearer ${neoKey}` });
      await call('user token on internal', 'POST', '/internal/v1/credentials/resolve', bearer, { user_id: user.id, model: 'auto' });
      await call('internal token on user route', 'GET', '/api/v1/byok/mode', { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` });
      await call('bad internal token', 'POST', '/internal/v1/credentials/resolve', { authorization: `Bearer ${TEST_INTERNAL_TOKEN}x` }, { user_id: user.id, model: 'auto' });
      await call('resolve unknown user', 'POST', '/internal/v1/credentials/resolve', { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` }, { user_id: '00000000-0000-7000-8000-000000000000', model: 'auto' });
      await call('resolve unknown model', 'POST', '/internal/v1/credentials/resolve', { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` }, { user_id: user.id, model: 'nope' });

      // API key lifecycle: the planted key is rotated away, then refused.
      await call('apikey masked', 'GET', '/api/v1/user/apikey', bearer);
      const rotated = await call('apikey rotate', 'POST', '/api/v1/user/apikey/rotate', viaKey);
      assert.equal(rotated.statusCode, 200);
      assert.equal((await call('old api key refused', 'GET', '/api/v1/byok/mode', viaKey)).statusCode, 401);

      // Teams: the caller becomes a team admin; invitations.
      const other = await createUser(ctx, uniqueEmail('leak-member'));
      await call('create team', 'POST', '/api/v1/teams', bearer, { name: 'Leak team' });
      await call('invite', 'POST', '/api/v1/teams/members/invite', bearer, { email: other.email, role: 'member' });
      await call('members', 'GET', '/api/v1/teams/members', bearer);

      // Deletions, the audit log, metrics, docs.
      await call('delete openai', 'DELETE', '/api/v1/byok/providers/openai', bearer);
      await call('audit', 'GET', '/api/v1/byok/audit?limit=200&offset=0', bearer);
      await call('metrics', 'GET', '/metrics', {});
      await call('openapi', 'GET', '/api/openapi.json', {});

      // A tampered key: the 500 path logs owner and provider, never the secret.
      await ctx.database.db.updateTable('provider_keys').set({ ciphertext: 'v1.x.AAAA' }).where('provider', '=', 'anthropic').execute();
      ctx.app.services.bus.publish('owner', `user:${user.id}`);
      await call('solo list after tamper', 'GET', '/api/v1/byok/providers', bearer);
      assert.ok(planted.length >= 20);
    });

    function leaksIn(text: string): string[] {
      const found: string[] = [];
      for (const p of planted) for (const n of p.needles) if (text.includes(n)) found.push(`${p.label} (${n.slice(0, 12)}…)`);
      return found;
    }

    it('no log line contains a planted secret', () => {
      assert.ok(ctx.logs.length > 50, `logs were captured (${ctx.logs.length} lines)`);
      const hits = ctx.logs.flatMap((line, i) => leaksIn(line).map((l) => `line ${i}: ${l}: ${line.slice(0, 200)}`));
      assert.deepEqual(hits, []);
    });

    it('no response contains a planted secret (outside the resolve credential)', () => {
      assert.ok(responses.length > 40);
      const hits = responses.flatMap((r) => leaksIn(r.text).map((l) => `${r.label}: ${l}`));
      assert.deepEqual(hits, []);
    });

    it('no audit row and no table contains a planted secret', async () => {
      const audit = await ctx.database.db.selectFrom('audit_events').selectAll().execute();
      assert.ok(audit.length >= 10, 'the flows were audited');
      assert.deepEqual(leaksIn(JSON.stringify(audit)), []);
      for (const table of ['users', 'teams', 'team_members', 'features', 'api_keys', 'byok_settings', 'data_keys', 'provider_keys', 'audit_events', 'meta'] as const) {
        const rows = await ctx.database.db.selectFrom(table).selectAll().execute();
        assert.deepEqual(leaksIn(JSON.stringify(rows)), [], `table ${table}`);
      }
    });

    it('the database files (and the data dir) never hold a planted secret in plain bytes', { skip: dialect !== 'sqlite' }, () => {
      const files = readdirSync(ctx.dataDir).map((f) => join(ctx.dataDir, f));
      assert.ok(files.some((f) => f.endsWith('.db')), 'the SQLite file is in the data dir');
      assert.ok(
        files.some((f) => f.endsWith('-wal')),
        'the WAL is searched too',
      );
      for (const f of files) {
        if (!existsSync(f)) continue;
        const bytes = readFileSync(f);
        for (const p of planted) {
          for (const n of p.needles) {
            assert.equal(bytes.indexOf(Buffer.from(n, 'utf8')), -1, `${f} contains ${p.label}`);
            // Also not as UTF-16 (e.g. a driver writing wide strings).
            assert.equal(bytes.indexOf(Buffer.from(n, 'utf16le')), -1, `${f} contains ${p.label} (UTF-16)`);
          }
        }
      }
    });
  });
}
