/**
 * Provider key lifecycle over HTTP: create, update (same id and created_at), listing
 * without secrets, delete with remaining_keys and the automatic switch to neo, 404 for a
 * missing key, the audit trail, and bad input (CONTRACT.md section 4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, setByok, type TestUser } from './helpers/fixtures.ts';

for (const dialect of testDialects()) {
  describe(`BYOK provider keys [${dialect}]`, () => {
    let fake: FakeKeyProviders;
    let ctx: TestContext;
    before(async () => {
      fake = await startFakeKeyProviders();
      ctx = await createTestContext({ dialect, env: fake.env });
    });
    after(async () => {
      await ctx.close();
      await fake.close();
    });

    async function byokUser(): Promise<TestUser> {
      const u = await createUser(ctx);
      await setByok(ctx, u.owner);
      return u;
    }
    const req = (u: TestUser, method: 'GET' | 'PATCH' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
      ctx.app.inject({ method, url, headers: u.headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

    it('creates, lists without the secret, and updates keeping id and created_at', async () => {
      const u = await byokUser();
      const first = await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-first-key-AAAA1111', display_name: 'Prod' });
      assert.equal(first.statusCode, 200);
      const k1 = first.json().provider_key;
      assert.match(k1.id, /^[0-9a-f-]{36}$/);
      assert.equal(k1.key_hint, 'sk-…1111');
      assert.equal(k1.display_name, 'Prod');
      assert.equal(k1.created_at, k1.updated_at);

      await new Promise((r) => setTimeout(r, 5));
      const second = await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-second-key-BBBB2222' });
      assert.equal(second.statusCode, 200);
      const k2 = second.json().provider_key;
      assert.equal(k2.id, k1.id, 'same id');
      assert.equal(k2.created_at, k1.created_at, 'same created_at');
      assert.ok(k2.updated_at > k1.updated_at);
      assert.equal(k2.key_hint, 'sk-…2222', 'the secret was replaced');
      assert.equal(k2.display_name, 'Prod', 'an omitted display_name keeps the stored one');
      const cleared = await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-second-key-BBBB2222', display_name: null });
      assert.equal(cleared.json().provider_key.display_name, null, 'null clears it');

      await req(u, 'PATCH', '/api/v1/byok/providers/anthropic', { api_key: 'sk-ant-api03-zzzzzzzzzzzz9999' });
      const list = await req(u, 'GET', '/api/v1/byok/providers');
      assert.equal(list.statusCode, 200);
      const keys = list.json().provider_keys;
      assert.deepEqual(keys.map((k: { provider: string }) => k.provider), ['anthropic', 'openai']);
      for (const k of keys) {
        assert.equal(k.keyless, false, 'a stored key');
        assert.deepEqual(Object.keys(k).sort(), [
          'created_at',
          'credential_version',
          'display_name',
          'expires_at',
          'id',
          'is_validated',
          'key_hint',
          'keyless',
          'last_check_message',
          'last_check_outcome',
          'last_checked_at',
          'last_used_at',
          'location',
          'models_count',
          'provider',
          'status',
          'updated_at',
          'validated_at',
        ]);
      }
      assert.ok(!list.body.includes('second-key'));
      assert.ok(!list.body.includes('zzzzzzzz'));

      const audit = (await req(u, 'GET', '/api/v1/byok/audit')).json();
      assert.deepEqual(audit.data.map((e: { action: string }) => e.action), ['provider_key.created', 'provider_key.updated', 'provider_key.updated', 'provider_key.created']);
      const e = audit.data[0];
      assert.deepEqual(e.actor, { id: u.id, email: u.email });
      assert.equal(e.provider, 'anthropic');
      assert.equal(e.from_mode, null);
      assert.ok(e.request_id);
    });

    it('delete: remaining_keys counts down, the last delete in byok switches to neo, 404 when no key', async () => {
      const u = await byokUser();
      await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-openai-delete-test-0001' });
      await req(u, 'PATCH', '/api/v1/byok/providers/xai', { api_key: 'xai-delete-test-0000000002' });
      assert.equal((await req(u, 'PATCH', '/api/v1/byok/mode', { mode: 'byok' })).statusCode, 200);

      const missing = await req(u, 'DELETE', '/api/v1/byok/providers/google');
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'not_exists');

      const d1 = await req(u, 'DELETE', '/api/v1/byok/providers/openai');
      assert.equal(d1.statusCode, 200);
      assert.deepEqual(d1.json(), { deleted: true, provider: 'openai', remaining_keys: 1, auto_switched: false });
      assert.equal((await req(u, 'GET', '/api/v1/byok/mode')).json().mode, 'byok');

      const d2 = await req(u, 'DELETE', '/api/v1/byok/providers/xai');
      assert.deepEqual(d2.json(), { deleted: true, provider: 'xai', remaining_keys: 0, auto_switched: true });
      const mode = (await req(u, 'GET', '/api/v1/byok/mode')).json();
      assert.equal(mode.mode, 'neo');
      assert.equal(mode.provider_keys, 0);

      const again = await req(u, 'DELETE', '/api/v1/byok/providers/xai');
      assert.equal(again.statusCode, 404);

      const audit = (await req(u, 'GET', '/api/v1/byok/audit')).json();
      assert.deepEqual(audit.data.slice(0, 2).map((e: { action: string; from_mode: string; to_mode: string; provider: string }) => [e.action, e.provider, e.from_mode, e.to_mode]), [
        ['mode.auto_switched', 'xai', 'byok', 'neo'],
        ['provider_key.deleted', 'xai', null, null],
      ]);
      assert.equal(audit.data[0].request_id, d2.headers['x-request-id']);
    });

    it('the last delete in neo mode does not switch anything', async () => {
      const u = await byokUser();
      await req(u, 'PATCH', '/api/v1/byok/providers/google', { api_key: 'AIzaSyNeoModeDeleteTest01' });
      const d = await req(u, 'DELETE', '/api/v1/byok/providers/google');
      assert.deepEqual(d.json(), { deleted: true, provider: 'google', remaining_keys: 0, auto_switched: false });
    });

    it('a team admin\'s changes are the team\'s: another admin sees them, members see the mode', async () => {
      const a1 = await createUser(ctx);
      const a2 = await createUser(ctx);
      const m = await createUser(ctx);
      const team = await createTeam(ctx, [
        { user: a1, role: 'admin' },
        { user: a2, role: 'admin' },
        { user: m, role: 'member' },
      ]);
      await setByok(ctx, team.owner);
      await req(a1, 'PATCH', '/api/v1/byok/providers/openrouter', { api_key: 'sk-or-v1-teamkey-000000000000' });
      await req(a1, 'PATCH', '/api/v1/byok/mode', { mode: 'byok' });
      const list = (await req(a2, 'GET', '/api/v1/byok/providers')).json();
      assert.deepEqual(list.provider_keys.map((k: { provider: string }) => k.provider), ['openrouter']);
      const mv = (await req(m, 'GET', '/api/v1/byok/mode')).json();
      assert.deepEqual(mv, { mode: 'byok', resource_type: 'team', resource_id: team.id, byok_enabled: true, provider_keys: 1 });
      const audit = (await req(a2, 'GET', '/api/v1/byok/audit')).json();
      assert.equal(audit.data[1].actor.email, a1.email);
    });

    it('audit pagination: limit, offset, has_more, total; bad query → 400', async () => {
      const u = await byokUser();
      for (let i = 0; i < 3; i++) await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: `sk-openai-audit-page-${i}000000` });
      const p1 = (await req(u, 'GET', '/api/v1/byok/audit?limit=2')).json();
      assert.equal(p1.data.length, 2);
      assert.equal(p1.total, 3);
      assert.equal(p1.has_more, true);
      const p2 = (await req(u, 'GET', '/api/v1/byok/audit?limit=2&offset=2')).json();
      assert.equal(p2.data.length, 1);
      assert.equal(p2.has_more, false);
      assert.equal(p2.data[0].action, 'provider_key.created');
      for (const q of ['limit=0', 'limit=201', 'offset=-1', 'limit=abc', 'foo=1']) {
        const res = await req(u, 'GET', `/api/v1/byok/audit?${q}`);
        assert.equal(res.statusCode, 400, q);
        assert.equal(res.json().code, 'invalid_request');
      }
    });

    it('bad input → 400 invalid_request naming the field, nothing saved, no provider call', async () => {
      const u = await byokUser();
      const calls = fake.requests.length;
      const cases: { provider: string; payload: unknown; field: RegExp }[] = [
        { provider: 'not-a-provider', payload: { api_key: 'sk-x' }, field: /provider/ },
        { provider: 'OpenAI', payload: { api_key: 'sk-x' }, field: /provider/ },
        { provider: 'openai', payload: { api_key: '' }, field: /api_key/ },
        { provider: 'openai', payload: { api_key: '   ' }, field: /api_key/ },
        { provider: 'openai', payload: { api_key: 'x'.repeat(16385) }, field: /api_key/ },
        { provider: 'openai', payload: {}, field: /api_key/ },
        { provider: 'openai', payload: { api_key: 123 }, field: /api_key/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', display_name: 'd'.repeat(129) }, field: /display_name/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', display_name: 'Prod\u0000' }, field: /display_name/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', display_name: 'two\nlines' }, field: /display_name/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', display_name: 'tab\there' }, field: /display_name/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', display_name: 'del\u007f' }, field: /display_name/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', location: 5 }, field: /location/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', location: ['us'] }, field: /location/ },
        { provider: 'openai', payload: { api_key: 'sk-ok-key-123456789', surprise: true }, field: /does not accept; accepted fields: api_key, (display_name, location, expires_at|location)$/ },
        { provider: 'google-vertex', payload: { api_key: '{"type": "service_account", "client_email": ' }, field: /api_key/ },
        { provider: 'google-vertex', payload: { api_key: JSON.stringify({ type: 'authorized_user', client_email: 'a@b.iam.gserviceaccount.com' }) }, field: /api_key/ },
        { provider: 'azure-foundry', payload: { api_key: 'a'.repeat(32), location: 'https://evil.example.com' }, field: /location/ },
        { provider: 'azure-foundry', payload: { api_key: 'a'.repeat(32), location: 'http://169.254.169.254' }, field: /location/ },
        { provider: 'azure-foundry', payload: { api_key: 'a'.repeat(32) }, field: /location/ },
        { provider: 'amazon-bedrock', payload: { api_key: 'ABSKbedrockkey0123456789', location: 'mars-central-9x' }, field: /location/ },
      ];
      for (const c of cases) {
        for (const path of [`/api/v1/byok/providers/${c.provider}`, `/api/v1/byok/providers/${c.provider}/validate`]) {
          if (path.endsWith('/validate') && (c.payload as { display_name?: unknown }).display_name !== undefined) continue;
          const res = await req(u, path.endsWith('/validate') ? 'POST' : 'PATCH', path, c.payload);
          assert.equal(res.statusCode, 400, `${path} ${JSON.stringify(c.payload).slice(0, 80)}: ${res.body}`);
          const body = res.json();
          assert.equal(body.code, 'invalid_request');
          assert.match(body.message, c.field, `${path}: ${body.message}`);
          assert.ok(!body.message.includes('a@b.iam') && !body.message.includes('authorized_user'), 'the submitted credential is not echoed');
        }
      }
      assert.equal(fake.requests.length, calls, 'malformed input never leaves the server');
      assert.deepEqual((await req(u, 'GET', '/api/v1/byok/providers')).json().provider_keys, []);
    });

    it('display_name is trimmed; blank after trimming is null', async () => {
      const u = await byokUser();
      const trimmed = await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-trim-key-CCCC3333', display_name: '  Prod EU  ' });
      assert.equal(trimmed.statusCode, 200);
      assert.equal(trimmed.json().provider_key.display_name, 'Prod EU');
      const blank = await req(u, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-proj-trim-key-CCCC3333', display_name: ' \u00a0 ' });
      assert.equal(blank.json().provider_key.display_name, null);
    });

    it('the OpenAPI document names every BYOK operation with its schemas', async () => {
      const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      const ops: [string, string, string][] = [
        ['/api/v1/byok/providers', 'get', 'get-v1-byok-providers'],
        ['/api/v1/byok/providers/{provider}', 'patch', 'patch-v1-byok-providers-provider'],
        ['/api/v1/byok/providers/{provider}', 'delete', 'delete-v1-byok-providers-provider'],
        ['/api/v1/byok/providers/{provider}/validate', 'post', 'post-v1-byok-providers-provider-validate'],
        ['/api/v1/byok/mode', 'get', 'get-v1-byok-mode'],
        ['/api/v1/byok/mode', 'patch', 'patch-v1-byok-mode'],
        ['/api/v1/byok/audit', 'get', 'get-v1-byok-audit'],
      ];
      for (const [path, method, id] of ops) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method} ${path}`);
        assert.equal(op.operationId, id);
        assert.deepEqual(op.security, [{ BearerAuth: [] }, { ApiKeyAuth: [] }]);
        assert.ok(op.responses['401'] && op.responses['200']);
      }
      const pk = doc.components.schemas.ProviderKey;
      assert.deepEqual([...pk.required].sort(), [
        'created_at',
        'expires_at',
        'id',
        'is_validated',
        'key_hint',
        'last_check_outcome',
        'last_checked_at',
        'last_used_at',
        'provider',
        'status',
        'updated_at',
      ]);
      assert.equal(pk.properties.provider.enum.length, 9);
      assert.deepEqual(doc.components.schemas.ValidationResult.required, ['valid']);
      assert.ok(doc.paths['/api/v1/byok/providers/{provider}'].delete.responses['404']);
    });
  });
}
