/**
 * Provider secrets stay secret: after a full BYOK flow with planted keys, neither the
 * SQLite database file (nor its WAL) nor the captured server logs contain any of them,
 * and no response echoes one.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FAKE_PROVIDERS, startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';

const PLANTED = Object.fromEntries(
  FAKE_PROVIDERS.map((p) => [p, `sk-PLANTED-${p.replace(/[^a-z]/g, '')}-Zq81XbW04LmQe7TyUu3o`]),
) as Record<(typeof FAKE_PROVIDERS)[number], string>;
const PLANTED_REJECTED = 'sk-PLANTEDREJ-rejected-Hh5Kk2Jj9Ll0Pp7Oo3Ii';
const PLANTED_VALIDATE = 'sk-PLANTEDVAL-Mm4Nn8Bb2Vv6Cc1Xx5Zz9';

describe('no provider secret in the database file, the logs or a response', () => {
  let fake: FakeKeyProviders;
  let ctx: TestContext;
  let user: TestUser;
  const bodies: string[] = [];

  before(async () => {
    fake = await startFakeKeyProviders();
    ctx = await createTestContext({ dialect: 'sqlite', env: { ...fake.env, NEO_LOG_LEVEL: 'trace' } });
    user = await createUser(ctx);
    await setByok(ctx, user.owner);
    const call = async (method: 'GET' | 'PATCH' | 'POST' | 'DELETE', url: string, payload?: object) => {
      const res = await ctx.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });
      bodies.push(res.body);
      return res;
    };
    for (const p of FAKE_PROVIDERS) {
      const res = await call('PATCH', `/api/v1/byok/providers/${p}`, { api_key: PLANTED[p], display_name: `${p} key` });
      assert.equal(res.statusCode, 200, res.body);
    }
    assert.equal((await call('PATCH', '/api/v1/byok/providers/openai', { api_key: PLANTED_REJECTED })).statusCode, 400);
    assert.equal((await call('POST', '/api/v1/byok/providers/openai/validate', { api_key: PLANTED_REJECTED })).statusCode, 200);
    assert.equal((await call('POST', '/api/v1/byok/providers/anthropic/validate', { api_key: PLANTED_VALIDATE })).statusCode, 200);
    assert.equal((await call('GET', '/api/v1/byok/providers')).statusCode, 200);
    assert.equal((await call('PATCH', '/api/v1/byok/mode', { mode: 'byok' })).statusCode, 200);
    assert.equal((await call('GET', '/api/v1/byok/audit')).statusCode, 200);
    // Decrypting (as the resolver will) works, and is the only way back to the secret.
    const row = await ctx.database.db.selectFrom('provider_keys').selectAll().where('owner_id', '=', user.id).where('provider', '=', 'openai').executeTakeFirstOrThrow();
    assert.equal(await ctx.app.services.vault.decrypt(user.owner, 'openai', row.ciphertext, row.location), PLANTED.openai);
  });
  after(async () => {
    await ctx.close();
    await fake.close();
  });

  const secrets = () => [...Object.values(PLANTED), PLANTED_REJECTED, PLANTED_VALIDATE];

  it('the SQLite database file and its WAL hold no planted key', () => {
    const files = readdirSync(ctx.dataDir).filter((f) => f.startsWith('test.db'));
    assert.ok(files.includes('test.db'));
    let bytes = 0;
    for (const f of files) {
      const content = readFileSync(join(ctx.dataDir, f));
      bytes += content.length;
      for (const s of secrets()) {
        assert.equal(content.indexOf(Buffer.from(s, 'utf8')), -1, `${s} found in ${f}`);
        assert.equal(content.indexOf(Buffer.from(s.slice(10), 'utf8')), -1, `a long part of ${s} found in ${f}`);
      }
    }
    assert.ok(bytes > 0);
    // The stored rows exist (so the search above searched something real).
    return ctx.database.db
      .selectFrom('provider_keys')
      .select('ciphertext')
      .where('owner_id', '=', user.id)
      .execute()
      .then((rows) => assert.equal(rows.length, FAKE_PROVIDERS.length));
  });

  it('the captured logs of the whole flow hold no planted key and no provider error body', () => {
    const logs = ctx.logs.join('');
    assert.ok(ctx.logs.length > 10, 'the flow was logged');
    assert.match(logs, /provider key check/);
    for (const s of secrets()) {
      assert.ok(!logs.includes(s), `${s} in logs`);
      assert.ok(!logs.includes(s.slice(0, 12)), `start of ${s} in logs`);
    }
    assert.ok(!logs.includes('Incorrect API key provided'), "OpenAI's 401 body (it echoes the key) is never logged");
    assert.ok(!/bearer ey/i.test(logs), 'no JWT in logs');
  });

  it('no response echoes a planted key', () => {
    for (const b of bodies) for (const s of secrets()) assert.ok(!b.includes(s), `${s} in a response`);
    assert.ok(!bodies.join('').includes('Incorrect API key provided'));
  });
});
