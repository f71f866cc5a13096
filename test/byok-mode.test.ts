/**
 * GET/PATCH /api/v1/byok/mode: the seed's cases (set-model-use-mode.md) and the access
 * rules of CONTRACT.md sections 2–3, on every dialect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, type TestUser } from './helpers/fixtures.ts';
import { insertKey } from './helpers/byok.ts';

for (const dialect of testDialects()) {
  describe(`PATCH/GET /api/v1/byok/mode [${dialect}]`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => ctx.close());

    const patch = (headers: Record<string, string>, payload: unknown) =>
      ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers, payload: payload as object });
    const get = (headers: Record<string, string>) => ctx.app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers });

    it('solo user: 400 byok_no_provider_keys without keys, then 200 with the seed shape, idempotent', async () => {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      const none = await patch(u.headers, { mode: 'byok' });
      assert.equal(none.statusCode, 400);
      assert.equal(none.json().code, 'byok_no_provider_keys');
      assert.equal(none.json().kind, 'invalid request');

      await insertKey(ctx, u.owner, 'openai');
      const res = await patch(u.headers, { mode: 'byok' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { mode: 'byok', resource_type: 'user', resource_id: u.id });
      const again = await patch(u.headers, { mode: 'byok' });
      assert.equal(again.statusCode, 200);
      assert.deepEqual(again.json(), { mode: 'byok', resource_type: 'user', resource_id: u.id });

      const view = await get(u.headers);
      assert.equal(view.statusCode, 200);
      assert.deepEqual(view.json(), { mode: 'byok', resource_type: 'user', resource_id: u.id, byok_enabled: true, provider_keys: 1 });

      const back = await patch(u.headers, { mode: 'neo' });
      assert.equal(back.statusCode, 200);
      assert.equal(back.json().mode, 'neo');
      // Only real changes are audited: neo→byok, byok→neo (the repeat is not).
      const audit = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: u.headers });
      const modes = audit.json().data.filter((e: { action: string }) => e.action === 'mode.changed');
      assert.deepEqual(
        modes.map((e: { from_mode: string; to_mode: string }) => `${e.from_mode}->${e.to_mode}`),
        ['byok->neo', 'neo->byok'],
      );
    });

    it('works with an X-Api-Key as well as a bearer token', async () => {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      const key = await createApiKey(ctx, u);
      const res = await patch({ 'x-api-key': key }, { mode: 'neo' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { mode: 'neo', resource_type: 'user', resource_id: u.id });
    });

    it('team admin sets the team mode; members and viewers get 403 forbidden and see the team mode', async () => {
      const admin = await createUser(ctx);
      const member = await createUser(ctx);
      const viewer = await createUser(ctx);
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ]);
      await setByok(ctx, team.owner);
      await insertKey(ctx, team.owner, 'anthropic');
      const res = await patch(admin.headers, { mode: 'byok' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { mode: 'byok', resource_type: 'team', resource_id: team.id });

      for (const u of [member, viewer]) {
        const denied = await patch(u.headers, { mode: 'neo' });
        assert.equal(denied.statusCode, 403);
        assert.equal(denied.json().code, 'forbidden');
        assert.equal(denied.json().kind, 'forbidden request');
        const seen = await get(u.headers);
        assert.equal(seen.statusCode, 200);
        assert.deepEqual(seen.json(), { mode: 'byok', resource_type: 'team', resource_id: team.id, byok_enabled: true, provider_keys: 1 });
      }
      // Still byok: the denied calls changed nothing.
      assert.equal((await get(admin.headers)).json().mode, 'byok');
    });

    it('another team is unaffected by a team admin', async () => {
      const a = await createUser(ctx);
      const b = await createUser(ctx);
      const teamA = await createTeam(ctx, [{ user: a, role: 'admin' }]);
      const teamB = await createTeam(ctx, [{ user: b, role: 'admin' }]);
      await setByok(ctx, teamA.owner);
      await setByok(ctx, teamB.owner);
      await insertKey(ctx, teamA.owner, 'openai');
      assert.equal((await patch(a.headers, { mode: 'byok' })).statusCode, 200);
      // B has no keys of its own: A's key does not count.
      const res = await patch(b.headers, { mode: 'byok' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'byok_no_provider_keys');
      assert.equal((await get(b.headers)).json().mode, 'neo');
    });

    it('400 invalid_request for an invalid mode, a missing mode, an unknown field or a non-string', async () => {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      for (const body of [{ mode: 'BYOK' }, {}, { mode: 'neo', extra: 1 }, { mode: 1 }, { mode: null }]) {
        const res = await patch(u.headers, body);
        assert.equal(res.statusCode, 400, JSON.stringify(body));
        assert.equal(res.json().code, 'invalid_request');
        assert.equal(res.json().error_id, res.headers['x-request-id']);
      }
    });

    it('401 without credentials or with a bad token', async () => {
      const res = await patch({}, { mode: 'neo' });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'unauthorized');
      const bad = await patch({ authorization: 'Bearer not.a.jwt' }, { mode: 'neo' });
      assert.equal(bad.statusCode, 401);
      assert.equal((await get({})).statusCode, 401);
    });

    it('403 byok_not_enabled when the flag is off; GET still answers neo, byok_enabled false', async () => {
      const u = await createUser(ctx);
      const res = await patch(u.headers, { mode: 'neo' });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'byok_not_enabled');
      const view = await get(u.headers);
      assert.equal(view.statusCode, 200);
      assert.deepEqual(view.json(), { mode: 'neo', resource_type: 'user', resource_id: u.id, byok_enabled: false, provider_keys: 0 });
    });

    it('the flag turned off reports mode neo even when byok is stored', async () => {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      await insertKey(ctx, u.owner, 'xai');
      assert.equal((await patch(u.headers, { mode: 'byok' })).statusCode, 200);
      await setByok(ctx, u.owner, false);
      const view = (await get(u.headers)).json();
      assert.equal(view.mode, 'neo');
      assert.equal(view.byok_enabled, false);
      await setByok(ctx, u.owner, true);
      assert.equal((await get(u.headers)).json().mode, 'byok');
    });

    it('order of checks: 403 forbidden (member) before 403 byok_not_enabled before 400 validation', async () => {
      const admin = await createUser(ctx);
      const member = await createUser(ctx);
      await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
      ]);
      // Flag off and a bad body: the member learns only that they may not.
      const m = await patch(member.headers, { mode: 'nope' });
      assert.equal(m.statusCode, 403);
      assert.equal(m.json().code, 'forbidden');
      const a = await patch(admin.headers, { mode: 'nope' });
      assert.equal(a.statusCode, 403);
      assert.equal(a.json().code, 'byok_not_enabled');
    });

    it('a solo user who joins a team manages the team, not their own settings', async () => {
      const u: TestUser = await createUser(ctx);
      await setByok(ctx, u.owner);
      await insertKey(ctx, u.owner, 'openai');
      assert.equal((await patch(u.headers, { mode: 'byok' })).statusCode, 200);
      const team = await createTeam(ctx, [{ user: u, role: 'admin' }]);
      const view = (await get(u.headers)).json();
      assert.equal(view.resource_type, 'team');
      assert.equal(view.resource_id, team.id);
      assert.equal(view.mode, 'neo');
      assert.equal(view.byok_enabled, false);
    });

    it('the OpenAPI document describes the operation as the seed does', async () => {
      const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      const op = doc.paths['/api/v1/byok/mode'].patch;
      assert.equal(op.operationId, 'patch-v1-byok-mode');
      assert.deepEqual(op.tags, ['BYOK']);
      assert.deepEqual(op.security, [{ BearerAuth: [] }, { ApiKeyAuth: [] }]);
      for (const s of ['200', '400', '401', '403', '500']) assert.ok(op.responses[s], `response ${s}`);
      const req = doc.components.schemas.SetModelUseModeRequest;
      assert.deepEqual(req.properties.mode.enum, ['neo', 'byok']);
      assert.deepEqual(req.required, ['mode']);
      const resp = doc.components.schemas.SetModelUseModeResponse;
      assert.deepEqual([...resp.required].sort(), ['mode', 'resource_id', 'resource_type']);
      assert.deepEqual(resp.properties.resource_type.enum, ['user', 'team']);
      assert.equal(op.requestBody.content['application/json'].schema.$ref, '#/components/schemas/SetModelUseModeRequest');
      assert.equal(op.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/SetModelUseModeResponse');
    });
  });
}
