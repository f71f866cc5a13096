/**
 * Moving a SQLite deployment to PostgreSQL (issue 6, item 7): provider keys of every
 * kind are saved through the real API (against the provider fakes) on SQLite, then
 * `neo-byok admin export` → `neo-byok admin import` (real CLI processes) copies the
 * database, and on the new database every provider key still decrypts to what the user
 * pasted, the resolve endpoint hands it out, and API keys still authenticate.
 * The target is PostgreSQL when NEO_TEST_DATABASE_URL is set, and SQLite always.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { DUMP_TABLES } from '../src/db/dump.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { buildApp, type App } from '../src/app.ts';
import { PROVIDERS, type ProviderName } from '../src/providers/types.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_SECRETS_ENV, testDialects, UNTHROTTLED_ENV, type TestContext } from './helpers/context.ts';
import { createPostgresDatabase, type TestDatabase } from './helpers/databases.ts';
import { createTeam, createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, saveKey, setMode, startProviderFakes, type Credential, type ProviderFakes } from './helpers/model-fixtures.ts';
import { runCli } from './helpers/processes.ts';

type Rows = Record<string, Record<string, unknown>[]>;

async function allRows(db: DatabaseHandle['db']): Promise<Rows> {
  const out: Rows = {};
  for (const t of DUMP_TABLES) {
    let q = db.selectFrom(t.name as 'users').selectAll();
    for (const k of t.key) q = q.orderBy(k as 'id');
    out[t.name] = await q.execute();
  }
  return out;
}

describe('SQLite → PostgreSQL move with admin export / import', () => {
  let fakes: ProviderFakes;
  let source: TestContext;
  let dump = '';
  let exported: Record<string, number>;
  /** owner key → provider → what the user pasted. */
  const pasted = new Map<string, Map<ProviderName, Credential>>();
  let solo: TestUser;
  let admin: TestUser;
  let soloApiKey = '';

  before(async () => {
    fakes = await startProviderFakes();
    source = await createTestContext({ dialect: 'sqlite', env: fakes.env, captureLogs: false });
    // A solo user with a key of every provider (both Bedrock credential kinds are
    // covered: SigV4 here, a Bedrock API key in the team), in byok mode.
    solo = await createUser(source, uniqueEmail('move-solo'));
    await setByok(source, solo.owner);
    const soloKeys = new Map<ProviderName, Credential>();
    for (const p of PROVIDERS) {
      const cred = acceptedCredential(fakes, p);
      await saveKey(source, solo, p, cred);
      soloKeys.set(p, cred);
    }
    await setMode(source, solo, 'byok');
    pasted.set(`user:${solo.id}`, soloKeys);
    const created = await source.app.inject({ method: 'POST', url: '/api/v1/user/apikey', headers: solo.headers });
    assert.equal(created.statusCode, 201, created.body);
    soloApiKey = created.json().key;

    // A team (its own data key) with three keys.
    admin = await createUser(source, uniqueEmail('move-admin'));
    const member = await createUser(source, uniqueEmail('move-member'));
    const team = await createTeam(source, [
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);
    await setByok(source, team.owner);
    const teamKeys = new Map<ProviderName, Credential>();
    for (const [p, variant] of [
      ['openai', 'sigv4'],
      ['google-vertex', 'sigv4'],
      ['amazon-bedrock', 'bearer'],
    ] as const) {
      const cred = acceptedCredential(fakes, p, variant);
      await saveKey(source, admin, p, cred);
      teamKeys.set(p, cred);
    }
    pasted.set(`team:${team.id}`, teamKeys);

    const res = await runCli(['admin', 'export'], { NEO_DATABASE_URL: source.config.databaseUrl });
    assert.equal(res.code, 0, res.stderr);
    dump = res.stdout;
    exported = (JSON.parse(res.stderr.trim().split('\n').pop()!) as { exported: Record<string, number> }).exported;
  });
  after(async () => {
    await source?.close();
    await fakes?.close();
  });

  it('the dump holds every row and never a plaintext secret', () => {
    const lines = dump.trim().split('\n');
    const header = JSON.parse(lines[0]!);
    assert.equal(header.format, 'neo-byok-dump');
    assert.equal(header.source, 'sqlite');
    assert.deepEqual(JSON.parse(lines[lines.length - 1]!), { end: true, counts: exported });
    assert.equal(exported.provider_keys, PROVIDERS.length + 3);
    assert.equal(exported.data_keys, 2, 'one data key per owner');
    assert.equal(exported.api_keys, 1);
    for (const creds of pasted.values()) {
      for (const c of creds.values()) {
        assert.equal(dump.includes(c.api_key), false, 'a pasted secret is in the dump');
        if (c.api_key.startsWith('{')) {
          const parsed = JSON.parse(c.api_key) as Record<string, string>;
          for (const f of ['private_key', 'secret_access_key']) if (parsed[f]) assert.equal(dump.includes(parsed[f]), false, `${f} is in the dump`);
        }
      }
    }
    assert.equal(dump.includes(soloApiKey), false, 'the API key is in the dump');
  });

  for (const dialect of testDialects()) {
    describe(`into a new ${dialect} database`, () => {
      let target: TestDatabase;
      let dir: string;
      let database: DatabaseHandle;
      let app: App;

      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'neo-move-'));
        target = dialect === 'postgres' ? await createPostgresDatabase() : { url: join(dir, 'moved.db'), drop: async () => {} };
        const res = await runCli(['admin', 'import'], { NEO_DATABASE_URL: target.url }, { input: dump });
        assert.equal(res.code, 0, res.stderr);
        assert.deepEqual(JSON.parse(res.stdout), { imported: exported });
        const config = loadConfig({
          NEO_DATA_DIR: dir,
          NEO_DATABASE_URL: target.url,
          ...TEST_SECRETS_ENV,
          ...UNTHROTTLED_ENV,
          // The webhook worker would mark the moved outbox events dispatched (no endpoint
          // takes them), and the export below compares the rows with the dump verbatim.
          NEO_WEBHOOK_DELIVERY: 'off',
          ...fakes.env,
        });
        database = await openDatabase(config.databaseUrl, { poolSize: 3 });
        app = await buildApp({ config, database, quiet: true });
        await app.ready();
      });
      after(async () => {
        await app?.close();
        await database?.close();
        await target?.drop();
        rmSync(dir, { recursive: true, force: true });
      });

      it('copies every table verbatim', async () => {
        assert.deepEqual(await allRows(database.db), await allRows(source.database.db));
      });

      // Before the step that serves a resolve: a resolve notes the key's last_used_at, written
      // by a timer a moment later, which the round trip would then (rightly) carry.
      it('exports the same rows back (the way back to SQLite works too)', async () => {
        const res = await runCli(['admin', 'export'], { NEO_DATABASE_URL: target.url });
        assert.equal(res.code, 0, res.stderr);
        const again = res.stdout.trim().split('\n');
        assert.equal(JSON.parse(again[0]!).source, dialect);
        assert.deepEqual(again.slice(1), dump.trim().split('\n').slice(1));
      });

      it('every provider key still decrypts to what the user pasted', async () => {
        const rows = await database.db.selectFrom('provider_keys').select(['owner_type', 'owner_id', 'provider', 'ciphertext', 'location']).execute();
        assert.equal(rows.length, PROVIDERS.length + 3);
        for (const r of rows) {
          const cred = pasted.get(`${r.owner_type}:${r.owner_id}`)?.get(r.provider as ProviderName);
          assert.ok(cred, `unexpected key ${r.owner_type}/${r.provider}`);
          const plain = await app.services.vault.decrypt({ type: r.owner_type, id: r.owner_id }, r.provider as ProviderName, r.ciphertext, r.location);
          assert.equal(plain, cred.api_key, `${r.owner_type} ${r.provider}`);
        }
      });

      it('serves the moved data: mode, key list, resolve and the API key', async () => {
        const mode = await app.inject({ method: 'GET', url: '/api/v1/byok/mode', headers: solo.headers });
        assert.equal(mode.statusCode, 200);
        assert.equal(mode.json().mode, 'byok');
        assert.equal(mode.json().provider_keys, PROVIDERS.length);
        const list = await app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: admin.headers });
        assert.deepEqual(
          list.json().provider_keys.map((k: { provider: string }) => k.provider),
          ['amazon-bedrock', 'google-vertex', 'openai'],
        );
        const resolved = await app.inject({
          method: 'POST',
          url: '/internal/v1/credentials/resolve',
          headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
          payload: { user_id: solo.id, model: 'claude-sonnet-4-5' },
        });
        assert.equal(resolved.statusCode, 200, resolved.body);
        const r = resolved.json();
        assert.equal(r.credential.api_key, pasted.get(`user:${solo.id}`)!.get(r.provider)!.api_key);
        const viaKey = await app.inject({ method: 'GET', url: '/api/v1/user/apikey', headers: { 'x-api-key': soloApiKey } });
        assert.equal(viaKey.statusCode, 200, 'the API key authenticates on the new database');
      });

      it('refuses to import into a database that holds data, changing nothing', async () => {
        const res = await runCli(['admin', 'import'], { NEO_DATABASE_URL: target.url }, { input: dump });
        assert.equal(res.code, 1);
        assert.match(res.stderr, /^neo-byok admin import: the target database is not empty \(table users has rows\)/);
        const n = await database.db.selectFrom('provider_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(n.n), PROVIDERS.length + 3);
      });
    });
  }

  it('a truncated dump imports nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'neo-move-'));
    try {
      const file = join(dir, 'cut.db');
      const lines = dump.trim().split('\n');
      const res = await runCli(['admin', 'import'], { NEO_DATABASE_URL: file }, { input: lines.slice(0, -1).join('\n') + '\n' });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /truncated/);
      const h = await openDatabase(file, { migrate: false });
      try {
        const n = await h.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(n.n), 0);
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
