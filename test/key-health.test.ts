/**
 * Key health (issue 16, docs/key-health.md) at the HTTP level, on every dialect, with a
 * controlled clock: key objects with status and times, resolve naming the key and its
 * version, `last_used_at` coalesced off the request path, `expires_at` validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProviderName } from '../src/providers/types.ts';
import { TEST_INTERNAL_TOKEN, testDialects, type TestContext } from './helpers/context.ts';
import type { TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, setMode, type ProviderFakes } from './helpers/model-fixtures.ts';
import { assertErrorResponse } from './helpers/security.ts';
import { soloByokUser, useKeyHealthWorld, type KeyView } from './helpers/key-health.ts';

export const INTERNAL = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };

for (const dialect of testDialects()) {
  describe(`key health: key objects and resolve [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let nowMs = Date.parse('2026-12-01T10:00:00.000Z');
    const iso = () => new Date(nowMs).toISOString();

    useKeyHealthWorld(dialect, () => nowMs, (w) => ({ ctx, fakes } = w));

    const solo = () => soloByokUser(ctx, 'health');
    const save = (user: TestUser, provider: ProviderName, payload: Record<string, unknown>) =>
      ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: user.headers, payload });
    async function keys(user: TestUser): Promise<KeyView[]> {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
      assert.equal(res.statusCode, 200, res.body);
      return res.json<{ provider_keys: KeyView[] }>().provider_keys;
    }
    const resolve = async (user: TestUser, model: string) => {
      const res = await ctx.app.inject({ method: 'POST', url: '/internal/v1/credentials/resolve', headers: INTERNAL, payload: { user_id: user.id, model } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json<{ provider: string; credential_id: string | null; credential_version: number | null; credential: { api_key: string } | null }>();
    };

    it('a saved key shows status, last check, no use yet; resolve names its id and version; a replaced secret gets a new version', async () => {
      const user = await solo();
      const cred = acceptedCredential(fakes, 'openai');
      const res = await save(user, 'openai', { api_key: cred.api_key });
      assert.equal(res.statusCode, 200, res.body);
      const saved = res.json<{ provider_key: KeyView }>().provider_key;
      assert.equal(saved.status, 'active');
      assert.equal(saved.is_validated, true);
      assert.equal(saved.last_checked_at, iso());
      assert.equal(saved.last_check_outcome, 'accepted');
      assert.equal(saved.last_used_at, null);
      assert.equal(saved.expires_at, null);
      assert.equal(saved.credential_version, 1);
      await setMode(ctx, user, 'byok');

      const r = await resolve(user, 'gpt-5');
      assert.equal(r.credential_id, saved.id);
      assert.equal(r.credential_version, 1);

      const again = await save(user, 'openai', { api_key: cred.api_key + 'X' });
      assert.equal(again.json<{ provider_key: KeyView }>().provider_key.credential_version, 2);
      assert.equal(again.json<{ provider_key: KeyView }>().provider_key.id, saved.id);
      assert.equal((await resolve(user, 'gpt-5')).credential_version, 2);
    });

    it('last_used_at is written by the batched flush, at most once a minute per key, never by resolve itself', async () => {
      const user = await solo();
      await save(user, 'openai', { api_key: acceptedCredential(fakes, 'openai').api_key });
      await setMode(ctx, user, 'byok');
      const usedAt = iso();
      await resolve(user, 'gpt-5');
      // Nothing written on the request path.
      assert.equal((await keys(user))[0]!.last_used_at, null);
      await ctx.app.services.usage.flush();
      assert.equal((await keys(user))[0]!.last_used_at, usedAt);

      nowMs += 20_000;
      await resolve(user, 'gpt-5');
      await ctx.app.services.usage.flush();
      assert.equal((await keys(user))[0]!.last_used_at, usedAt, 'a second use within the minute is not written');

      nowMs += 45_000;
      await resolve(user, 'gpt-5');
      await ctx.app.services.usage.flush();
      assert.equal((await keys(user))[0]!.last_used_at, iso());
    });

    it('an inconclusive save is unverified', async () => {
      const user = await solo();
      const res = await save(user, 'anthropic', { api_key: 'sk-ant-api03-x-ratelimited-0123456789' });
      assert.equal(res.statusCode, 200, res.body);
      const k = res.json<{ provider_key: KeyView }>().provider_key;
      assert.equal(k.status, 'unverified');
      assert.equal(k.is_validated, false);
      assert.equal(k.last_check_outcome, 'rate_limited');
    });

    it('expires_at: a future RFC 3339 time is kept; past or malformed → 400 naming the field, nothing saved; null clears', async () => {
      const user = await solo();
      const cred = acceptedCredential(fakes, 'openai');
      const past = await save(user, 'openai', { api_key: cred.api_key, expires_at: '2020-01-01T00:00:00Z' });
      assertErrorResponse(past, 400, 'invalid_request');
      assert.match(past.json<{ message: string }>().message, /expires_at must be in the future/);
      const bad = await save(user, 'openai', { api_key: cred.api_key, expires_at: 'next tuesday' });
      assertErrorResponse(bad, 400, 'invalid_request');
      assert.match(bad.json<{ message: string }>().message, /expires_at/);
      const notString = await save(user, 'openai', { api_key: cred.api_key, expires_at: 12 });
      assertErrorResponse(notString, 400, 'invalid_request');
      assert.match(notString.json<{ message: string }>().message, /expires_at/);
      assert.deepEqual(await keys(user), []);

      const at = new Date(nowMs + 30 * 86_400_000).toISOString();
      const ok = await save(user, 'openai', { api_key: cred.api_key, expires_at: at.replace('.000Z', 'Z') });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json<{ provider_key: KeyView }>().provider_key.expires_at, at);
      const kept = await save(user, 'openai', { api_key: cred.api_key });
      assert.equal(kept.json<{ provider_key: KeyView }>().provider_key.expires_at, at);
      const cleared = await save(user, 'openai', { api_key: cred.api_key, expires_at: null });
      assert.equal(cleared.json<{ provider_key: KeyView }>().provider_key.expires_at, null);
    });
  });
}
