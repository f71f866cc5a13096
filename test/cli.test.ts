/**
 * The `neo-byok` CLI, run as a real child process (`bin/neo-byok`) on a temp data dir:
 * JSON on stdout, errors on stderr with a non-zero exit, --help everywhere, and a minted
 * token that a server built on the same data dir accepts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { loadConfig } from '../src/config/index.ts';
import { nowIso, openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { createBus } from '../src/db/notify.ts';
import { buildApp, type App } from '../src/app.ts';
import { principal } from '../src/http/auth.ts';
import { commands } from '../src/cli/commands.ts';
import { main } from '../src/cli/main.ts';
import { serverUrls, welcomeText } from '../src/cli/serve.ts';
import { TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, testDialects, UNTHROTTLED_ENV } from './helpers/context.ts';
import { openTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { startServerProcess } from './helpers/processes.ts';

const BIN = new URL('../bin/neo-byok', import.meta.url).pathname;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parent's environment without any server configuration (PATH, HOME, … only). */
function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('NEO_') || k === 'PORT' || k === 'HOST') continue;
    out[k] = v;
  }
  return out;
}

function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...baseEnv(), ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The same CLI entry point in this process (`main(argv, io)`), for the many variants
 * whose process wiring the child-process runs above already prove; spawning tsx costs
 * seconds per run on a busy machine.
 */
async function runMain(args: string[], env: Record<string, string>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, isTTY: false });
  return { code, stdout, stderr };
}

type Runner = typeof runCli;

/** Runs a command that must succeed and returns its parsed JSON output. */
async function json(args: string[], env: Record<string, string>, run: Runner = runCli): Promise<Record<string, unknown>> {
  const r = await run(args, env);
  assert.equal(r.code, 0, `neo-byok ${args.join(' ')} failed: ${r.stderr}`);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON line on stdout');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** A command that must fail: exit code, nothing on stdout, the message on stderr. */
async function fails(args: string[], env: Record<string, string>, code: number, message: RegExp, run: Runner = runCli): Promise<void> {
  const r = await run(args, env);
  assert.equal(r.code, code, `exit code of neo-byok ${args.join(' ')} (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.match(r.stderr, message);
}

const COMMANDS = ['serve', 'migrate', 'admin user create', 'admin token', 'admin features set'];

describe('neo-byok: help and usage errors', () => {
  const env = { NEO_DATA_DIR: '/nonexistent/never-created' };

  it('--help lists every command and exits 0', async () => {
    for (const [flag, run] of [['--help', runCli], ['-h', runMain], ['help', runMain]] as const) {
      const r = await run([flag], env);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: neo-byok <command>/);
      for (const c of COMMANDS) assert.ok(r.stdout.includes(`  ${c} `), `${flag} lists "${c}"`);
    }
  });

  it('--version and -v print the version of package.json and exit 0, touching nothing', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const [flag, run] of [['--version', runCli], ['-v', runMain]] as const) {
      const r = await run([flag], env);
      assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: 0, stdout: `neo-byok ${version}\n`, stderr: '' }, flag);
    }
  });

  it('no arguments: usage on stderr, exit 2', async () => {
    const r = await runCli([], env);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Usage: neo-byok <command>/);
  });

  it('every command of the table has its own --help (exit 0, touches nothing)', async () => {
    const paths = commands.map((c) => c.path.join(' '));
    for (const c of COMMANDS) assert.ok(paths.includes(c), `the table has "${c}"`);
    for (const path of paths) {
      const r = await runMain([...path.split(' '), '--help'], env);
      assert.equal(r.code, 0, path);
      assert.ok(r.stdout.startsWith(`Usage: neo-byok ${path}`), `${path} --help starts with its usage line`);
      assert.equal(r.stderr, '');
    }
  });

  it('group words list their commands: with --help on stdout (0), alone on stderr (2)', async () => {
    const admin = await runCli(['admin', '--help'], env);
    assert.equal(admin.code, 0);
    for (const c of ['admin user create', 'admin token', 'admin features set']) assert.ok(admin.stdout.includes(c), c);
    assert.ok(!admin.stdout.includes('  serve '), 'only the group');
    const user = await runMain(['admin', 'user', '--help'], env);
    assert.equal(user.code, 0);
    assert.match(user.stdout, /admin user create/);
    assert.ok(!user.stdout.includes('admin token'));
    const features = await runMain(['admin', 'features'], env);
    assert.equal(features.code, 2);
    assert.equal(features.stdout, '');
    assert.match(features.stderr, /"admin features" needs a command[\s\S]*admin features set/);
  });

  it('an unknown command or option is a usage error (exit 2)', async () => {
    await fails(['frobnicate'], env, 2, /unknown command "frobnicate"/);
    await fails(['admin', 'users', 'create'], env, 2, /unknown command/, runMain);
    // Only the command words are named, never the options after them (nor their values).
    await fails(['bogus', '--help'], env, 2, /^neo-byok: unknown command "bogus"\n\nUsage: neo-byok <command>/);
    await fails(['admin', 'bogus', '-h'], env, 2, /^neo-byok: unknown command "admin bogus"\n/, runMain);
    await fails(['admin', 'users', 'create', '--email', 'a@example.com'], env, 2, /^neo-byok: unknown command "admin users create"\n/, runMain);
    await fails(['--verbose', 'serve'], env, 2, /^neo-byok: expected a command before "--verbose"\n/, runMain);
    await fails(['admin', 'token', '--email', 'a@example.com', '--bogus'], env, 2, /unknown option --bogus/, runMain);
    await fails(['admin', 'token', '--email', 'a@example.com', 'extra'], env, 2, /unexpected argument "extra"/, runMain);
  });

  it('argument errors exit 2 before any file is touched (child process)', async () => {
    await fails(['admin', 'user', 'create'], env, 2, /^neo-byok admin user create: --email is required\n$/);
    await fails(['admin', 'token', '--email', 'not-an-email'], env, 2, /--email is not a valid email address/);
    await fails(['admin', 'token', '--email', 'a@example.com', '--ttl', '1w'], env, 2, /--ttl must look like 30m, 1h or 7d/);
    await fails(['admin', 'features', 'set', '--email', 'a@example.com', 'byok'], env, 2, /expected <flag>=on\|off, got "byok"/);
  });

  it('argument errors: every variant', async () => {
    const variants: [string[], RegExp][] = [
      [['admin', 'user', 'create', '--email'], /--email needs a value/],
      [['admin', 'token'], /--email is required/],
      [['admin', 'token', '--email', ''], /--email is required/],
      [['admin', 'token', '--email', 'a@b'], /--email is not a valid email address/],
      // Unicode look-alikes of kim@corp.test (KELVIN SIGN, fullwidth k, dotless i, long s) never fold onto it.
      [['admin', 'token', '--email', '\u212Aim@corp.test'], /--email is not a valid email address/],
      [['admin', 'user', 'create', '--email', '\uFF4Bim@corp.test'], /--email is not a valid email address/],
      [['admin', 'user', 'create', '--email', 'k\u0131m@corp.test'], /--email is not a valid email address/],
      [['admin', 'features', 'set', '--email', '\u017Fam@corp.test', 'byok=on'], /--email is not a valid email address/],
      [['admin', 'token', '--email', 'a@example.com', '--ttl', '31d'], /--ttl must be between 1m and 30d/],
      [['admin', 'token', '--email', 'a@example.com', '--ttl', '30s'], /--ttl must be between 1m and 30d/],
      [['admin', 'token', '--email', 'a@example.com', '--ttl', '0m'], /--ttl must be between 1m and 30d/],
      [['admin', 'token', '--email', 'a@example.com', '--ttl', '-1h'], /--ttl needs a value|--ttl must look like/],
      [['admin', 'token', '--email', 'a@example.com', '--ttl', '1.5h'], /--ttl must look like/],
      [['admin', 'features', 'set', 'byok=on'], /exactly one of --email or --team-id/],
      [['admin', 'features', 'set', '--email', 'a@example.com', '--team-id', uuidv7(), 'byok=on'], /exactly one of/],
      [['admin', 'features', 'set', '--email', 'a@example.com'], /name a flag to set, e.g. byok=on/],
      [['admin', 'features', 'set', '--email', 'a@example.com', 'byok=maybe'], /expected <flag>=on\|off/],
      [['admin', 'features', 'set', '--email', 'a@example.com', 'byok=on', 'byok=off'], /flag "byok" is given twice/],
      [['admin', 'features', 'set', '--email', 'a@example.com', 'billing=on'], /unknown flag "billing" \(known flags: byok\)/],
      [['admin', 'features', 'set', '--team-id', 'team-1', 'byok=on'], /--team-id must be a team's UUID/],
    ];
    for (const [args, message] of variants) await fails(args, env, 2, message, runMain);
  });
});

for (const dialect of testDialects()) {
  describe(`neo-byok admin commands [${dialect}]`, () => {
    let dataDir: string;
    let testDb: TestDatabase;
    let env: Record<string, string>;
    let database: DatabaseHandle;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'neo-cli-'));
      env = { NEO_DATA_DIR: dataDir, NEO_LOG_LEVEL: 'silent' };
      if (dialect === 'postgres') {
        testDb = await openTestDatabase('postgres', dataDir);
        // On PostgreSQL the secrets must come from the environment (never generated).
        Object.assign(env, { NEO_DATABASE_URL: testDb.url, NEO_JWT_SECRET: TEST_JWT_SECRET, NEO_MASTER_KEY: TEST_MASTER_KEY, NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN });
      } else {
        testDb = { url: join(dataDir, 'neo.db'), drop: async () => {} };
      }
      // The CLI creates the schema and the secrets on first use.
      await json(['admin', 'user', 'create', '--email', 'first@example.com'], env);
      database = await openDatabase(testDb.url, { migrate: false });
    });
    after(async () => {
      await database?.close();
      await testDb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** A server app on the same data dir and database, with a route that echoes the caller. */
    async function serverOnSameDataDir(): Promise<App> {
      const config = loadConfig({ ...env, ...UNTHROTTLED_ENV });
      const db = await openDatabase(config.databaseUrl, { poolSize: 2 });
      const app = await buildApp({ config, database: db, quiet: true });
      app.get('/api/v1/test-whoami', async (request) => {
        const p = principal(request);
        return { id: p.user.id, email: p.user.email, role: p.user.role };
      });
      app.addHook('onClose', async () => db.close());
      await app.ready();
      return app;
    }

    it('admin user create prints the user; again, the same user with created: false', async () => {
      const out = await json(['admin', 'user', 'create', '--email', '  Alice@Example.COM '], env);
      assert.match(String(out.id), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.deepEqual(out, { id: out.id, email: 'alice@example.com', role: 'user', created: true });
      const row = await database.db.selectFrom('users').selectAll().where('id', '=', String(out.id)).executeTakeFirstOrThrow();
      assert.equal(row.email, 'alice@example.com');
      assert.equal(row.sub, null, 'no identity bound until a token or a login');
      const again = await json(['admin', 'user', 'create', '--email', 'alice@example.com'], env, runMain);
      assert.deepEqual(again, { id: out.id, email: 'alice@example.com', role: 'user', created: false });
    });

    it('--admin creates an admin, and promotes an existing user (never demotes)', async () => {
      const created = await json(['admin', 'user', 'create', '--email', 'root@example.com', '--admin'], env, runMain);
      assert.equal(created.role, 'admin');
      const plain = await json(['admin', 'user', 'create', '--email', 'bob@example.com'], env, runMain);
      const promoted = await json(['admin', 'user', 'create', '--email', 'bob@example.com', '--admin'], env, runMain);
      assert.deepEqual(promoted, { id: plain.id, email: 'bob@example.com', role: 'admin', created: false });
      const row = await database.db.selectFrom('users').select('role').where('id', '=', String(plain.id)).executeTakeFirstOrThrow();
      assert.equal(row.role, 'admin');
      const notDemoted = await json(['admin', 'user', 'create', '--email', 'bob@example.com'], env, runMain);
      assert.equal(notDemoted.role, 'admin');
    });

    it('admin token mints an HS256 JWT that a server on the same data dir accepts', async () => {
      const out = await json(['admin', 'token', '--email', 'carol@example.com'], env);
      assert.equal(out.created, true);
      assert.equal(out.email, 'carol@example.com');
      const token = String(out.token);
      assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' });
      const claims = decodeJwt(token);
      assert.equal(claims.sub, `neo|${String(out.user_id)}`);
      assert.equal(claims.email, 'carol@example.com');
      assert.equal(claims.exp! - claims.iat!, 3600, 'default ttl is 1h');
      assert.equal(out.expires_at, new Date(claims.exp! * 1000).toISOString());
      const row = await database.db.selectFrom('users').select('sub').where('id', '=', String(out.user_id)).executeTakeFirstOrThrow();
      assert.equal(row.sub, claims.sub, 'the subject is bound in the database');

      const app = await serverOnSameDataDir();
      try {
        const ok = await app.inject({ method: 'GET', url: '/api/v1/test-whoami', headers: { authorization: `Bearer ${token}` } });
        assert.equal(ok.statusCode, 200, ok.body);
        assert.deepEqual(ok.json(), { id: out.user_id, email: 'carol@example.com', role: 'user' });
        const tampered = token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA');
        const bad = await app.inject({ method: 'GET', url: '/api/v1/test-whoami', headers: { authorization: `Bearer ${tampered}` } });
        assert.equal(bad.statusCode, 401);
      } finally {
        await app.close();
      }
    });

    it('admin token --ttl sets the lifetime; a second token keeps the same subject', async () => {
      const a = await json(['admin', 'token', '--email', 'dave@example.com', '--ttl', '30m'], env, runMain);
      const ca = decodeJwt(String(a.token));
      assert.equal(ca.exp! - ca.iat!, 1800);
      const b = await json(['admin', 'token', '--email', 'DAVE@example.com', '--ttl', '7d'], env, runMain);
      const cb = decodeJwt(String(b.token));
      assert.equal(cb.exp! - cb.iat!, 7 * 86_400);
      assert.equal(b.created, false);
      assert.equal(b.user_id, a.user_id);
      assert.equal(cb.sub, ca.sub);
    });

    it('admin token for a user created by `user create` binds neo|<id>', async () => {
      const u = await json(['admin', 'user', 'create', '--email', 'erin@example.com'], env, runMain);
      const t = await json(['admin', 'token', '--email', 'erin@example.com'], env, runMain);
      assert.equal(t.user_id, u.id);
      assert.equal(decodeJwt(String(t.token)).sub, `neo|${String(u.id)}`);
    });

    it('admin token keeps the subject an identity provider already bound', async () => {
      const id = uuidv7();
      const now = nowIso();
      await database.db
        .insertInto('users')
        .values({ id, sub: 'auth0|idp-subject-1', email: 'frank@example.com', role: 'user', tag: null, created_at: now, updated_at: now })
        .execute();
      const t = await json(['admin', 'token', '--email', 'frank@example.com'], env, runMain);
      assert.equal(t.user_id, id);
      assert.equal(decodeJwt(String(t.token)).sub, 'auth0|idp-subject-1');
    });

    it('admin token carries NEO_JWT_ISSUER and NEO_JWT_AUDIENCE when configured', async () => {
      const t = await json(['admin', 'token', '--email', 'gina@example.com'], { ...env, NEO_JWT_ISSUER: 'https://issuer.example', NEO_JWT_AUDIENCE: 'neo-api' }, runMain);
      const c = decodeJwt(String(t.token));
      assert.equal(c.iss, 'https://issuer.example');
      assert.equal(c.aud, 'neo-api');
    });

    it('admin token refuses when the server verifies tokens with a JWKS URL', async () => {
      await fails(
        ['admin', 'token', '--email', 'jwks@example.com'],
        { ...env, NEO_JWT_SECRET: '', NEO_JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' },
        1,
        /NEO_JWT_JWKS_URL .*cannot mint tokens/,
      );
      const row = await database.db.selectFrom('users').select('id').where('email', '=', 'jwks@example.com').executeTakeFirst();
      assert.equal(row, undefined, 'no user was created');
    });

    it('admin features set turns byok on and off for a solo user', async () => {
      const u = await json(['admin', 'user', 'create', '--email', 'flags@example.com'], env, runMain);
      const on = await json(['admin', 'features', 'set', '--email', 'flags@example.com', 'byok=on'], env);
      assert.deepEqual(on, { owner: { type: 'user', id: u.id, email: 'flags@example.com' }, features: { byok: true } });
      const stored = () =>
        database.db
          .selectFrom('features')
          .select('enabled')
          .where('owner_type', '=', 'user')
          .where('owner_id', '=', String(u.id))
          .where('name', '=', 'byok')
          .executeTakeFirstOrThrow();
      assert.equal((await stored()).enabled, 1);

      // A server on the same database sees the flag.
      const app = await serverOnSameDataDir();
      try {
        assert.equal(await app.services.features.isEnabled({ type: 'user', id: String(u.id) }, 'byok'), true);
      } finally {
        await app.close();
      }

      const off = await json(['admin', 'features', 'set', '--email', 'flags@example.com', 'byok=off'], env, runMain);
      assert.deepEqual(off.features, { byok: false });
      assert.equal((await stored()).enabled, 0);
    });

    it('admin features set --team-id sets the team flag; a member gets a note', async () => {
      const lead = await json(['admin', 'user', 'create', '--email', 'lead@example.com'], env, runMain);
      const teamId = uuidv7();
      const now = nowIso();
      await database.db.insertInto('teams').values({ id: teamId, name: 'Blue', created_at: now, updated_at: now }).execute();
      await database.db
        .insertInto('team_members')
        .values({
          id: uuidv7(),
          team_id: teamId,
          user_id: String(lead.id),
          email: 'lead@example.com',
          role: 'admin',
          status: 'active',
          invited_by: null,
          invited_at: now,
          accepted_at: now,
          invite_token_hash: null,
          invite_expires_at: null,
        })
        .execute();
      const out = await json(['admin', 'features', 'set', '--team-id', teamId.toUpperCase(), 'byok=on'], env);
      assert.deepEqual(out, { owner: { type: 'team', id: teamId, name: 'Blue' }, features: { byok: true } });
      const row = await database.db
        .selectFrom('features')
        .select('enabled')
        .where('owner_type', '=', 'team')
        .where('owner_id', '=', teamId)
        .executeTakeFirstOrThrow();
      assert.equal(row.enabled, 1);

      const member = await json(['admin', 'features', 'set', '--email', 'lead@example.com', 'byok=on'], env, runMain);
      assert.equal((member.owner as { type: string }).type, 'user');
      assert.match(String(member.note), new RegExp(`member of team ${teamId}.*--team-id ${teamId}`));
    });

    if (dialect === 'postgres') {
      it('admin features set reaches a running server at once through the cache bus', async () => {
        const u = await json(['admin', 'user', 'create', '--email', 'live@example.com'], env, runMain);
        const owner = { type: 'user' as const, id: String(u.id) };
        const config = loadConfig({ ...env, ...UNTHROTTLED_ENV });
        const db = await openDatabase(config.databaseUrl, { poolSize: 2 });
        const bus = await createBus(config, db);
        const app = await buildApp({ config, database: db, bus, quiet: true });
        try {
          await app.ready();
          // Warm the server's 60 s feature cache with "off".
          assert.equal(await app.services.features.isEnabled(owner, 'byok'), false);
          await json(['admin', 'features', 'set', '--email', 'live@example.com', 'byok=on'], env);
          // Well inside the cache TTL: only the bus message can have dropped the entry.
          let seen = false;
          for (let i = 0; i < 50 && !seen; i++) {
            seen = await app.services.features.isEnabled(owner, 'byok');
            if (!seen) await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(seen, true, 'the server saw the flag without waiting for its cache to expire');
        } finally {
          await app.close();
          await db.close();
        }
      });
    }

    it('admin features set refuses an unknown user or team (exit 1)', async () => {
      await fails(['admin', 'features', 'set', '--email', 'ghost@example.com', 'byok=on'], env, 1, /no user with email ghost@example.com; create it first/, runMain);
      const missing = uuidv7();
      await fails(['admin', 'features', 'set', '--team-id', missing, 'byok=on'], env, 1, new RegExp(`no team with id ${missing}`));
      const rows = await database.db.selectFrom('features').select('owner_id').where('owner_id', '=', missing).execute();
      assert.equal(rows.length, 0);
    });

    it('an invalid configuration exits 78 and lists every problem', async () => {
      const r = await runCli(['admin', 'user', 'create', '--email', 'x@example.com'], { ...env, PORT: 'eighty', NEO_LOG_LEVEL: 'loud' });
      assert.equal(r.code, 78);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /Invalid configuration:/);
      assert.match(r.stderr, /PORT must be a whole number/);
      assert.match(r.stderr, /NEO_LOG_LEVEL must be one of/);
    });

    it('migrate prints the applied migrations (none left after the first command)', async () => {
      const out = await json(['migrate'], env, runMain);
      assert.deepEqual(out, { applied: [] });
    });
  });
}

describe('neo-byok serve: the first log line', () => {
  it('says where the API, its docs and the settings page are, before the warnings of a first start', async () => {
    // Empty secrets: generated on this first start, which warns about it.
    const server = await startServerProcess({ NEO_JWT_SECRET: '', NEO_MASTER_KEY: '', NEO_INTERNAL_TOKEN: '' });
    try {
      const entries = server.logs.map((l) => JSON.parse(l) as { level: number; msg: string; api?: string; docs?: string; settings?: string });
      const base = server.url;
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(
        { level: entries[0]?.level, msg: entries[0]?.msg },
        { level: 30, msg: `neo-byok is running: API ${base}/api/v1 · API docs ${base}/docs · settings page ${base}/` },
      );
      assert.ok(entries.slice(1).some((e) => e.level === 40 && e.msg.startsWith('generated missing secrets')), 'the warning still comes');
      const listening = entries.find((e) => e.msg === 'neo-byok listening');
      assert.deepEqual({ api: listening?.api, docs: listening?.docs, settings: listening?.settings }, { api: `${base}/api/v1`, docs: `${base}/docs`, settings: `${base}/` });
      const docs = await fetch(`${base}/docs`, { redirect: 'manual' });
      assert.ok(docs.status === 200 || docs.status === 302, `the docs URL answers (${docs.status})`);
      assert.equal((await fetch(`${base}/`)).status, 200, 'the settings page URL answers');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('a wildcard listening address is shown as localhost (a browser can open it)', () => {
    assert.equal(welcomeText('http://0.0.0.0:8080'), 'neo-byok is running: API http://localhost:8080/api/v1 · API docs http://localhost:8080/docs · settings page http://localhost:8080/');
    assert.equal(serverUrls('http://[::]:9090').docs, 'http://localhost:9090/docs');
    assert.equal(serverUrls('http://[::1]:9090').docs, 'http://[::1]:9090/docs');
  });
});
