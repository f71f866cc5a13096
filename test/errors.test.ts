/**
 * Every failure is the seed's ErrorResponse (CONTRACT.md section 9), including Fastify's
 * own: schema validation, malformed or empty JSON, wrong content type, body too large,
 * unknown route, an internal fault (500, cause logged, never returned) and an
 * unreachable database (503 with Retry-After). `error_id` always equals X-Request-Id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { ERROR_CODES, type ErrorCode } from '../src/errors/index.ts';
import { buildApp, type App } from '../src/app.ts';
import { createTestContext, signTestJwt, TEST_SECRETS_ENV, testDialects, UNTHROTTLED_ENV, type TestContext } from './helpers/context.ts';
import { openTestDatabase } from './helpers/databases.ts';
import { createTeam, createUser, setByok, type TestUser } from './helpers/fixtures.ts';

/** Asserts the exact ErrorResponse shape, status, code and the error_id/X-Request-Id pair. */
function assertError(res: LightMyRequestResponse, status: number, code: ErrorCode): Record<string, string> {
  assert.equal(res.statusCode, status, `status (body: ${res.body.slice(0, 300)})`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json<Record<string, string>>();
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'error_id', 'kind', 'message']);
  const def = ERROR_CODES[code];
  assert.equal(body.code, code);
  assert.equal(body.kind, def.kind);
  assert.equal(body.error, def.title);
  assert.ok(body.message!.startsWith(`${def.kind}: `), `message "${body.message}" starts with the kind`);
  assert.ok(body.message!.length > def.kind.length + 2, 'message has a detail');
  assert.ok(body.error_id, 'error_id is set');
  assert.equal(body.error_id, res.headers['x-request-id'], 'error_id equals X-Request-Id');
  return body;
}

for (const dialect of testDialects()) {
  describe(`ErrorResponse for every client error [${dialect}]`, () => {
    let ctx: TestContext;
    let user: TestUser;
    const json = { 'content-type': 'application/json' };

    before(async () => {
      ctx = await createTestContext({ dialect });
      user = await createUser(ctx);
      await setByok(ctx, user.owner);
    });
    after(async () => ctx.close());

    it('400 invalid_request: schema validation on a real route names the field', async () => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: { mode: 'sometimes' } });
      const body = assertError(res, 400, 'invalid_request');
      assert.match(body.message!, /mode/);
      assert.match(body.message!, /neo, byok/);
    });

    it('400 invalid_request: an unknown field or a wrong type is refused, never coerced', async () => {
      const extra = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: { mode: 'neo', colour: 'blue' } });
      const extraMsg = assertError(extra, 400, 'invalid_request').message!;
      assert.match(extraMsg, /does not accept; accepted fields: mode$/);
      assert.doesNotMatch(extraMsg, /colour/, 'the submitted field name is never echoed');
      const missing = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: {} });
      assert.match(assertError(missing, 400, 'invalid_request').message!, /mode/);
      const typed = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: user.headers, payload: { mode: ['neo'] } });
      assertError(typed, 400, 'invalid_request');
    });

    it('400 invalid_request: malformed JSON', async () => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, ...json }, payload: '{"mode": ' });
      assert.match(assertError(res, 400, 'invalid_request').message!, /not valid JSON/);
    });

    it('400 invalid_request: an empty JSON body', async () => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, ...json }, payload: '' });
      assert.match(assertError(res, 400, 'invalid_request').message!, /JSON body is empty/);
    });

    it('401 unauthorized: no credentials, a bad token, a malformed API key', async () => {
      const none = await ctx.app.inject({ method: 'GET', url: '/api/v1/user' });
      assertError(none, 401, 'unauthorized');
      const forged = await signTestJwt(user.email, { sub: user.sub, secret: 'another-secret-0123456789abcdefghijklmnop' });
      const bad = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { authorization: `Bearer ${forged}` } });
      assertError(bad, 401, 'unauthorized');
      const key = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { 'x-api-key': 'neo_sk_short' } });
      assertError(key, 401, 'unauthorized');
    });

    it('403 forbidden: a team member cannot change the mode', async () => {
      const admin = await createUser(ctx);
      const member = await createUser(ctx);
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
      ]);
      await setByok(ctx, team.owner);
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: member.headers, payload: { mode: 'neo' } });
      assertError(res, 403, 'forbidden');
    });

    it('404 not_exists: an unknown route, with or without credentials', async () => {
      const anon = await ctx.app.inject({ method: 'GET', url: '/api/v1/does-not-exist?x=1' });
      const body = assertError(anon, 404, 'not_exists');
      assert.match(body.message!, /GET \/api\/v1\/does-not-exist$/, 'the query string is not echoed');
      const authed = await ctx.app.inject({ method: 'POST', url: '/nowhere', headers: user.headers, payload: {} });
      assertError(authed, 404, 'not_exists');
      const method = await ctx.app.inject({ method: 'DELETE', url: '/healthz' });
      assertError(method, 404, 'not_exists');
    });

    it('409 already_exists: a second Neo API key', async () => {
      const someone = await createUser(ctx);
      const first = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: someone.headers });
      assert.equal(first.statusCode, 201, first.body);
      const second = await ctx.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: someone.headers });
      const body = assertError(second, 409, 'already_exists');
      assert.ok(!body.message!.includes(first.json<{ key: string }>().key), 'the existing key is not echoed');
    });

    it('413 payload_too_large: a body over 64 KiB, never echoed', async () => {
      const filler = 'Z'.repeat(65 * 1024);
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, ...json }, payload: JSON.stringify({ mode: filler }) });
      const body = assertError(res, 413, 'payload_too_large');
      assert.match(body.message!, /64 KiB/);
      assert.ok(!res.body.includes('ZZZZZZZZ'));
      // Just under the limit is parsed (and then refused by the schema, not by size).
      const under = 'Z'.repeat(60 * 1024);
      const ok = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, ...json }, payload: JSON.stringify({ mode: under }) });
      assertError(ok, 400, 'invalid_request');
    });

    it('415 unsupported_media_type: a text/plain body', async () => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: { ...user.headers, 'content-type': 'text/plain' }, payload: 'mode=byok' });
      assert.match(assertError(res, 415, 'unsupported_media_type').message!, /application\/json/);
    });

    it('error_id is the caller-supplied X-Request-Id when it is safe', async () => {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { 'x-request-id': 'trace-42.abc:def' } });
      const body = assertError(res, 401, 'unauthorized');
      assert.equal(body.error_id, 'trace-42.abc:def');
      const unsafe = await ctx.app.inject({ method: 'GET', url: '/api/v1/user', headers: { 'x-request-id': 'x'.repeat(200) } });
      const b2 = assertError(unsafe, 401, 'unauthorized');
      assert.match(b2.error_id!, /^[0-9a-f-]{36}$/, 'an unsafe id is replaced by a generated one');
    });
  });

  describe(`ErrorResponse 429 [${dialect}]`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect, env: { NEO_RATE_LIMIT: 'on', NEO_RATE_LIMIT_WRITES: '1' } });
    });
    after(async () => ctx.close());

    it('429 rate_limited with Retry-After', async () => {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      const first = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: u.headers, payload: { mode: 'neo' } });
      assert.equal(first.statusCode, 200, first.body);
      const second = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: u.headers, payload: { mode: 'neo' } });
      assertError(second, 429, 'rate_limited');
      const retry = Number(second.headers['retry-after']);
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After is 1..60 s (got ${second.headers['retry-after']})`);
    });
  });

  describe(`ErrorResponse 500 and 503 [${dialect}]`, () => {
    const CAUSE = 'boom: connection string postgres://admin:hunter2@db.internal/neo';

    /** The real app plus routes that fail on purpose (added before ready). */
    async function appWithFaults(): Promise<{ app: App; logs: string[]; database: DatabaseHandle; close(): Promise<void> }> {
      const dir = mkdtempSync(join(tmpdir(), 'neo-errors-'));
      const testDb = await openTestDatabase(dialect, dir);
      const config = loadConfig({
        NEO_DATA_DIR: dir,
        NEO_DATABASE_URL: testDb.url,
        ...TEST_SECRETS_ENV,
        ...UNTHROTTLED_ENV,
      });
      const database = await openDatabase(config.databaseUrl, { poolSize: 2 });
      const logs: string[] = [];
      const logStream = new Writable({
        write(chunk: Buffer, _enc, cb) {
          logs.push(chunk.toString('utf8'));
          cb();
        },
      });
      const app = await buildApp({ config, database, logStream });
      app.get('/test/explode', { config: { auth: 'public' } }, async () => {
        throw new Error(CAUSE);
      });
      app.get('/api/v1/test-explode', async () => {
        throw Object.assign(new TypeError(CAUSE), { code: 'ERR_SOMETHING_INTERNAL' });
      });
      await app.ready();
      return {
        app,
        logs,
        database,
        close: async () => {
          await app.close();
          await database.close().catch(() => {});
          await testDb.drop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }

    it('500 internal: the cause is logged under the error_id and never returned', async () => {
      const t = await appWithFaults();
      try {
        for (const [url, headers] of [
          ['/test/explode', {}],
          ['/api/v1/test-explode', { authorization: `Bearer ${await signTestJwt('boom@example.com')}` }],
        ] as const) {
          const res = await t.app.inject({ method: 'GET', url, headers });
          const body = assertError(res, 500, 'internal');
          assert.match(body.message!, /quote the error_id/);
          for (const secret of ['hunter2', 'boom', 'db.internal', 'TypeError', 'ERR_SOMETHING_INTERNAL', 'stack']) {
            assert.ok(!res.body.includes(secret), `${url}: response does not contain "${secret}"`);
            assert.ok(!JSON.stringify(res.headers).includes(secret), `${url}: headers do not contain "${secret}"`);
          }
          const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.error_id === body.error_id && l.err);
          assert.ok(line, `${url}: a log line carries error_id ${body.error_id}`);
          assert.equal((line.err as { message: string }).message, CAUSE, 'the log line has the cause');
          assert.equal(line.level, 50, 'logged at error level');
        }
      } finally {
        await t.close();
      }
    });

    it('503 unavailable with Retry-After when the database is gone (readiness)', async () => {
      const t = await appWithFaults();
      try {
        assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
        await t.database.close();
        const res = await t.app.inject({ method: 'GET', url: '/readyz' });
        const body = assertError(res, 503, 'unavailable');
        assert.equal(res.headers['retry-after'], '5');
        assert.match(body.message!, /database is unreachable/);
      } finally {
        await t.close();
      }
    });
  });
}

/**
 * A PostgreSQL server that stops answering: the app reaches PostgreSQL through a TCP
 * proxy that is shut down mid-flight, so every query meets a reset or refused connection.
 */
if (process.env.NEO_TEST_DATABASE_URL) {
  describe('ErrorResponse 503 when PostgreSQL becomes unreachable [postgres]', () => {
    it('an authenticated request answers 503 unavailable with Retry-After, and readiness too', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'neo-errors-pg-'));
      const testDb = await openTestDatabase('postgres', dir);
      const target = new URL(testDb.url);
      const sockets = new Set<Socket>();
      const proxy: Server = createServer((client) => {
        const upstream = new Socket();
        upstream.connect(Number(target.port || 5432), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
      const port = (proxy.address() as { port: number }).port;
      const viaProxy = new URL(testDb.url);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(port);
      const config = loadConfig({
        NEO_DATA_DIR: dir,
        NEO_DATABASE_URL: viaProxy.toString(),
        ...TEST_SECRETS_ENV,
        ...UNTHROTTLED_ENV,
      });
      const database = await openDatabase(config.databaseUrl, { poolSize: 2 });
      const app = await buildApp({ config, database, quiet: true });
      await app.ready();
      try {
        const token = await signTestJwt('pg-down@example.com');
        const ok = await app.inject({ method: 'GET', url: '/api/v1/user', headers: { authorization: `Bearer ${token}` } });
        assert.equal(ok.statusCode, 200, ok.body);

        await new Promise<void>((r) => {
          proxy.close(() => r());
          for (const s of sockets) s.destroy();
        });
        // A new identity, so no cache can answer: the request must reach the database.
        const fresh = await signTestJwt('pg-down-2@example.com');
        const res = await app.inject({ method: 'GET', url: '/api/v1/user', headers: { authorization: `Bearer ${fresh}` } });
        const body = assertError(res, 503, 'unavailable');
        assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After is set');
        assert.ok(!body.message!.includes('127.0.0.1') && !body.message!.includes(String(port)), 'no connection details');
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        assertError(ready, 503, 'unavailable');
      } finally {
        await app.close();
        await database.close().catch(() => {});
        await testDb.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
