/** GET /api/v1/user (CONTRACT.md section 5): the whole profile, in both modes, solo and in a team. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CATALOGUE } from '../src/models/catalogue.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { countDatabaseReads, createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, saveKey, setListedModels, setMode, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';
import { securitySuite } from './helpers/security.ts';

interface ByokModel {
  id: string;
  provider: string;
  supported: boolean;
  neo_model_id?: string;
  provider_model_id?: string;
  reason?: string;
}

interface Profile {
  id: string;
  email: string;
  role: string;
  features: Record<string, boolean>;
  tag: string | null;
  team: { id: string; name: string; role: string } | null;
  model_use_mode: string;
  available_models: string[];
  byok_models?: ByokModel[];
}

const ALL_IDS = CATALOGUE.map((m) => m.id);

for (const dialect of testDialects()) {
  describe(`GET /api/v1/user [${dialect}]`, () => {
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

    async function profile(headers: Record<string, string>): Promise<Profile> {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers });
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      return res.json();
    }

    async function withKeys(user: TestUser, providers: ProviderName[]): Promise<void> {
      for (const p of providers) await saveKey(ctx, user, p, acceptedCredential(fakes, p));
    }

    it('a solo user in neo mode: identity, no team, flags, the whole catalogue, no byok_models', async () => {
      const user = await createUser(ctx, uniqueEmail('profile'));
      assert.deepEqual(await profile(user.headers), {
        id: user.id,
        email: user.email,
        role: 'user',
        features: { byok: false },
        tag: null,
        team: null,
        model_use_mode: 'neo',
        available_models: ALL_IDS,
      });
    });

    it('shows the system role, the tag and the flag', async () => {
      const admin = await createUser(ctx, uniqueEmail('profile-admin'), { role: 'admin' });
      await ctx.database.db.updateTable('users').set({ tag: 'design-partner' }).where('id', '=', admin.id).execute();
      ctx.app.services.auth.invalidateUser(admin.id);
      await setByok(ctx, admin.owner);
      const p = await profile(admin.headers);
      assert.equal(p.role, 'admin');
      assert.equal(p.tag, 'design-partner');
      assert.deepEqual(p.features, { byok: true });
      assert.equal(p.model_use_mode, 'neo');
    });

    it('answers the same profile through a Neo API key', async () => {
      const user = await createUser(ctx, uniqueEmail('profile-key'));
      const key = await createApiKey(ctx, user);
      assert.deepEqual(await profile({ 'x-api-key': key }), await profile(user.headers));
    });

    it('byok mode: available_models from the keys, and every listed model mapped or explained', async () => {
      const user = await createUser(ctx, uniqueEmail('profile-byok'));
      await setByok(ctx, user.owner);
      await withKeys(user, ['openai', 'amazon-bedrock']);
      await setMode(ctx, user, 'byok');
      const p = await profile(user.headers);
      assert.equal(p.model_use_mode, 'byok');
      assert.deepEqual(p.available_models, ['claude-sonnet-4-5', 'gpt-5', 'gpt-5-mini', 'gpt-4-1', 'gpt-4o', 'o3']);
      const byId = new Map(p.byok_models!.map((m) => [`${m.provider}:${m.id}`, m] as const));
      assert.deepEqual(byId.get('openai:gpt-4.1'), {
        id: 'gpt-4.1',
        provider: 'openai',
        supported: true,
        neo_model_id: 'gpt-4-1',
        provider_model_id: 'gpt-4.1',
      });
      assert.deepEqual(byId.get('openai:text-embedding-3-large'), {
        id: 'text-embedding-3-large',
        provider: 'openai',
        supported: false,
        reason: 'embedding model: Neo agents need a chat model',
      });
      assert.equal(byId.get('openai:dall-e-3')?.supported, false);
      assert.match(byId.get('openai:ft:gpt-4o-mini:acme::abc123')!.reason!, /not in the Neo model catalogue/);
      // Bedrock: the foundation model runs through the inference profile of the key region.
      assert.deepEqual(byId.get('amazon-bedrock:anthropic.claude-sonnet-4-5-20250929-v1:0'), {
        id: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
        provider: 'amazon-bedrock',
        supported: true,
        neo_model_id: 'claude-sonnet-4-5',
        provider_model_id: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      });
      assert.equal(byId.get('amazon-bedrock:meta.llama3-70b-instruct-v1:0')?.supported, false);
      // Every listed model appears, once, grouped by provider.
      const stored = await ctx.database.db.selectFrom('provider_keys').select(['provider', 'models']).where('owner_id', '=', user.id).execute();
      const expected = stored.flatMap((r) => (JSON.parse(r.models!) as string[]).map((id) => `${r.provider}:${id}`)).sort();
      assert.deepEqual([...byId.keys()].sort(), expected);
      assert.equal(byId.size, p.byok_models!.length);
      assert.deepEqual(
        p.byok_models!.map((m) => m.provider),
        [...p.byok_models!.map((m) => m.provider)].sort(),
      );
    });

    it('byok mode follows a changed listing, a deleted key and the flag', async () => {
      const user = await createUser(ctx, uniqueEmail('profile-change'));
      await setByok(ctx, user.owner);
      await withKeys(user, ['xai', 'google']);
      await setMode(ctx, user, 'byok');
      assert.deepEqual((await profile(user.headers)).available_models, ['gemini-2-5-pro', 'gemini-2-5-flash', 'grok-4', 'grok-3', 'grok-3-mini']);
      await setListedModels(ctx, user.owner, 'xai', ['grok-4-0709']);
      assert.deepEqual((await profile(user.headers)).available_models, ['gemini-2-5-pro', 'gemini-2-5-flash', 'grok-4']);
      await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/google', headers: user.headers });
      const p = await profile(user.headers);
      assert.deepEqual(p.available_models, ['grok-4']);
      assert.deepEqual(p.byok_models, [{ id: 'grok-4-0709', provider: 'xai', supported: true, neo_model_id: 'grok-4', provider_model_id: 'grok-4-0709' }]);
      await setByok(ctx, user.owner, false);
      const off = await profile(user.headers);
      assert.equal(off.model_use_mode, 'neo');
      assert.deepEqual(off.features, { byok: false });
      assert.deepEqual(off.available_models, ALL_IDS);
      assert.equal('byok_models' in off, false);
    });

    it('team members get the team, their role and the team mode and models', async () => {
      const admin = await createUser(ctx, uniqueEmail('p-admin'));
      const member = await createUser(ctx, uniqueEmail('p-member'));
      const viewer = await createUser(ctx, uniqueEmail('p-viewer'));
      // The member's own flag and keys do not apply while in the team.
      await setByok(ctx, member.owner);
      await withKeys(member, ['openai']);
      await setMode(ctx, member, 'byok');
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ], 'Red Team');
      for (const [u, role] of [[admin, 'admin'], [member, 'member'], [viewer, 'viewer']] as const) {
        const p = await profile(u.headers);
        assert.deepEqual(p.team, { id: team.id, name: 'Red Team', role });
        assert.deepEqual(p.features, { byok: false });
        assert.equal(p.model_use_mode, 'neo');
        assert.deepEqual(p.available_models, ALL_IDS);
      }
      await setByok(ctx, team.owner);
      await withKeys(admin, ['anthropic', 'azure-foundry']);
      await setMode(ctx, admin, 'byok');
      for (const u of [admin, member, viewer]) {
        const p = await profile(u.headers);
        assert.deepEqual(p.features, { byok: true });
        assert.equal(p.model_use_mode, 'byok');
        assert.deepEqual(p.available_models, ['claude-opus-4-1', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-3-5-haiku', 'gpt-5', 'gpt-4-1', 'o4-mini']);
        assert.deepEqual([...new Set(p.byok_models!.map((m) => m.provider))], ['anthropic', 'azure-foundry']);
        assert.ok(p.byok_models!.some((m) => m.provider === 'anthropic' && m.id === 'claude-2.1' && !m.supported && m.reason));
      }
      // A team rename shows at once.
      const rename = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/teams', headers: admin.headers, payload: { name: 'Blue Team' } });
      assert.equal(rename.statusCode, 200, rename.body);
      assert.equal((await profile(member.headers)).team?.name, 'Blue Team');
    });

    it("a warm GET /user of a team member reads nothing from the database (the team's name is cached too)", async () => {
      const admin = await createUser(ctx, uniqueEmail('warm-admin'));
      const member = await createUser(ctx, uniqueEmail('warm-member'));
      await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
      ], 'Warm Team');
      await setByok(ctx, admin.owner);
      await withKeys(admin, ['anthropic']);
      await setMode(ctx, admin, 'byok');
      assert.equal((await profile(member.headers)).team?.name, 'Warm Team'); // warm every cache
      const reads = await countDatabaseReads(ctx, async () => {
        for (let i = 0; i < 3; i++) assert.equal((await profile(member.headers)).team?.name, 'Warm Team');
      });
      assert.equal(reads, 0, 'no database read on a warm cache');
    });

    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/user' });
  });
}
