/** GET /api/v1/models and GET /api/v1/models/{id} (CONTRACT.md section 5), in both modes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AUTO_PREFERENCE, CATALOGUE } from '../src/models/catalogue.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, saveKey, setListedModels, setMode, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';
import { assertErrorResponse, securitySuite } from './helpers/security.ts';

interface ModelBody {
  id: string;
  name: string;
  family: string;
  context_window: number;
  capabilities: { tools: boolean; vision: boolean; reasoning: boolean };
  available: boolean;
  served_by: string | null;
  reason: string | null;
  resolves_to?: string | null;
}

for (const dialect of testDialects()) {
  describe(`models endpoints [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;

    before(async () => {
      fakes = await startProviderFakes();
      ctx = await createTestContext({ dialect, env: fakes.env });
    });
    after(async () => {
      await ctx.close();
      await fakes.close();
    });

    async function list(user: TestUser | { headers: Record<string, string> }): Promise<Map<string, ModelBody>> {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/models', headers: user.headers });
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      const body = res.json<{ data: ModelBody[] }>();
      assert.deepEqual(Object.keys(body), ['data']);
      return new Map(body.data.map((m) => [m.id, m] as const));
    }

    async function one(user: TestUser, id: string): Promise<ModelBody> {
      const res = await ctx.app.inject({ method: 'GET', url: `/api/v1/models/${id}`, headers: user.headers });
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      return res.json();
    }

    async function byokSolo(providers: ProviderName[]): Promise<TestUser> {
      const user = await createUser(ctx, uniqueEmail('models'));
      await setByok(ctx, user.owner);
      for (const p of providers) await saveKey(ctx, user, p, acceptedCredential(fakes, p));
      await setMode(ctx, user, 'byok');
      return user;
    }

    describe('neo mode', () => {
      it('lists auto first, then the whole catalogue, every model available from neo', async () => {
        const user = await createUser(ctx, uniqueEmail('models'));
        const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/models', headers: user.headers });
        const data = res.json<{ data: ModelBody[] }>().data;
        assert.deepEqual(
          data.map((m) => m.id),
          ['auto', ...CATALOGUE.map((m) => m.id)],
        );
        for (const m of data.slice(1)) {
          assert.equal(m.available, true, m.id);
          assert.equal(m.served_by, 'neo', m.id);
          assert.equal(m.reason, null, m.id);
          assert.equal('resolves_to' in m, false, 'only auto has resolves_to');
        }
        assert.deepEqual(data[0], {
          id: 'auto',
          name: 'Auto (best available model)',
          family: 'auto',
          context_window: 200_000,
          capabilities: { tools: true, vision: true, reasoning: true },
          available: true,
          served_by: 'neo',
          reason: null,
          resolves_to: 'claude-sonnet-4-5',
        });
      });

      it('describes each model with the catalogue fields', async () => {
        const user = await createUser(ctx, uniqueEmail('models'));
        assert.deepEqual(await one(user, 'gpt-4-1'), {
          id: 'gpt-4-1',
          name: 'GPT-4.1',
          family: 'gpt',
          context_window: 1_047_576,
          capabilities: { tools: true, vision: true, reasoning: false },
          available: true,
          served_by: 'neo',
          reason: null,
        });
        const grok = await one(user, 'grok-3-mini');
        assert.equal(grok.family, 'grok');
        assert.deepEqual(grok.capabilities, { tools: true, vision: false, reasoning: true });
      });

      it('is the neo view while the flag is off, even with a stored byok mode', async () => {
        const user = await byokSolo(['openai']);
        assert.equal((await list(user)).get('claude-sonnet-4-5')?.available, false);
        await setByok(ctx, user.owner, false);
        const models = await list(user);
        assert.equal(models.get('claude-sonnet-4-5')?.available, true);
        assert.equal(models.get('claude-sonnet-4-5')?.served_by, 'neo');
      });

      it('an unknown id → 404 not_exists', async () => {
        const user = await createUser(ctx, uniqueEmail('models'));
        for (const id of ['gpt-6', 'claude-sonnet-4-5-20250929', 'AUTO', 'x'.repeat(200)]) {
          const res = await ctx.app.inject({ method: 'GET', url: `/api/v1/models/${id}`, headers: user.headers });
          assertErrorResponse(res, 404, 'not_exists', id);
        }
      });
    });

    describe('byok mode', () => {
      it('makes available only what the keys serve, with the serving provider and reasons', async () => {
        const user = await byokSolo(['openai', 'google']);
        const models = await list(user);
        assert.equal(models.get('gpt-5')?.available, true);
        assert.equal(models.get('gpt-5')?.served_by, 'openai');
        assert.equal(models.get('gpt-5')?.reason, null);
        assert.equal(models.get('gemini-2-5-pro')?.served_by, 'google');
        // No key of a provider that serves Claude.
        const claude = models.get('claude-sonnet-4-5')!;
        assert.equal(claude.available, false);
        assert.equal(claude.served_by, null);
        assert.match(claude.reason!, /no provider key of your account serves claude-sonnet-4-5/);
        assert.match(claude.reason!, /anthropic/);
        // A Google key exists but its listing lacks Flash-Lite.
        const lite = models.get('gemini-2-5-flash-lite')!;
        assert.equal(lite.available, false);
        assert.match(lite.reason!, /not in the model list of your account's google key/);
        // Exactly the served models are available.
        const available = [...models.values()].filter((m) => m.available && m.id !== 'auto').map((m) => m.id);
        assert.deepEqual(available, ['gpt-5', 'gpt-5-mini', 'gpt-4-1', 'gpt-4o', 'o3', 'gemini-2-5-pro', 'gemini-2-5-flash']);
      });

      it('names the preferred provider when several keys serve a model', async () => {
        const user = await byokSolo(['openrouter', 'vercel-gateway', 'amazon-bedrock', 'anthropic']);
        const models = await list(user);
        assert.equal(models.get('claude-sonnet-4-5')?.served_by, 'anthropic');
        assert.equal(models.get('gpt-5')?.served_by, 'openrouter');
        assert.equal(models.get('grok-4')?.served_by, 'openrouter');
        assert.equal(models.get('gemini-2-5-flash')?.served_by, 'vercel-gateway');
        await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/anthropic', headers: user.headers });
        assert.equal((await one(user, 'claude-sonnet-4-5')).served_by, 'amazon-bedrock');
      });

      it('auto resolves to the first available model of the preference order', async () => {
        const cases: [ProviderName[], string][] = [
          [['anthropic'], 'claude-sonnet-4-5'],
          [['openai'], 'gpt-5'],
          [['google'], 'gemini-2-5-pro'],
          [['xai'], 'grok-4'],
          [['azure-foundry'], 'gpt-5'],
          [['google', 'xai'], 'gemini-2-5-pro'],
          [['xai', 'openai'], 'gpt-5'],
        ];
        for (const [providers, expected] of cases) {
          const user = await byokSolo(providers);
          const auto = await one(user, 'auto');
          assert.equal(auto.resolves_to, expected, providers.join('+'));
          assert.equal(auto.available, true);
          assert.equal((await list(user)).get('auto')?.resolves_to, expected);
          // The pick is the first available model of AUTO_PREFERENCE.
          const models = await list(user);
          assert.equal(AUTO_PREFERENCE.find((id) => models.get(id)?.available), expected);
        }
      });

      it('auto narrows as the listing changes, and is unavailable when nothing is served', async () => {
        const user = await byokSolo(['openai']);
        assert.equal((await one(user, 'auto')).resolves_to, 'gpt-5');
        await setListedModels(ctx, user.owner, 'openai', ['gpt-4o-2024-08-06', 'whisper-1']);
        assert.equal((await one(user, 'auto')).resolves_to, 'gpt-4o');
        await setListedModels(ctx, user.owner, 'openai', ['whisper-1']);
        const none = await one(user, 'auto');
        assert.equal(none.available, false);
        assert.equal(none.resolves_to, null);
        assert.equal(none.served_by, null);
        assert.match(none.reason!, /none of your account's provider keys/);
      });

      it('assumes the catalogue for a key whose model list is unknown', async () => {
        const user = await byokSolo(['xai']);
        await setListedModels(ctx, user.owner, 'xai', null);
        const models = await list(user);
        for (const id of ['grok-4', 'grok-3', 'grok-3-mini', 'grok-code-fast-1']) assert.equal(models.get(id)?.served_by, 'xai', id);
        assert.equal(models.get('gpt-5')?.available, false);
      });

      it('answers team members, viewers and admins with the team view', async () => {
        const admin = await createUser(ctx, uniqueEmail('m-admin'));
        const member = await createUser(ctx, uniqueEmail('m-member'));
        const viewer = await createUser(ctx, uniqueEmail('m-viewer'));
        const team = await createTeam(ctx, [
          { user: admin, role: 'admin' },
          { user: member, role: 'member' },
          { user: viewer, role: 'viewer' },
        ]);
        await setByok(ctx, team.owner);
        await saveKey(ctx, admin, 'anthropic', acceptedCredential(fakes, 'anthropic'));
        await saveKey(ctx, admin, 'google-vertex', acceptedCredential(fakes, 'google-vertex'));
        for (const u of [admin, member, viewer]) assert.equal((await list(u)).get('grok-4')?.served_by, 'neo');
        await setMode(ctx, admin, 'byok');
        const apiKey = await createApiKey(ctx, viewer);
        for (const caller of [admin, member, viewer, { headers: { 'x-api-key': apiKey } }]) {
          const models = await list(caller);
          assert.equal(models.get('claude-opus-4-1')?.served_by, 'anthropic');
          assert.equal(models.get('gemini-2-5-pro')?.served_by, 'google-vertex');
          assert.equal(models.get('grok-4')?.available, false);
          assert.match(models.get('grok-4')!.reason!, /no provider key of your team/);
        }
      });
    });

    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/models' });
    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/models/gpt-5' });
    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/models/auto' });
  });
}
