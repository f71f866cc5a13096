/**
 * Validation errors read as plain words, in the API and so on the settings page: the
 * field's name and what it must be ("role must be one of: admin, member, viewer"), never
 * the validator's jargon ("body/role must be equal to constant", "must match pattern").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const JARGON = /constant|must match|must NOT|anyOf|oneOf|instancePath|\bbody\/|querystring|params\//;

describe('validation messages in plain words', () => {
  let ctx: TestContext;
  let admin: TestUser;
  let solo: TestUser;

  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
    admin = await createUser(ctx);
    solo = await createUser(ctx);
    await setByok(ctx, solo.owner);
    const team = await ctx.app.inject({ method: 'POST', url: '/api/v1/teams', headers: admin.headers, payload: { name: 'Plain words' } });
    assert.equal(team.statusCode, 201, team.body);
  });
  after(async () => ctx.close());

  // `solo` (BYOK on, no team) for the BYOK routes, the team's admin for the Teams routes.
  const cases: { what: string; method: 'POST' | 'PATCH' | 'GET' | 'DELETE'; url: string; payload?: unknown; message: string }[] = [
    { what: 'a value outside a list', method: 'PATCH', url: '/api/v1/teams/members/role', payload: { email: 'a@corp.test', role: 'owner' }, message: 'role must be one of: admin, member, viewer' },
    { what: 'a malformed email', method: 'POST', url: '/api/v1/teams/members/invite', payload: { email: 'not-an-email' }, message: 'email is not a valid email address' },
    { what: 'a missing field', method: 'PATCH', url: '/api/v1/byok/mode', payload: {}, message: 'mode is required' },
    { what: 'a wrong type', method: 'PATCH', url: '/api/v1/teams', payload: { name: 5 }, message: 'name must be text' },
    { what: 'a too long value', method: 'PATCH', url: '/api/v1/teams', payload: { name: 'x'.repeat(101) }, message: 'name must be at most 100 characters long' },
    { what: 'a number over its maximum', method: 'GET', url: '/api/v1/byok/audit?limit=500', message: 'the query parameter limit must be at most 200' },
    { what: 'a body that is not an object', method: 'PATCH', url: '/api/v1/byok/mode', payload: ['byok'], message: 'the body must be a JSON object' },
  ];

  for (const c of cases) {
    it(`${c.what}: "${c.message}"`, async () => {
      const res = await ctx.app.inject({ method: c.method, url: c.url, headers: (c.url.includes('/byok/') ? solo : admin).headers, ...(c.payload !== undefined ? { payload: c.payload as object } : {}) });
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json<{ code: string; message: string }>();
      assert.equal(body.code, 'invalid_request');
      assert.equal(body.message, `invalid request: ${c.message}`);
      assert.doesNotMatch(body.message, JARGON);
    });
  }
});
