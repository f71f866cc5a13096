/**
 * Every BYOK endpoint × every kind of caller (CONTRACT.md sections 2–3): solo user,
 * team admin, member, viewer, another team, flag off, no credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { insertKey } from './helpers/byok.ts';
import { createApiKey, createTeam, createUser, setByok, type TestTeam, type TestUser } from './helpers/fixtures.ts';

interface Endpoint {
  name: string;
  method: 'GET' | 'PATCH' | 'POST' | 'DELETE';
  url: string;
  payload?: object;
  /** GET /byok/mode answers every authenticated user. */
  anyRole?: boolean;
}

const KEY = 'sk-access-matrix-0123456789abcdef';
const ENDPOINTS: Endpoint[] = [
  { name: 'GET providers', method: 'GET', url: '/api/v1/byok/providers' },
  { name: 'PATCH provider', method: 'PATCH', url: '/api/v1/byok/providers/openai', payload: { api_key: KEY } },
  { name: 'POST validate', method: 'POST', url: '/api/v1/byok/providers/openai/validate', payload: { api_key: KEY } },
  { name: 'DELETE provider', method: 'DELETE', url: '/api/v1/byok/providers/anthropic' },
  { name: 'GET mode', method: 'GET', url: '/api/v1/byok/mode', anyRole: true },
  { name: 'PATCH mode', method: 'PATCH', url: '/api/v1/byok/mode', payload: { mode: 'byok' } },
  { name: 'GET audit', method: 'GET', url: '/api/v1/byok/audit' },
  // The webhook routes share the rule; the writes and per-id routes are in test/webhooks.test.ts.
  { name: 'GET webhooks', method: 'GET', url: '/api/v1/byok/webhooks' },
];

for (const dialect of testDialects()) {
  describe(`BYOK access rules on every endpoint [${dialect}]`, () => {
    let fake: FakeKeyProviders;
    let ctx: TestContext;
    let solo: TestUser;
    let admin: TestUser;
    let member: TestUser;
    let viewer: TestUser;
    let otherAdmin: TestUser;
    let flagOff: TestUser;
    let team: TestTeam;
    let otherTeam: TestTeam;

    before(async () => {
      fake = await startFakeKeyProviders();
      ctx = await createTestContext({ dialect, env: fake.env });
      solo = await createUser(ctx);
      admin = await createUser(ctx);
      member = await createUser(ctx);
      viewer = await createUser(ctx);
      otherAdmin = await createUser(ctx);
      flagOff = await createUser(ctx);
      team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ]);
      otherTeam = await createTeam(ctx, [{ user: otherAdmin, role: 'admin' }]);
      for (const o of [solo.owner, team.owner, otherTeam.owner]) await setByok(ctx, o);
      // Everyone with the flag starts with an anthropic key (the one DELETE removes).
      for (const o of [solo.owner, team.owner, flagOff.owner]) await insertKey(ctx, o, 'anthropic');
      await insertKey(ctx, otherTeam.owner, 'google');
    });
    after(async () => {
      await ctx.close();
      await fake.close();
    });

    const call = (e: Endpoint, headers: Record<string, string>) =>
      ctx.app.inject({ method: e.method, url: e.url, headers, ...(e.payload ? { payload: e.payload } : {}) });

    it('no credentials, a malformed token or an unknown API key → 401 on every endpoint', async () => {
      for (const e of ENDPOINTS) {
        for (const headers of [{}, { authorization: 'Bearer nope' }, { 'x-api-key': 'neo_sk_' + 'a'.repeat(32) }] as Record<string, string>[]) {
          const res = await call(e, headers);
          assert.equal(res.statusCode, 401, `${e.name} ${JSON.stringify(headers)}`);
          assert.equal(res.json().code, 'unauthorized');
        }
      }
    });

    it('team member and viewer → 403 forbidden on every write, listing and audit; they read the mode', async () => {
      for (const u of [member, viewer]) {
        for (const e of ENDPOINTS) {
          const res = await call(e, u.headers);
          if (e.anyRole) {
            assert.equal(res.statusCode, 200, e.name);
            assert.equal(res.json().resource_type, 'team');
            assert.equal(res.json().resource_id, team.id);
          } else {
            assert.equal(res.statusCode, 403, `${e.name} as ${u.email}`);
            assert.equal(res.json().code, 'forbidden');
          }
        }
      }
      // Nothing changed for the team.
      assert.equal(await ctx.database.db.selectFrom('provider_keys').select('id').where('owner_id', '=', team.id).execute().then((r) => r.length), 1);
    });

    it('flag off → 403 byok_not_enabled on every write, listing and audit; GET mode answers neo', async () => {
      for (const e of ENDPOINTS) {
        const res = await call(e, flagOff.headers);
        if (e.anyRole) {
          assert.equal(res.statusCode, 200);
          assert.deepEqual(res.json(), { mode: 'neo', resource_type: 'user', resource_id: flagOff.id, byok_enabled: false, provider_keys: 1 });
        } else {
          assert.equal(res.statusCode, 403, e.name);
          assert.equal(res.json().code, 'byok_not_enabled');
          assert.equal(res.json().kind, 'forbidden request');
          assert.equal(
            res.json().message,
            'forbidden request: BYOK is not enabled for your account; a platform admin can enable it with `neo-byok admin features set --email <your email> byok=on`',
          );
        }
      }
      assert.equal(fake.requests.length, 0, 'no provider call for a refused request');
    });

    it("a team's flag off → 403 byok_not_enabled naming the team and the command that enables it", async () => {
      const offAdmin = await createUser(ctx);
      const offMember = await createUser(ctx);
      // The admin's own (solo) flag on changes nothing: the team's flag applies.
      await setByok(ctx, offAdmin.owner);
      const offTeam = await createTeam(ctx, [
        { user: offAdmin, role: 'admin' },
        { user: offMember, role: 'member' },
      ]);
      for (const e of ENDPOINTS.filter((x) => !x.anyRole)) {
        const res = await call(e, offAdmin.headers);
        assert.equal(res.statusCode, 403, e.name);
        assert.equal(res.json().code, 'byok_not_enabled');
        assert.equal(
          res.json().message,
          `forbidden request: BYOK is not enabled for this team; a platform admin can enable it with \`neo-byok admin features set --team-id ${offTeam.id} byok=on\``,
        );
      }
      // A member is refused for their role first (only admins manage a team's settings).
      assert.equal((await call(ENDPOINTS[0]!, offMember.headers)).json().code, 'forbidden');
    });

    for (const who of ['solo user', 'team admin', 'team admin via API key'] as const) {
      it(`${who}: every endpoint works on its own owner`, async () => {
        const u = who === 'solo user' ? solo : admin;
        const headers = who === 'team admin via API key' ? { 'x-api-key': await createApiKey(ctx, admin) } : u.headers;
        const ownerType = who === 'solo user' ? 'user' : 'team';
        const ownerId = who === 'solo user' ? solo.id : team.id;
        const results = new Map<string, { status: number; body: Record<string, unknown> }>();
        for (const e of ENDPOINTS) {
          const res = await call(e, headers);
          results.set(e.name, { status: res.statusCode, body: res.json() });
        }
        for (const [name, r] of results) assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
        const listed = results.get('GET providers')!.body.provider_keys as { provider: string }[];
        assert.deepEqual(listed.map((k) => k.provider), ['anthropic']);
        const put = results.get('PATCH provider')!.body as { provider_key: { provider: string; is_validated: boolean } };
        assert.equal(put.provider_key.provider, 'openai');
        assert.equal(put.provider_key.is_validated, true);
        assert.equal((results.get('POST validate')!.body as { valid: boolean }).valid, true);
        assert.deepEqual(results.get('DELETE provider')!.body, { deleted: true, provider: 'anthropic', remaining_keys: 1, auto_switched: false });
        assert.deepEqual(results.get('PATCH mode')!.body, { mode: 'byok', resource_type: ownerType, resource_id: ownerId });
        const audit = results.get('GET audit')!.body as { data: { action: string }[] };
        assert.deepEqual(audit.data.map((a) => a.action), ['mode.changed', 'provider_key.deleted', 'provider_key.created']);
        // Put the anthropic key back for the next caller kind on the same owner.
        await insertKey(ctx, who === 'solo user' ? solo.owner : team.owner, 'anthropic');
        await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/openai', headers });
        await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers, payload: { mode: 'neo' } });
        await ctx.database.db.deleteFrom('audit_events').where('owner_id', '=', ownerId).execute();
      });
    }

    it('another team sees and touches only its own settings', async () => {
      const list = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: otherAdmin.headers });
      assert.deepEqual(list.json().provider_keys.map((k: { provider: string }) => k.provider), ['google']);
      // The first team's anthropic key answers like a missing one.
      const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/anthropic', headers: otherAdmin.headers });
      assert.equal(del.statusCode, 404);
      assert.equal(del.json().code, 'not_exists');
      const mode = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: otherAdmin.headers });
      assert.equal(mode.json().resource_id, otherTeam.id);
      const audit = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: otherAdmin.headers });
      assert.deepEqual(audit.json(), { data: [], has_more: false, total: 0 });
      const teamKeys = await ctx.database.db.selectFrom('provider_keys').select('provider').where('owner_id', '=', team.id).execute();
      assert.deepEqual(teamKeys.map((k) => k.provider), ['anthropic']);
    });
  });
}
