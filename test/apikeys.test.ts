import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { sha256Hex } from '../src/lib/hash.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { assertErrorResponse, issueApiKey, securitySuite } from './helpers/security.ts';

const KEY_RE = /^neo_sk_[A-Za-z0-9]{32}$/;

/** Every row of every table, as text: a plaintext key must appear nowhere. */
async function dumpDatabase(ctx: TestContext): Promise<string> {
  const tables =
    ctx.database.dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(ctx.database.db)).rows
      : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(ctx.database.db)).rows;
  let out = '';
  for (const { name } of tables) {
    const rows = await sql`select * from ${sql.table(name)}`.execute(ctx.database.db);
    out += JSON.stringify(rows.rows);
  }
  return out;
}

for (const dialect of testDialects()) {
  describe(`Neo API keys [${dialect}]`, () => {
    let ctx: TestContext;
    const issued: string[] = [];
    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => {
      // No key value ever reaches a log line.
      const logs = ctx.logs.join('\n');
      for (const key of issued) assert.ok(!logs.includes(key), 'an API key appeared in the logs');
      await ctx.close();
    });

    const create = async (user: TestUser): Promise<string> => {
      const key = await issueApiKey(ctx, user);
      issued.push(key);
      return key;
    };

    it('POST creates the key once (201, full value), GET shows it masked', async () => {
      const user = await createUser(ctx);
      const res = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers });
      assert.equal(res.statusCode, 201);
      const body = res.json<{ key: string; created_at: string }>();
      issued.push(body.key);
      assert.deepEqual(Object.keys(body).sort(), ['created_at', 'key']);
      assert.match(body.key, KEY_RE);
      assert.ok(!Number.isNaN(Date.parse(body.created_at)) && body.created_at.endsWith('Z'));

      const got = await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: user.headers });
      assert.equal(got.statusCode, 200);
      assert.deepEqual(got.json(), { created_at: body.created_at, key: `neo_sk_…${body.key.slice(-4)}` });
      assert.ok(!got.body.includes(body.key.slice(7, 35)), 'GET must not reveal the key');
    });

    it('one key per user: a second POST → 409 already_exists, the first key keeps working', async () => {
      const user = await createUser(ctx);
      const key = await create(user);
      const again = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers });
      assertErrorResponse(again, 409, 'already_exists');
      const ok = await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': key } });
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.json<{ key: string }>().key, `neo_sk_…${key.slice(-4)}`);
    });

    it('one key per user holds under concurrent creates (exactly one 201)', async () => {
      const user = await createUser(ctx);
      const results = await Promise.all(
        Array.from({ length: 6 }, () => ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: user.headers })),
      );
      const statuses = results.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409]);
      for (const r of results) if (r.statusCode === 201) issued.push(r.json<{ key: string }>().key);
      const rows = await ctx.database.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).execute();
      assert.equal(rows.length, 1);
    });

    it('only the SHA-256 is stored: the database holds no plaintext key', async () => {
      const user = await createUser(ctx);
      const key = await create(user);
      const row = await ctx.database.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
      assert.equal(row.key_hash, sha256Hex(key));
      assert.equal(row.key_last4, key.slice(-4));
      const dump = await dumpDatabase(ctx);
      assert.ok(dump.includes(sha256Hex(key)), 'the dump covers api_keys');
      for (const k of issued) assert.ok(!dump.includes(k.slice(7)), 'a plaintext API key is stored in the database');
      if (ctx.database.dialect === 'sqlite') {
        // The raw database files too (main file and write-ahead log).
        for (const f of [ctx.database.describe, `${ctx.database.describe}-wal`]) {
          if (!existsSync(f)) continue;
          const bytes = readFileSync(f).toString('latin1');
          for (const k of issued) assert.ok(!bytes.includes(k.slice(7)), `a plaintext API key is in ${f}`);
        }
      }
    });

    it('rotation: new value, same id and created_at, the old value is refused at once', async () => {
      const user = await createUser(ctx);
      const oldKey = await create(user);
      const before = await ctx.database.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
      // Used once, so it sits in the authentication cache.
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': oldKey } })).statusCode, 200);

      const res = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey/rotate', headers: { 'x-api-key': oldKey } });
      assert.equal(res.statusCode, 200);
      const body = res.json<{ key: string; created_at: string }>();
      issued.push(body.key);
      assert.match(body.key, KEY_RE);
      assert.notEqual(body.key, oldKey);
      assert.equal(body.created_at, before.created_at);

      const afterRow = await ctx.database.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
      assert.equal(afterRow.id, before.id);
      assert.equal(afterRow.created_at, before.created_at);
      assert.equal(afterRow.key_hash, sha256Hex(body.key));

      assertErrorResponse(
        await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': oldKey } }),
        401,
        'unauthorized',
      );
      const withNew = await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': body.key } });
      assert.equal(withNew.statusCode, 200);
      assert.deepEqual(withNew.json(), { created_at: before.created_at, key: `neo_sk_…${body.key.slice(-4)}` });
    });

    it('rotate, GET and DELETE without a key → 404 not_exists', async () => {
      const user = await createUser(ctx);
      for (const [method, url] of [
        ['GET', '/api/v1/user/apikey'],
        ['POST', '/api/v1/user/apikey/rotate'],
        ['DELETE', '/api/v1/user/apikey'],
      ] as const) {
        assertErrorResponse(await ctx.app.inject({ method, url, headers: user.headers }), 404, 'not_exists', `${method} ${url}`);
      }
    });

    it('DELETE revokes the key at once; a new key can then be created', async () => {
      const user = await createUser(ctx);
      const key = await create(user);
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': key } })).statusCode, 200);
      const del = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/user/apikey', headers: { 'x-api-key': key } });
      assert.equal(del.statusCode, 200);
      assert.deepEqual(del.json(), { deleted: true });
      assertErrorResponse(
        await ctx.app.inject({ method: 'GET', url: '/api/v1/teams', headers: { 'x-api-key': key } }),
        401,
        'unauthorized',
      );
      const rows = await ctx.database.db.selectFrom('api_keys').select('id').where('user_id', '=', user.id).execute();
      assert.equal(rows.length, 0);
      const again = await create(user);
      assert.notEqual(again, key);
    });

    it('an API key authenticates /api/v1 routes as its user', async () => {
      const user = await createUser(ctx, uniqueEmail('keyuser'));
      const key = await create(user);
      const solo = await ctx.app.inject({ method: 'GET', url: '/api/v1/teams', headers: { 'x-api-key': key } });
      assertErrorResponse(solo, 404, 'not_exists');
      const created = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/teams',
        headers: { 'x-api-key': key },
        payload: { name: 'Via key' },
      });
      assert.equal(created.statusCode, 201);
      const members = await ctx.app.inject({ method: 'GET', url: '/api/v1/teams/members', headers: { 'x-api-key': key } });
      assert.equal(members.statusCode, 200);
      const list = members.json<{ members: { email: string; role: string; status: string }[] }>().members;
      assert.deepEqual(
        list.map((m) => [m.email, m.role, m.status]),
        [[user.email, 'admin', 'active']],
      );
    });

    it('the OpenAPI document describes the four operations under "API Keys"', async () => {
      const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      const ops = [
        ['get', 'get-v1-user-apikey', '200'],
        ['post', 'post-v1-user-apikey', '201'],
        ['delete', 'delete-v1-user-apikey', '200'],
      ] as const;
      for (const [m, id, ok] of ops) {
        const op = doc.paths['/api/v1/user/apikey'][m];
        assert.equal(op.operationId, id);
        assert.deepEqual(op.tags, ['API Keys']);
        assert.deepEqual(op.security, [{ BearerAuth: [] }, { ApiKeyAuth: [] }]);
        assert.ok(op.responses[ok] && op.responses['401']);
      }
      const rotate = doc.paths['/api/v1/user/apikey/rotate'].post;
      assert.equal(rotate.operationId, 'post-v1-user-apikey-rotate');
      assert.ok(rotate.responses['404']);
    });

    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/user/apikey' });
    securitySuite(() => ctx, { method: 'POST', url: '/api/v1/user/apikey' });
    securitySuite(() => ctx, { method: 'POST', url: '/api/v1/user/apikey/rotate' });
    securitySuite(() => ctx, { method: 'DELETE', url: '/api/v1/user/apikey' });
  });
}
