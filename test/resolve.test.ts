/**
 * POST /internal/v1/credentials/resolve (CONTRACT.md section 8), against the provider
 * fakes: keys are saved through the real PATCH endpoint, so the credential the runtime
 * gets back is exactly what the user pasted, after a real encryption round trip.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ProviderName } from '../src/providers/types.ts';
import { countDatabaseReads, createTestContext, TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import {
  acceptedCredential,
  saveKey,
  setListedModels,
  setMode,
  startProviderFakes,
  type Credential,
  type ProviderFakes,
} from './helpers/model-fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';

const INTERNAL = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };
const URL_ = '/internal/v1/credentials/resolve';

interface Resolved {
  mode: string;
  resource_type: string;
  resource_id: string;
  neo_model_id: string;
  provider: string;
  provider_model_id: string;
  credential: { api_key: string; location: string | null; kind?: string; expires_at?: string | null } | null;
  credential_id: string | null;
  credential_version: number | null;
}

for (const dialect of testDialects()) {
  describe(`credential resolution [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    /** Every secret saved in this suite (none may reach a log line). */
    const secrets: string[] = [];

    before(async () => {
      fakes = await startProviderFakes();
      ctx = await createTestContext({ dialect, env: fakes.env });
    });
    after(async () => {
      await ctx.close();
      await fakes.close();
    });

    const resolve = (user_id: string, model: string, headers: Record<string, string> = INTERNAL) =>
      ctx.app.inject({ method: 'POST', url: URL_, headers, payload: { user_id, model } });

    async function resolveOk(user: TestUser, model: string): Promise<Resolved> {
      const res = await resolve(user.id, model);
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      assert.equal(res.headers['cache-control'], 'no-store');
      return res.json();
    }

    /** A solo user with the flag on and these keys saved (mode left as given). */
    async function soloWith(providers: ProviderName[], mode: 'neo' | 'byok' = 'byok'): Promise<{ user: TestUser; creds: Map<ProviderName, Credential> }> {
      const user = await createUser(ctx, uniqueEmail('resolve'));
      await setByok(ctx, user.owner);
      const creds = new Map<ProviderName, Credential>();
      for (const p of providers) {
        const cred = acceptedCredential(fakes, p);
        await saveKey(ctx, user, p, cred);
        secrets.push(cred.api_key);
        creds.set(p, cred);
      }
      if (mode === 'byok') await setMode(ctx, user, 'byok');
      return { user, creds };
    }

    describe('neo mode', () => {
      it('answers the model, its first-party provider and no credential', async () => {
        const user = await createUser(ctx, uniqueEmail('neo'));
        const r = await resolveOk(user, 'claude-sonnet-4-5');
        assert.deepEqual(r, {
          mode: 'neo',
          resource_type: 'user',
          resource_id: user.id,
          neo_model_id: 'claude-sonnet-4-5',
          provider: 'anthropic',
          provider_model_id: 'claude-sonnet-4-5-20250929',
          credential: null,
          credential_id: null,
          credential_version: null,
        });
        const g = await resolveOk(user, 'gemini-2-5-pro');
        assert.equal(g.provider, 'google');
        assert.equal(g.provider_model_id, 'gemini-2.5-pro');
      });

      it('serves every catalogue model even when the owner has keys but is in neo mode', async () => {
        const { user } = await soloWith(['openai'], 'neo');
        const r = await resolveOk(user, 'grok-4');
        assert.equal(r.mode, 'neo');
        assert.equal(r.provider, 'xai');
        assert.equal(r.credential, null);
      });

      it('treats an owner whose byok flag is off as neo mode, whatever is stored', async () => {
        const { user } = await soloWith(['anthropic'], 'byok');
        assert.equal((await resolveOk(user, 'claude-sonnet-4-5')).mode, 'byok');
        await setByok(ctx, user.owner, false);
        const r = await resolveOk(user, 'claude-sonnet-4-5');
        assert.equal(r.mode, 'neo');
        assert.equal(r.credential, null);
        // A model no key serves is fine too: the platform's key applies.
        assert.equal((await resolveOk(user, 'gpt-5')).mode, 'neo');
        await setByok(ctx, user.owner, true);
        assert.equal((await resolveOk(user, 'claude-sonnet-4-5')).mode, 'byok');
      });

      it('auto picks the first model of the preference order', async () => {
        const user = await createUser(ctx, uniqueEmail('neo-auto'));
        const r = await resolveOk(user, 'auto');
        assert.equal(r.neo_model_id, 'claude-sonnet-4-5');
        assert.equal(r.provider, 'anthropic');
      });
    });

    describe('byok mode', () => {
      it("answers the owner's decrypted key, the provider and the provider model id", async () => {
        const { user, creds } = await soloWith(['anthropic', 'openai']);
        const listed = (await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers })).json<{
          provider_keys: { id: string; provider: string; credential_version: number }[];
        }>().provider_keys;
        const anthropicKey = listed.find((k) => k.provider === 'anthropic')!;
        const r = await resolveOk(user, 'claude-sonnet-4-5');
        assert.deepEqual(r, {
          mode: 'byok',
          resource_type: 'user',
          resource_id: user.id,
          neo_model_id: 'claude-sonnet-4-5',
          provider: 'anthropic',
          provider_model_id: 'claude-sonnet-4-5-20250929',
          credential: { api_key: creds.get('anthropic')!.api_key, location: null, kind: 'api_key', expires_at: null },
          credential_id: anthropicKey.id,
          credential_version: anthropicKey.credential_version,
        });
        assert.equal(anthropicKey.credential_version, 1);
        const g = await resolveOk(user, 'gpt-4-1');
        assert.equal(g.provider, 'openai');
        assert.equal(g.provider_model_id, 'gpt-4.1');
        assert.equal(g.credential?.api_key, creds.get('openai')!.api_key);
      });

      it('refuses a model no key serves with 409 byok_model_unavailable (no silent fallback)', async () => {
        const { user } = await soloWith(['anthropic']);
        const res = await resolve(user.id, 'gpt-5');
        const body = assertErrorResponse(res, 409, 'byok_model_unavailable');
        assert.match(String(body.message), /gpt-5/);
        assert.match(String(body.message), /openai/);
        // Listed by the provider but not by this key: the fake's Anthropic list has no Opus 4.
        const res2 = await resolve(user.id, 'claude-opus-4');
        const body2 = assertErrorResponse(res2, 409, 'byok_model_unavailable');
        assert.match(String(body2.message), /model list/);
      });

      it('prefers the first-party provider, then clouds, then gateways, deterministically', async () => {
        const { user, creds } = await soloWith(['openrouter', 'vercel-gateway', 'amazon-bedrock', 'anthropic']);
        const first = await resolveOk(user, 'claude-sonnet-4-5');
        assert.equal(first.provider, 'anthropic');
        for (let i = 0; i < 3; i++) assert.equal((await resolveOk(user, 'claude-sonnet-4-5')).provider, 'anthropic');

        const del = async (p: ProviderName) => {
          const res = await ctx.app.inject({ method: 'DELETE', url: `/api/v1/byok/providers/${p}`, headers: user.headers });
          assert.equal(res.statusCode, 200, res.body);
        };
        await del('anthropic');
        const bedrock = await resolveOk(user, 'claude-sonnet-4-5');
        assert.equal(bedrock.provider, 'amazon-bedrock');
        // The key's region (us-east-1) selects the us. cross-region inference profile.
        assert.equal(bedrock.provider_model_id, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0');
        assert.deepEqual(bedrock.credential, { api_key: creds.get('amazon-bedrock')!.api_key, location: fakes.aws.region, kind: 'aws_access_keys', expires_at: null });

        await del('amazon-bedrock');
        const or = await resolveOk(user, 'claude-sonnet-4-5');
        assert.equal(or.provider, 'openrouter');
        assert.equal(or.provider_model_id, 'anthropic/claude-sonnet-4.5');
        assert.equal(or.credential?.api_key, creds.get('openrouter')!.api_key);

        await del('openrouter');
        const vg = await resolveOk(user, 'claude-sonnet-4-5');
        assert.equal(vg.provider, 'vercel-gateway');
        assert.equal(vg.credential?.api_key, creds.get('vercel-gateway')!.api_key);
      });

      it('auto picks the best model the keys serve', async () => {
        const { user: xaiOnly } = await soloWith(['xai']);
        const a = await resolveOk(xaiOnly, 'auto');
        assert.equal(a.neo_model_id, 'grok-4');
        assert.equal(a.provider, 'xai');
        assert.ok(a.credential);

        const { user: google } = await soloWith(['google', 'xai']);
        assert.equal((await resolveOk(google, 'auto')).neo_model_id, 'gemini-2-5-pro');

        const { user: openai } = await soloWith(['openai', 'google']);
        assert.equal((await resolveOk(openai, 'auto')).neo_model_id, 'gpt-5');

        // Keys that list no catalogue model: auto has nothing to pick → 409.
        const { user: none } = await soloWith(['openai']);
        await setListedModels(ctx, none.owner, 'openai', ['text-embedding-3-large', 'whisper-1']);
        assertErrorResponse(await resolve(none.id, 'auto'), 409, 'byok_model_unavailable');
      });

      it('reflects a replaced key, a changed listing, a deleted key and a mode change on the next call', async () => {
        const { user } = await soloWith(['openai', 'xai']);
        const before = await resolveOk(user, 'gpt-5');
        secrets.push(before.credential!.api_key);

        const replacement = acceptedCredential(fakes, 'openai');
        secrets.push(replacement.api_key);
        await saveKey(ctx, user, 'openai', replacement);
        const after = await resolveOk(user, 'gpt-5');
        assert.equal(after.credential?.api_key, replacement.api_key);
        assert.notEqual(after.credential?.api_key, before.credential?.api_key);

        await setListedModels(ctx, user.owner, 'openai', ['gpt-5-2025-08-07']);
        assert.equal((await resolveOk(user, 'gpt-5')).provider_model_id, 'gpt-5-2025-08-07');
        assertErrorResponse(await resolve(user.id, 'gpt-4-1'), 409, 'byok_model_unavailable');

        const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/openai', headers: user.headers });
        assert.equal(del.statusCode, 200);
        assertErrorResponse(await resolve(user.id, 'gpt-5'), 409, 'byok_model_unavailable');

        await setMode(ctx, user, 'neo');
        const neo = await resolveOk(user, 'gpt-5');
        assert.equal(neo.mode, 'neo');
        assert.equal(neo.credential, null);
      });

      it('answers the auto-switched neo mode once the last key is deleted', async () => {
        const { user } = await soloWith(['xai']);
        assert.equal((await resolveOk(user, 'grok-4')).mode, 'byok');
        const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/xai', headers: user.headers });
        assert.equal(del.json().auto_switched, true);
        const r = await resolveOk(user, 'grok-4');
        assert.equal(r.mode, 'neo');
        assert.equal(r.credential, null);
      });
    });

    describe('the credential is exactly what was saved', () => {
      const cases: { name: string; provider: ProviderName; variant?: 'sigv4' | 'bearer'; model: string; providerModelId: string }[] = [
        { name: 'an API key', provider: 'openai', model: 'gpt-5', providerModelId: 'gpt-5' },
        { name: 'a Google API key', provider: 'google', model: 'gemini-2-5-flash', providerModelId: 'gemini-2.5-flash' },
        { name: 'an xAI key', provider: 'xai', model: 'grok-3-mini', providerModelId: 'grok-3-mini' },
        { name: 'an OpenRouter key', provider: 'openrouter', model: 'gpt-5', providerModelId: 'openai/gpt-5' },
        { name: 'a Vercel AI Gateway key', provider: 'vercel-gateway', model: 'grok-4', providerModelId: 'xai/grok-4' },
        { name: 'a service-account JSON with its region', provider: 'google-vertex', model: 'gemini-2-5-pro', providerModelId: 'gemini-2.5-pro' },
        {
          name: 'a SigV4 JSON with a session token and its region',
          provider: 'amazon-bedrock',
          variant: 'sigv4',
          model: 'claude-sonnet-4-5',
          providerModelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
        },
        {
          name: 'a Bedrock API key with its region',
          provider: 'amazon-bedrock',
          variant: 'bearer',
          model: 'claude-sonnet-4-5',
          providerModelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
        },
        { name: 'an Azure key with its endpoint', provider: 'azure-foundry', model: 'gpt-4-1', providerModelId: 'gpt-4.1' },
      ];
      for (const c of cases) {
        it(`${c.provider}: ${c.name}`, async () => {
          const user = await createUser(ctx, uniqueEmail('exact'));
          await setByok(ctx, user.owner);
          const cred = acceptedCredential(fakes, c.provider, c.variant);
          secrets.push(cred.api_key);
          const saved = await saveKey(ctx, user, c.provider, cred);
          await setMode(ctx, user, 'byok');
          const r = await resolveOk(user, c.model);
          assert.equal(r.provider, c.provider);
          assert.equal(r.provider_model_id, c.providerModelId);
          assert.equal(r.credential?.api_key, cred.api_key, 'byte-for-byte the saved secret');
          assert.equal(r.credential?.location, (saved.provider_key as { location: string | null }).location);
          if (c.provider === 'google-vertex') assert.equal(r.credential?.location, 'us-central1');
          if (c.provider === 'amazon-bedrock') {
            assert.equal(r.credential?.location, fakes.aws.region);
            if (c.variant === 'sigv4') assert.ok(JSON.parse(r.credential?.api_key ?? '{}').session_token, 'session token kept');
          }
          if (c.provider === 'azure-foundry') assert.equal(r.credential?.location, fakes.azure.url);
          if (['openai', 'google', 'xai', 'openrouter', 'vercel-gateway'].includes(c.provider)) assert.equal(r.credential?.location, null);
        });
      }
    });

    describe('teams', () => {
      it("answers every member the team's mode and keys, and follows membership changes", async () => {
        const admin = await createUser(ctx, uniqueEmail('t-admin'));
        const member = await createUser(ctx, uniqueEmail('t-member'));
        const viewer = await createUser(ctx, uniqueEmail('t-viewer'));
        // The member's own solo key stays inactive while in the team.
        await setByok(ctx, member.owner);
        const own = acceptedCredential(fakes, 'openai');
        secrets.push(own.api_key);
        await saveKey(ctx, member, 'openai', own);
        await setMode(ctx, member, 'byok');

        const team = await createTeam(ctx, [
          { user: admin, role: 'admin' },
          { user: member, role: 'member' },
          { user: viewer, role: 'viewer' },
        ]);
        await setByok(ctx, team.owner);
        const cred = acceptedCredential(fakes, 'anthropic');
        secrets.push(cred.api_key);
        await saveKey(ctx, admin, 'anthropic', cred);

        // Team in neo mode: members get neo although the member's own settings say byok.
        const neo = await resolveOk(member, 'gpt-5');
        assert.equal(neo.mode, 'neo');
        assert.equal(neo.resource_type, 'team');
        assert.equal(neo.resource_id, team.id);

        await setMode(ctx, admin, 'byok');
        for (const u of [admin, member, viewer]) {
          const r = await resolveOk(u, 'claude-haiku-4-5');
          assert.equal(r.mode, 'byok');
          assert.equal(r.resource_type, 'team');
          assert.equal(r.resource_id, team.id);
          assert.equal(r.provider, 'anthropic');
          assert.equal(r.credential?.api_key, cred.api_key);
          assertErrorResponse(await resolve(u.id, 'gpt-5'), 409, 'byok_model_unavailable');
        }

        // The member leaves: their own (solo) settings apply again on the next call.
        const leave = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/teams/members', headers: member.headers, payload: { email: member.email } });
        assert.equal(leave.statusCode, 200, leave.body);
        const solo = await resolveOk(member, 'gpt-5');
        assert.equal(solo.resource_type, 'user');
        assert.equal(solo.resource_id, member.id);
        assert.equal(solo.credential?.api_key, own.api_key);
      });
    });

    describe('errors', () => {
      it('an unknown model → 404 not_exists', async () => {
        const user = await createUser(ctx, uniqueEmail('err'));
        for (const model of ['gpt-6', 'claude-sonnet-4-5-20250929', 'anthropic/claude-sonnet-4.5', 'AUTO']) {
          assertErrorResponse(await resolve(user.id, model), 404, 'not_exists', model);
        }
      });

      it('an unknown user → 404 not_exists, a malformed one → 400', async () => {
        assertErrorResponse(await resolve(randomUUID(), 'gpt-5'), 404, 'not_exists');
        assertErrorResponse(await resolve('not-a-uuid', 'gpt-5'), 400, 'invalid_request');
      });

      it('a malformed body → 400 invalid_request', async () => {
        const user = await createUser(ctx, uniqueEmail('err'));
        const send = (payload: unknown) => ctx.app.inject({ method: 'POST', url: URL_, headers: INTERNAL, payload: payload as object });
        assertErrorResponse(await send({ user_id: user.id }), 400, 'invalid_request', 'no model');
        assertErrorResponse(await send({ model: 'gpt-5' }), 400, 'invalid_request', 'no user_id');
        assertErrorResponse(await send({ user_id: user.id, model: '' }), 400, 'invalid_request', 'empty model');
        assertErrorResponse(await send({ user_id: user.id, model: 5 }), 400, 'invalid_request', 'numeric model');
        assertErrorResponse(await send({ user_id: user.id, model: 'gpt-5', extra: 1 }), 400, 'invalid_request', 'unknown field');
      });

      it('a missing or wrong internal token → 401', async () => {
        const user = await createUser(ctx, uniqueEmail('err'));
        assertErrorResponse(await resolve(user.id, 'gpt-5', {}), 401, 'unauthorized', 'no token');
        assertErrorResponse(await resolve(user.id, 'gpt-5', { authorization: 'Bearer wrong-token-0123456789abcdefghijklmnop' }), 401, 'unauthorized', 'wrong token');
        assertErrorResponse(await resolve(user.id, 'gpt-5', { authorization: `Bearer ${TEST_INTERNAL_TOKEN}x` }), 401, 'unauthorized', 'token + 1 char');
        assertErrorResponse(await resolve(user.id, 'gpt-5', { authorization: `Bearer ${TEST_INTERNAL_TOKEN.slice(0, -1)}` }), 401, 'unauthorized', 'token - 1 char');
        assertErrorResponse(await resolve(user.id, 'gpt-5', { authorization: TEST_INTERNAL_TOKEN }), 401, 'unauthorized', 'token without Bearer');
      });

      it("a user's JWT or Neo API key instead of the internal token → 401", async () => {
        const user = await createUser(ctx, uniqueEmail('err'));
        assertErrorResponse(await resolve(user.id, 'gpt-5', user.headers), 401, 'unauthorized', 'user JWT');
        const admin = await createUser(ctx, uniqueEmail('err-admin'), { role: 'admin' });
        assertErrorResponse(await resolve(user.id, 'gpt-5', admin.headers), 401, 'unauthorized', 'platform admin JWT');
        const key = await createApiKey(ctx, user);
        assertErrorResponse(await resolve(user.id, 'gpt-5', { 'x-api-key': key }), 401, 'unauthorized', 'API key');
        // Beside the internal token a user credential changes nothing.
        assert.equal((await resolve(user.id, 'gpt-5', { 'x-api-key': key, ...INTERNAL })).statusCode, 200);
      });
    });

    describe('cost and secrecy', () => {
      it('a warm resolve reads nothing from the database and makes no provider call', async () => {
        const { user } = await soloWith(['anthropic', 'openai']);
        await resolveOk(user, 'claude-sonnet-4-5'); // warm every cache
        const providerCalls = fakes.keys.requests.length;
        const reads = await countDatabaseReads(ctx, async () => {
          for (let i = 0; i < 5; i++) await resolveOk(user, i % 2 ? 'gpt-5' : 'claude-sonnet-4-5');
        });
        assert.equal(reads, 0, 'no database read on a warm cache');
        assert.equal(fakes.keys.requests.length, providerCalls, 'no provider call');
      });

      it('answers a warm resolve synchronously, and a change through a load on the next call', async () => {
        const { user } = await soloWith(['openai']);
        const resolver = ctx.app.services.resolver;
        await resolveOk(user, 'gpt-5'); // warm every cache
        const warm = resolver.resolveNow(user.id, 'gpt-5');
        assert.ok(!(warm instanceof Promise), 'a warm resolve is the answer itself, not a promise');
        assert.equal(warm.credential?.api_key, (await resolveOk(user, 'gpt-5')).credential?.api_key);

        // A change drops the cached state: the next call loads (a promise) and sees it.
        const replacement = acceptedCredential(fakes, 'openai');
        secrets.push(replacement.api_key);
        await saveKey(ctx, user, 'openai', replacement);
        const next = resolver.resolveNow(user.id, 'gpt-5');
        assert.ok(next instanceof Promise, 'the first call after a change loads');
        assert.equal((await next).credential?.api_key, replacement.api_key);
        const again = resolver.resolveNow(user.id, 'gpt-5');
        assert.ok(!(again instanceof Promise));
        assert.equal(again.credential?.api_key, replacement.api_key);

        // Errors of the synchronous path are thrown, as the route's errors (404).
        assert.throws(() => resolver.resolveNow(user.id, 'no-such-model'), { code: 'not_exists' });
      });

      it('counts each call in metrics by provider, mode and outcome, never per owner or with the secret', async () => {
        const { user, creds } = await soloWith(['xai']);
        await resolveOk(user, 'grok-4');
        await resolveOk(user, 'grok-4');
        assertErrorResponse(await resolve(user.id, 'gpt-5'), 409, 'byok_model_unavailable');
        const metrics = (await ctx.app.inject({ method: 'GET', url: '/metrics', headers: INTERNAL })).body;
        const line = metrics
          .split('\n')
          .find((l) => l.startsWith('neo_credential_resolves_total{') && l.includes('provider="xai"') && l.includes('mode="byok"') && l.includes('outcome="resolved"'));
        assert.ok(line, 'a resolved series for xai in byok mode');
        assert.match(line, /owner_type="user"/);
        assert.ok(!metrics.includes(user.id), 'no owner id in any metric');
        assert.ok(metrics.includes('owner_type="user",provider="",mode="byok",outcome="model_unavailable"'), 'the 409 is counted');
        assert.ok(!metrics.includes(creds.get('xai')!.api_key));
        // The owner is in the request's log line instead.
        const logged = ctx.logs.filter((l) => l.includes('/internal/v1/credentials/resolve') && l.includes(user.id));
        assert.ok(logged.some((l) => (JSON.parse(l) as { owner_id?: string }).owner_id === user.id), 'the resolve log line names the owner');
      });

      it('keeps the number of metric series constant however many owners resolve', async () => {
        const series = async () =>
          (await ctx.app.inject({ method: 'GET', url: '/metrics', headers: INTERNAL })).body
            .split('\n')
            .filter((l) => l.startsWith('neo_credential_resolves_total{')).length;
        const first = await createUser(ctx, uniqueEmail('series'));
        await resolveOk(first, 'gpt-5');
        const before = await series();
        for (let i = 0; i < 25; i++) {
          const u = await createUser(ctx, uniqueEmail('series'));
          await resolveOk(u, 'gpt-5');
          assertErrorResponse(await resolve(u.id, 'no-such-model'), 404, 'not_exists');
        }
        const afterMany = await series();
        // Series are per (owner type, provider, mode, outcome): 25 new owners add at most the 404's series.
        assert.ok(afterMany <= before + 1, `series grew from ${before} to ${afterMany} for 25 owners`);
      });

      it('never writes a saved secret to the logs', () => {
        assert.ok(secrets.length >= 10, 'the suite saved secrets');
        const logs = ctx.logs.join('');
        assert.ok(logs.includes('/internal/v1/credentials/resolve'), 'the resolve requests were logged');
        for (const s of secrets) {
          assert.ok(!logs.includes(s), 'a saved secret appears in the logs');
          // Nor the secret parts of a JSON credential (private key lines, AWS secret and session token).
          if (s.startsWith('{')) {
            const parsed = JSON.parse(s) as Record<string, string>;
            for (const field of ['private_key', 'private_key_id', 'secret_access_key', 'session_token']) {
              for (const part of (parsed[field] ?? '').split('\n')) {
                if (part.length >= 16) assert.ok(!logs.includes(part), `${field} appears in the logs`);
              }
            }
          }
        }
      });
    });
  });
}
