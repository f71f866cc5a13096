/**
 * POST /api/v1/byok/providers/{provider}/check ("Check now", docs/key-health.md): re-checks
 * the caller's owner's stored key with the provider now, under the hysteresis rules, and
 * answers the refreshed key; access rules, errors, and no secret in the answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RevocableOpenAi } from './fakes/revocable-openai.ts';
import { testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { type ProviderFakes } from './helpers/model-fixtures.ts';
import { assertErrorResponse, securitySuite } from './helpers/security.ts';
import { listedKey, saveOpenAiKey, soloByokUser, useKeyHealthWorld, type KeyView } from './helpers/key-health.ts';

const CHECK = '/api/v1/byok/providers/openai/check';

for (const dialect of testDialects()) {
  describe(`POST /byok/providers/{provider}/check [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let openai: RevocableOpenAi;
    let nowMs = Date.parse('2026-12-01T10:00:00.000Z');

    useKeyHealthWorld(dialect, () => nowMs, (w) => ({ ctx, fakes, openai } = w));

    const saveKey = (user: TestUser) => saveOpenAiKey(ctx, fakes, user);
    const solo = () => soloByokUser(ctx, 'checknow');
    const check = (user: TestUser, url = CHECK) => ctx.app.inject({ method: 'POST', url, headers: user.headers });
    const listed = (user: TestUser) => listedKey(ctx, user);

    it('checks the key with the provider now; one rejection keeps it active, a second ≥ 30 s later makes it invalid; acceptance restores it', async () => {
      const user = await solo();
      const { secret, key } = await saveKey(user);
      const before = openai.calls(secret);

      nowMs += 5_000;
      let res = await check(user);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(openai.calls(secret), before + 1, 'one provider call');
      let k = res.json<{ provider_key: KeyView }>().provider_key;
      assert.deepEqual(Object.keys(res.json()), ['provider_key']);
      assert.equal(k.id, key.id);
      assert.equal(k.status, 'active');
      assert.equal(k.last_check_outcome, 'accepted');
      assert.equal(k.last_checked_at, new Date(nowMs).toISOString());
      assert.deepEqual(k, await listed(user), 'the answer is the key as GET /byok/providers shows it');
      assert.ok(!res.body.includes(secret), 'no secret in the answer');

      openai.revoke(secret);
      nowMs += 5_000;
      res = await check(user);
      assert.equal(res.statusCode, 200, res.body);
      k = res.json<{ provider_key: KeyView }>().provider_key;
      assert.equal(k.status, 'active', 'one rejection does not make the key invalid');
      assert.equal(k.last_check_outcome, 'rejected');

      nowMs += 31_000;
      res = await check(user);
      k = res.json<{ provider_key: KeyView }>().provider_key;
      assert.equal(k.status, 'invalid');
      assert.match(k.last_check_message ?? '', /key/i);
      assert.ok(!res.body.includes(secret), 'no secret in the answer');
      const changed = await ctx.database.db
        .selectFrom('audit_events')
        .selectAll()
        .where('owner_id', '=', user.owner.id)
        .where('action', '=', 'provider_key.status_changed')
        .execute();
      assert.equal(changed.length, 1);
      assert.equal(changed[0]!.to_status, 'invalid');

      openai.restore(secret);
      nowMs += 1_000;
      res = await check(user);
      assert.equal(res.json<{ provider_key: KeyView }>().provider_key.status, 'active');
    });

    it('a team admin checks the team key; members and viewers get 403', async () => {
      const admin = await createUser(ctx, uniqueEmail('adm'));
      const member = await createUser(ctx, uniqueEmail('mem'));
      const viewer = await createUser(ctx, uniqueEmail('vie'));
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ]);
      await setByok(ctx, team.owner);
      await saveKey(admin);
      nowMs += 1_000;
      assert.equal((await check(admin)).statusCode, 200);
      assertErrorResponse(await check(member), 403, 'forbidden');
      assertErrorResponse(await check(viewer), 403, 'forbidden');
    });

    it('only ever addresses the caller’s owner: another tenant without a key gets 404 and the victim’s key is not checked', async () => {
      const victim = await solo();
      const { secret } = await saveKey(victim);
      const calls = openai.calls(secret);
      const last = (await listed(victim)).last_checked_at;
      const attacker = await solo();
      nowMs += 1_000;
      assertErrorResponse(await check(attacker), 404, 'not_exists');
      assert.equal(openai.calls(secret), calls, 'no call with the victim’s key');
      assert.equal((await listed(victim)).last_checked_at, last);
    });

    it('no stored key → 404; unknown provider → 400; flag off → 403 byok_not_enabled', async () => {
      const user = await solo();
      assertErrorResponse(await check(user), 404, 'not_exists');
      assertErrorResponse(await check(user, '/api/v1/byok/providers/nosuch/check'), 400, 'invalid_request');
      await saveKey(user);
      await setByok(ctx, user.owner, false);
      assertErrorResponse(await check(user), 403, 'byok_not_enabled');
    });

    securitySuite(() => ctx, { method: 'POST', url: CHECK, roles: { allowed: ['admin'] }, feature: 'byok' });
  });
}
