/**
 * Key health, the moving parts (docs/key-health.md), with a controlled clock and a
 * provider fake that accepts a key and then revokes it: runtime reports → re-checks with
 * hysteresis → invalid → audit + outbox; resolve skipping an invalid key or answering
 * 409; stale, unknown and foreign reports; expiry reminders; the report endpoint's
 * access rules, limits and bad input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RevocableOpenAi } from './fakes/revocable-openai.ts';
import { TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, setMode, type ProviderFakes } from './helpers/model-fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';
import { listedKey, saveOpenAiKey, soloByokUser, useKeyHealthWorld, type KeyView } from './helpers/key-health.ts';

const INTERNAL = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };
const REPORT = '/internal/v1/credentials/report';

for (const dialect of testDialects()) {
  describe(`key health: reports, re-checks, resolve, events [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let openai: RevocableOpenAi;
    let nowMs = Date.parse('2026-12-01T10:00:00.000Z');

    useKeyHealthWorld(dialect, () => nowMs, (w) => ({ ctx, fakes, openai } = w));

    /** A solo user in byok mode with an accepted openai key (and optionally an openrouter key). */
    async function owner(withOpenRouter = false): Promise<{ user: TestUser; secret: string; key: KeyView }> {
      const user = await soloByokUser(ctx, 'checks');
      const { secret, key } = await saveOpenAiKey(ctx, fakes, user);
      if (withOpenRouter) {
        const r2 = await ctx.app.inject({
          method: 'PATCH',
          url: '/api/v1/byok/providers/openrouter',
          headers: user.headers,
          payload: { api_key: acceptedCredential(fakes, 'openrouter').api_key },
        });
        assert.equal(r2.statusCode, 200, r2.body);
      }
      await setMode(ctx, user, 'byok');
      return { user, secret, key };
    }
    const keyOf = (user: TestUser, provider = 'openai') => listedKey(ctx, user, provider);
    /** Revokes the key at the fake and reports it refused twice, a minute apart: it becomes invalid. */
    async function makeInvalid(secret: string, key: KeyView): Promise<void> {
      openai.revoke(secret);
      for (let i = 0; i < 2; i++) {
        nowMs += 61_000;
        await report([{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed' }]);
        await round();
      }
    }
    const report = (reports: unknown, headers: Record<string, string> = INTERNAL) =>
      ctx.app.inject({ method: 'POST', url: REPORT, headers, payload: { reports } });
    const resolve = (user: TestUser, model: string) =>
      ctx.app.inject({ method: 'POST', url: '/internal/v1/credentials/resolve', headers: INTERNAL, payload: { user_id: user.id, model } });
    const round = () => ctx.app.services.keyHealthScheduler.round();
    const events = (user: TestUser) =>
      ctx.database.db.selectFrom('audit_events').selectAll().where('owner_id', '=', user.owner.id).where('action', 'like', 'provider_key.%').orderBy('id').execute();
    // The key-health events (the owner's saves and mode changes are in the outbox too, for webhooks).
    const outbox = (user: TestUser) =>
      ctx.database.db
        .selectFrom('outbox')
        .selectAll()
        .where('owner_id', '=', user.owner.id)
        .where('event_type', 'in', ['provider_key.status_changed', 'provider_key.expiring'])
        .orderBy('id')
        .execute();

    it('revoked key: report → re-check → one rejection keeps active, a second ≥ 30 s later makes it invalid (audit + outbox); acceptance restores active', async () => {
      const { user, secret, key } = await owner();
      const checksAtSave = openai.calls(secret);
      openai.revoke(secret);
      nowMs += 120_000;

      const r1 = await report([{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed', status_code: 401 }]);
      assert.equal(r1.statusCode, 200, r1.body);
      assert.deepEqual(r1.json(), { received: 1 });
      await round();
      assert.equal(openai.calls(secret), checksAtSave + 1, 'the report made one re-check');
      let k = await keyOf(user);
      assert.equal(k.status, 'active', 'one rejection does not break the key');
      assert.equal(k.last_check_outcome, 'rejected');

      // Within the dedup minute: another report asks for nothing.
      nowMs += 10_000;
      await report([{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed' }]);
      await round();
      assert.equal(openai.calls(secret), checksAtSave + 1, 'at most one reported re-check per key per minute');

      nowMs += 60_000;
      await report([{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed' }]);
      await round();
      k = await keyOf(user);
      assert.equal(k.status, 'invalid');
      assert.match(k.last_check_message ?? '', /OpenAI|key/i);

      const audit = await events(user);
      const changed = audit.filter((e) => e.action === 'provider_key.status_changed');
      assert.equal(changed.length, 1);
      assert.equal(changed[0]!.from_status, 'active');
      assert.equal(changed[0]!.to_status, 'invalid');
      assert.equal(changed[0]!.outcome, 'rejected');
      assert.equal(changed[0]!.actor_id, null);
      const box = await outbox(user);
      assert.equal(box.length, 1);
      assert.equal(box[0]!.id, changed[0]!.id);
      assert.equal(box[0]!.event_type, 'provider_key.status_changed');
      const payload = JSON.parse(box[0]!.payload) as { data: Record<string, unknown> };
      assert.equal(payload.data.to_status, 'invalid');
      assert.ok(!box[0]!.payload.includes(secret), 'no secret in the outbox');
      // The audit endpoint shows it as a system event.
      const listed = (await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/audit', headers: user.headers })).json<{ data: Record<string, unknown>[] }>().data;
      const shown = listed.find((e) => e.action === 'provider_key.status_changed')!;
      assert.equal(shown.actor, null);
      assert.equal(shown.to_status, 'invalid');

      // Resolve: no other key serves gpt-5 → 409 naming the provider and the time.
      const res = await resolve(user, 'gpt-5');
      assertErrorResponse(res, 409, 'byok_model_unavailable');
      assert.match(res.json<{ message: string }>().message, /openai key .* rejected by the provider at 2026-12-01T10:0\d:\d\d\.000Z.*PATCH \/api\/v1\/byok\/providers\/openai/);

      // The provider accepts it again: an `ok` report asks for a confirming check → active.
      openai.restore(secret);
      nowMs += 61_000;
      await report([{ credential_id: key.id, credential_version: 1, outcome: 'ok' }]);
      await round();
      assert.equal((await keyOf(user)).status, 'active');
      assert.equal((await resolve(user, 'gpt-5')).statusCode, 200);
      assert.equal((await outbox(user)).length, 2);
    });

    it("an invalid key is skipped for another of the owner's keys that serves the model, never the platform's", async () => {
      const { user, secret, key } = await owner(true);
      await makeInvalid(secret, key);
      assert.equal((await keyOf(user)).status, 'invalid');
      const res = await resolve(user, 'gpt-5');
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<{ provider: string; credential: { api_key: string } | null; credential_id: string }>();
      assert.equal(body.provider, 'openrouter');
      assert.ok(body.credential, 'never credential: null in byok mode');
      assert.equal(body.credential_id, (await keyOf(user, 'openrouter')).id);
      // The model list says what resolve does: served by the key resolve would hand out.
      const listed = await ctx.app.inject({ method: 'GET', url: '/api/v1/models/gpt-5', headers: user.headers });
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(pick(listed.json(), ['available', 'served_by']), { available: true, served_by: 'openrouter' });
    });

    it('a model served only by an invalid key is unavailable everywhere: model list, profile, auto and resolve agree', async () => {
      const { user, secret, key } = await owner();
      await makeInvalid(secret, key);
      assert.equal((await keyOf(user)).status, 'invalid');
      const model = await ctx.app.inject({ method: 'GET', url: '/api/v1/models/gpt-5', headers: user.headers });
      assert.equal(model.statusCode, 200, model.body);
      const view = model.json<{ available: boolean; served_by: string | null; reason: string | null }>();
      assert.deepEqual(pick(view, ['available', 'served_by']), { available: false, served_by: null });
      assert.match(view.reason ?? '', /openai key that serves gpt-5 was rejected by the provider/);
      const auto = await ctx.app.inject({ method: 'GET', url: '/api/v1/models/auto', headers: user.headers });
      assert.equal(auto.json<{ available: boolean }>().available, false);
      const profile = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: user.headers });
      assert.equal(profile.statusCode, 200, profile.body);
      assert.ok(!profile.json<{ available_models: string[] }>().available_models.includes('gpt-5'), 'not in available_models');
      const res = await resolve(user, 'gpt-5');
      assertErrorResponse(res, 409, 'byok_model_unavailable');
      assert.ok(res.json<{ message: string }>().message.endsWith(view.reason!), 'resolve and the model list give the same reason');
    });

    it('a stale version, an unknown id, or another owner changes nothing and answers the same', async () => {
      const { user, secret, key } = await owner();
      const other = await owner();
      openai.revoke(secret);
      // Replace the secret: version 2; reports about version 1 are stale.
      const fresh = acceptedCredential(fakes, 'openai').api_key;
      await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: fresh } });
      openai.revoke(fresh);
      nowMs += 120_000;
      const before = openai.calls(fresh);
      const answers = [
        await report([{ credential_id: key.id, credential_version: 1, outcome: 'auth_failed' }]),
        await report([{ credential_id: '0193aaaa-0000-7000-8000-000000000000', credential_version: 1, outcome: 'auth_failed' }]),
        await report([{ credential_id: key.id, credential_version: 2, outcome: 'auth_failed', resource_type: 'user', resource_id: other.user.id }]),
      ];
      for (const a of answers) {
        assert.equal(a.statusCode, 200);
        assert.deepEqual(a.json(), { received: 1 });
      }
      await round();
      assert.equal(openai.calls(fresh), before, 'no re-check was asked');
      const row = await ctx.database.db.selectFrom('provider_keys').select(['check_requested_at', 'status']).where('id', '=', key.id).executeTakeFirstOrThrow();
      assert.equal(row.check_requested_at, null);
      assert.equal(row.status, 'active');
      // The matching version does ask.
      await report([{ credential_id: key.id, credential_version: 2, outcome: 'permission_denied', resource_type: 'user', resource_id: user.id }]);
      await round();
      assert.equal(openai.calls(fresh), before + 1);
    });

    it('a mixed batch: ok on healthy keys asks nothing; ok on an invalid key and a failure on another key each ask one check', async () => {
      const healthy = await owner();
      const broken = await owner();
      const failing = await owner();
      await makeInvalid(broken.secret, broken.key);
      assert.equal((await keyOf(broken.user)).status, 'invalid');
      openai.restore(broken.secret);
      nowMs += 61_000;
      const requested = async (id: string) =>
        (await ctx.database.db.selectFrom('provider_keys').select('check_requested_at').where('id', '=', id).executeTakeFirstOrThrow()).check_requested_at;
      const ok = (k: KeyView) => ({ credential_id: k.id, credential_version: 1, outcome: 'ok' });
      const res = await report([
        ...Array.from({ length: 50 }, () => ok(healthy.key)),
        ok(broken.key),
        ok(failing.key),
        { credential_id: failing.key.id, credential_version: 1, outcome: 'permission_denied' },
        ok(healthy.key),
      ]);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { received: 54 });
      assert.equal(await requested(healthy.key.id), null, 'an ok about a healthy key asks nothing');
      assert.ok(await requested(broken.key.id), 'an ok about an invalid key asks a confirming check');
      assert.ok(await requested(failing.key.id), 'a failure report asks a check even beside an ok about the same key');
      await round();
      assert.equal((await keyOf(broken.user)).status, 'active');
      assert.equal((await keyOf(healthy.user)).status, 'active');
    });

    it('expiry: reminders 7 days and 1 day before, then invalid; each once', async () => {
      const user = await createUser(ctx, uniqueEmail('expiry'));
      await setByok(ctx, user.owner);
      const expires = new Date(nowMs + 10 * 86_400_000).toISOString();
      const res = await ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/providers/openai',
        headers: user.headers,
        payload: { api_key: acceptedCredential(fakes, 'openai').api_key, expires_at: expires },
      });
      assert.equal(res.statusCode, 200, res.body);
      const health = ctx.app.services.keyHealth;
      assert.equal(await health.scanExpiry(), 0, 'nothing due 10 days ahead');
      nowMs += 3 * 86_400_000 + 1000; // 7 days before
      await health.scanExpiry();
      await health.scanExpiry();
      nowMs += 6 * 86_400_000; // 1 day before
      await health.scanExpiry();
      let k = await keyOf(user);
      assert.equal(k.status, 'active');
      nowMs += 86_400_000; // expired
      await health.scanExpiry();
      await health.scanExpiry();
      k = await keyOf(user);
      assert.equal(k.status, 'invalid');
      const audit = (await events(user)).filter((e) => e.action !== 'provider_key.created');
      assert.deepEqual(
        audit.map((e) => [e.action, e.outcome]),
        [
          ['provider_key.expiring', 'expires_in_7d'],
          ['provider_key.expiring', 'expires_in_1d'],
          ['provider_key.expired', 'expired'],
        ],
      );
      const box = await outbox(user);
      assert.deepEqual(
        box.map((b) => b.event_type),
        ['provider_key.expiring', 'provider_key.expiring', 'provider_key.status_changed'],
      );
      // A re-check does not bring an expired key back.
      nowMs += 1000;
      await ctx.app.services.keyHealth.requestAll(user.owner);
      await ctx.app.services.keyHealth.runDue();
      assert.equal((await keyOf(user)).status, 'invalid');
    });

    it('report endpoint: internal token only, 1–1000 reports, bad input → 400 naming the field', async () => {
      const user = await createUser(ctx, uniqueEmail('reporter'));
      const apiKey = await createApiKey(ctx, user);
      const one = [{ credential_id: '0193aaaa-0000-7000-8000-000000000000', credential_version: 1, outcome: 'ok' }];
      assertErrorResponse(await report(one, {}), 401, 'unauthorized');
      assertErrorResponse(await report(one, user.headers), 401, 'unauthorized');
      assertErrorResponse(await report(one, { 'x-api-key': apiKey }), 401, 'unauthorized');
      assertErrorResponse(await report(one, { authorization: 'Bearer wrong-token-0123456789abcdefghijklmnopqrstuvwxyz' }), 401, 'unauthorized');

      const full = Array.from({ length: 1000 }, (_, i) => ({ credential_id: `0193aaaa-0000-7000-8000-${String(i).padStart(12, '0')}`, credential_version: 1, outcome: 'rate_limited' }));
      const ok = await report(full);
      assert.equal(ok.statusCode, 200, ok.body.slice(0, 300));
      assert.deepEqual(ok.json(), { received: 1000 });
      const tooMany = await report([...full, full[0]]);
      assertErrorResponse(tooMany, 400, 'invalid_request');
      assert.match(tooMany.json<{ message: string }>().message, /reports/);
      assertErrorResponse(await report([]), 400, 'invalid_request');
      const cases: [unknown, RegExp][] = [
        [[{ ...one[0], outcome: 'exploded' }], /outcome/],
        [[{ ...one[0], credential_id: 'not-a-uuid' }], /credential_id/],
        [[{ ...one[0], credential_version: 0 }], /credential_version/],
        [[{ ...one[0], credential_version: '1' }], /credential_version/],
        [[{ ...one[0], status_code: 42 }], /status_code/],
        [[{ ...one[0], at: 'yesterday' }], /at/],
        [[{ credential_version: 1, outcome: 'ok' }], /credential_id/],
      ];
      for (const [reports, field] of cases) {
        const res = await report(reports);
        assertErrorResponse(res, 400, 'invalid_request', JSON.stringify(reports));
        assert.match(res.json<{ message: string }>().message, field);
      }
      const noBody = await ctx.app.inject({ method: 'POST', url: REPORT, headers: INTERNAL, payload: {} });
      assertErrorResponse(noBody, 400, 'invalid_request');
      assert.match(noBody.json<{ message: string }>().message, /reports/);
    });
  });
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
