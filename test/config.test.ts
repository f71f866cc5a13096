/**
 * Configuration (src/config): every problem in one error, the defaults, secrets generated
 * once into the data dir, and what `neo-byok serve` prints about them (never the values).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, EnvSchema, ensureSecrets, loadConfig } from '../src/config/index.ts';

const BIN = new URL('../bin/neo-byok', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const GOOD_KEY = Buffer.alloc(32, 9).toString('base64');
const GIVEN = {
  NEO_JWT_SECRET: 'a-jwt-secret-that-is-long-enough-0123456789',
  NEO_MASTER_KEY: GOOD_KEY,
  NEO_INTERNAL_TOKEN: 'an-internal-token-that-is-long-enough-0123',
};

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'neo-config-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('loadConfig accepted an invalid configuration');
}

describe('loadConfig', () => {
  it('lists every problem at once, one per line', () => {
    const env = {
      NEO_DATA_DIR: tempDir(),
      PORT: 'eighty',
      NEO_LOG_LEVEL: 'loud',
      NEO_DATABASE_POOL_SIZE: '0',
      NEO_DATABASE_URL: 'mysql://db/neo',
      NEO_JWT_SECRET: 'short',
      NEO_MASTER_KEY: 'not base64 at all!',
      NEO_INTERNAL_TOKEN: 'tiny',
      NEO_BYOK_DEFAULT: 'perhaps',
      NEO_PROVIDER_TIMEOUT_MS: '60000',
      NEO_PROVIDER_URL_OPENAI: 'not a url',
      NEO_REDIS_URL: 'http://127.0.0.1:6379',
    };
    const problems = problemsOf(env);
    const expected = [
      /^PORT must be a whole number \(got "eighty"\)$/,
      /^NEO_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent$/,
      /^NEO_DATABASE_POOL_SIZE must be between 1 and 500 \(got 0\)$/,
      /^NEO_DATABASE_URL must be postgres:/,
      /^NEO_JWT_SECRET must be at least 32 characters$/,
      /^NEO_MASTER_KEY must be base64 \(32 bytes\)$/,
      /^NEO_INTERNAL_TOKEN must be at least 32 characters$/,
      /^NEO_BYOK_DEFAULT must be on or off \(got "perhaps"\)$/,
      /^NEO_PROVIDER_TIMEOUT_MS must be between 100 and 10000 \(got 60000\)$/,
      /^NEO_PROVIDER_URL_OPENAI is not a valid URL$/,
      /^NEO_REDIS_URL must use redis: or rediss: \(got http:\)$/,
    ];
    for (const re of expected) assert.ok(problems.some((p) => re.test(p)), `missing problem ${re}: ${JSON.stringify(problems)}`);
    assert.equal(problems.length, expected.length);
    const message = new ConfigError(problems).message;
    assert.match(message, /^Invalid configuration:\n {2}- PORT must be/);
    assert.equal(message.split('\n').length, expected.length + 1);
  });

  it('lists the secrets rules with the schema problems, in the same pass', () => {
    const dir = tempDir();
    const env = { NEO_DATA_DIR: dir, PORT: 'eighty', NEO_DATABASE_URL: 'postgres://neo@db.internal:5432/neo' };
    const problems = problemsOf(env);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /^PORT must be a whole number \(got "eighty"\)$/);
    assert.match(problems[1]!, /^NEO_DATABASE_URL is PostgreSQL: set NEO_MASTER_KEY, .*every instance must share/);
    // ensureSecrets, which every command runs first, reports the same list.
    assert.throws(() => ensureSecrets(env), (err) => err instanceof ConfigError && JSON.stringify(err.problems) === JSON.stringify(problems));
    // SQLite: a corrupt secrets.json is named beside a wrong variable.
    writeFileSync(join(dir, 'secrets.json'), '{not json', { mode: 0o600 });
    assert.deepEqual(problemsOf({ NEO_DATA_DIR: dir, PORT: 'eighty' }), ['PORT must be a whole number (got "eighty")', `${join(dir, 'secrets.json')} is not valid JSON`]);
    // A rule whose input is wrong is not judged: the wrong variable is named once.
    assert.deepEqual(problemsOf({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: 'mysql://db/neo' }), [
      'NEO_DATABASE_URL must be postgres://…, postgresql://…, sqlite:<path> or a file path',
    ]);
  });

  it('refuses NEO_JWT_SECRET together with NEO_JWT_JWKS_URL, and a JWKS URL that is not http(s)', () => {
    assert.ok(problemsOf({ ...GIVEN, NEO_JWT_JWKS_URL: 'https://idp.example.com/jwks' }).includes('set NEO_JWT_SECRET or NEO_JWT_JWKS_URL, not both'));
    assert.deepEqual(problemsOf({ NEO_MASTER_KEY: GOOD_KEY, NEO_INTERNAL_TOKEN: GIVEN.NEO_INTERNAL_TOKEN, NEO_JWT_JWKS_URL: 'ftp://idp/jwks' }), [
      'NEO_JWT_JWKS_URL must use http: or https: (got ftp:)',
    ]);
  });

  it('a bad NEO_MASTER_KEY or NEO_MASTER_KEY_PREVIOUS is a clear error that does not echo the value', () => {
    const notBase64 = 'this*is*not*base64*but*it*is*secret';
    const short = Buffer.alloc(16, 1).toString('base64');
    const long = Buffer.alloc(48, 1).toString('base64');
    assert.deepEqual(problemsOf({ ...GIVEN, NEO_MASTER_KEY: notBase64 }), ['NEO_MASTER_KEY must be base64 (32 bytes)']);
    assert.deepEqual(problemsOf({ ...GIVEN, NEO_MASTER_KEY: short }), ['NEO_MASTER_KEY must decode to 32 bytes (got 16)']);
    assert.deepEqual(problemsOf({ ...GIVEN, NEO_MASTER_KEY: long }), ['NEO_MASTER_KEY must decode to 32 bytes (got 48)']);
    assert.deepEqual(problemsOf({ ...GIVEN, NEO_MASTER_KEY_PREVIOUS: short }), ['NEO_MASTER_KEY_PREVIOUS must decode to 32 bytes (got 16)']);
    const all = problemsOf({ ...GIVEN, NEO_MASTER_KEY: notBase64, NEO_MASTER_KEY_PREVIOUS: short }).join('\n');
    assert.ok(!all.includes(notBase64) && !all.includes(short), 'the key material is not in the message');
  });

  it('NEO_TRUST_PROXY: on/off, a hop count, or trusted proxy addresses and CIDRs', () => {
    const tp = (v: string) => loadConfig({ ...GIVEN, NEO_TRUST_PROXY: v }).trustProxy;
    assert.equal(tp('on'), true);
    assert.equal(tp('TRUE'), true);
    assert.equal(tp('off'), false);
    assert.equal(tp(''), false);
    assert.equal(tp('0'), false, 'zero hops trusts nothing');
    // A number is a hop count now (it used to be a synonym of on, which trusts every hop).
    assert.equal(tp('1'), 1);
    assert.equal(tp('2'), 2);
    assert.deepEqual(tp(' 10.0.0.7 , 10.1.0.0/16,loopback, ::1, fd00::/8, 192.168.0.0/32 '), ['10.0.0.7', '10.1.0.0/16', 'loopback', '::1', 'fd00::/8', '192.168.0.0/32']);
    assert.deepEqual(tp('LinkLocal'), ['linklocal']);
  });

  it('refuses a NEO_TRUST_PROXY it cannot read, naming every bad entry, beside the other problems', () => {
    const problems = problemsOf({ ...GIVEN, PORT: 'x', NEO_TRUST_PROXY: 'sometimes, 10.0.0.0/33,,1.2.3,fd00::/129,10.0.0.1/8x,10.0.0.1' });
    assert.equal(problems.length, 2, JSON.stringify(problems));
    const p = problems.find((x) => x.startsWith('NEO_TRUST_PROXY'));
    assert.equal(
      p,
      'NEO_TRUST_PROXY must be on, off, a hop count, or a comma-separated list of proxy IP addresses or CIDRs (e.g. 10.0.0.0/8); not valid: "sometimes", "10.0.0.0/33", (empty entry), "1.2.3", "fd00::/129", "10.0.0.1/8x"',
    );
    assert.deepEqual(problemsOf({ ...GIVEN, NEO_TRUST_PROXY: '101' }), ['NEO_TRUST_PROXY as a hop count must be between 0 and 100 (got 101)']);
  });

  it('applies the documented defaults', () => {
    // Secrets given, so nothing is written to ./data.
    const c = loadConfig({ ...GIVEN });
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, resolve(process.cwd(), 'data'));
    assert.equal(c.databaseUrl, join(resolve(process.cwd(), 'data'), 'neo.db'));
    assert.equal(c.databasePoolSize, 10);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.byokDefault, false);
    assert.equal(c.providerTimeoutMs, 8000);
    assert.deepEqual(c.corsOrigins, []);
    assert.equal(c.trustProxy, false);
    assert.equal(c.rateLimit.enabled, true);
    assert.deepEqual(ensureSecrets({ ...GIVEN }), []);
    assert.equal(Buffer.from(c.jwt.secret!).toString('utf8'), GIVEN.NEO_JWT_SECRET);
    assert.deepEqual(c.masterKey, Buffer.alloc(32, 9));
    assert.equal(c.internalToken, GIVEN.NEO_INTERNAL_TOKEN);
  });

  it('reads every variable it documents', () => {
    const dir = tempDir();
    const c = loadConfig({
      ...GIVEN,
      PORT: '9090',
      HOST: '0.0.0.0',
      NEO_DATA_DIR: dir,
      NEO_DATABASE_URL: 'postgres://neo@db.internal:5432/neo',
      NEO_DATABASE_POOL_SIZE: '25',
      NEO_LOG_LEVEL: 'warn',
      NEO_BYOK_DEFAULT: 'on',
      NEO_JWT_ISSUER: 'https://issuer.example',
      NEO_JWT_AUDIENCE: 'neo-api',
      NEO_MASTER_KEY_PREVIOUS: Buffer.alloc(32, 3).toString('base64'),
      NEO_PROVIDER_URL_ANTHROPIC: 'http://127.0.0.1:4010/',
      NEO_AZURE_ALLOWED_HOSTS: '127.0.0.1, LOCALHOST',
      NEO_PROVIDER_TIMEOUT_MS: '5000',
      NEO_REDIS_URL: 'redis://127.0.0.1:6379',
      NEO_CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
      NEO_RATE_LIMIT: 'off',
      NEO_RATE_LIMIT_WRITES: '10',
      NEO_RATE_LIMIT_PROVIDER_CALLS: '5',
      NEO_RATE_LIMIT_AUTH_FAILURES: '7',
      NEO_TRUST_PROXY: 'true',
      NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED: 'on',
    });
    assert.equal(c.port, 9090);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.dataDir, dir);
    assert.equal(c.databaseUrl, 'postgres://neo@db.internal:5432/neo');
    assert.equal(c.databasePoolSize, 25);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.byokDefault, true);
    assert.deepEqual(c.jwt.issuer, 'https://issuer.example');
    assert.deepEqual(c.jwt.audience, 'neo-api');
    assert.equal(c.jwt.allowMissingEmailVerified, true);
    assert.deepEqual(c.masterKeyPrevious, Buffer.alloc(32, 3));
    assert.equal(c.providerUrls.anthropic, 'http://127.0.0.1:4010', 'trailing slash removed');
    assert.deepEqual(c.azureAllowedHosts, ['127.0.0.1', 'localhost']);
    assert.equal(c.providerTimeoutMs, 5000);
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.deepEqual(c.corsOrigins, ['https://app.example.com', 'https://admin.example.com']);
    assert.deepEqual(c.rateLimit, { enabled: false, writesPerMinute: 10, providerCallsPerMinute: 5, authFailuresPerMinute: 7 });
    assert.equal(c.trustProxy, true);
  });

  it('ensureSecrets generates missing secrets once into <data dir>/secrets.json (0600); loadConfig reuses them', () => {
    const dir = join(tempDir(), 'nested', 'data');
    assert.deepEqual([...ensureSecrets({ NEO_DATA_DIR: dir })].sort(), ['internal_token', 'jwt_secret', 'master_key']);
    const first = loadConfig({ NEO_DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(stored).sort(), ['internal_token', 'jwt_secret', 'master_key']);
    assert.equal(Buffer.from(stored.master_key!, 'base64').length, 32);
    assert.ok(stored.jwt_secret!.length >= 32 && stored.internal_token!.length >= 32);
    assert.equal(first.databaseUrl, join(dir, 'neo.db'));

    const before = readFileSync(file, 'utf8');
    assert.deepEqual(ensureSecrets({ NEO_DATA_DIR: dir }), []);
    const second = loadConfig({ NEO_DATA_DIR: dir });
    assert.equal(readFileSync(file, 'utf8'), before, 'the file is not rewritten');
    assert.deepEqual(Buffer.from(second.jwt.secret!), Buffer.from(first.jwt.secret!));
    assert.deepEqual(second.masterKey, first.masterKey);
    assert.equal(second.internalToken, first.internalToken);
  });

  it('generates only the secrets the environment does not give', () => {
    const dir = tempDir();
    assert.deepEqual([...ensureSecrets({ NEO_DATA_DIR: dir, NEO_MASTER_KEY: GOOD_KEY })].sort(), ['internal_token', 'jwt_secret']);
    const c = loadConfig({ NEO_DATA_DIR: dir, NEO_MASTER_KEY: GOOD_KEY });
    assert.deepEqual(c.masterKey, Buffer.alloc(32, 9));
    const stored = JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as Record<string, string>;
    assert.equal(stored.master_key, undefined, 'a given master key is never copied to disk');
    // With everything given nothing is written at all.
    const clean = tempDir();
    assert.deepEqual(ensureSecrets({ ...GIVEN, NEO_DATA_DIR: clean }), []);
    loadConfig({ ...GIVEN, NEO_DATA_DIR: clean });
    assert.equal(existsSync(join(clean, 'secrets.json')), false);
  });

  it('with a PostgreSQL database, missing secrets are a configuration error: never generated per instance', () => {
    for (const url of ['postgres://neo@db.internal:5432/neo', 'postgresql://neo@db.internal/neo']) {
      const dir = tempDir();
      assert.deepEqual(ensureSecrets({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: url }), [], 'nothing generated for PostgreSQL');
      const problems = problemsOf({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: url });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /NEO_MASTER_KEY, NEO_JWT_SECRET \(or NEO_JWT_JWKS_URL\) and NEO_INTERNAL_TOKEN/);
      assert.match(problems[0]!, /every instance must share/);
      assert.ok(!problems[0]!.includes('db.internal'), 'the database URL is not echoed');
      assert.equal(existsSync(join(dir, 'secrets.json')), false, 'nothing generated');
      // Only the missing ones are named.
      const one = problemsOf({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: url, NEO_MASTER_KEY: GOOD_KEY, NEO_JWT_JWKS_URL: 'https://idp.example.com/jwks' });
      assert.match(one[0]!, /missing: NEO_INTERNAL_TOKEN\b/);
      assert.ok(!one[0]!.includes('missing: NEO_MASTER_KEY'));
      // An old secrets.json in the data dir is not used either (each instance would have its own).
      writeFileSync(join(dir, 'secrets.json'), JSON.stringify({ jwt_secret: 'x'.repeat(48), master_key: GOOD_KEY, internal_token: 'y'.repeat(48) }));
      assert.equal(problemsOf({ NEO_DATA_DIR: dir, NEO_DATABASE_URL: url }).length, 1);
      // Everything given: accepted.
      assert.equal(ensureSecrets({ ...GIVEN, NEO_DATA_DIR: dir, NEO_DATABASE_URL: url }).length, 0);
      loadConfig({ ...GIVEN, NEO_DATA_DIR: dir, NEO_DATABASE_URL: url });
    }
    // SQLite (the default, or an explicit file) still generates them into the data dir.
    const local = tempDir();
    assert.equal(ensureSecrets({ NEO_DATA_DIR: local, NEO_DATABASE_URL: `sqlite:${join(local, 'x.db')}` }).length, 3);
  });

  it('loading writes nothing: secrets missing on SQLite are named until ensureSecrets generates them', () => {
    const dir = join(tempDir(), 'data');
    const problems = problemsOf({ NEO_DATA_DIR: dir, NEO_MASTER_KEY: GOOD_KEY });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^NEO_JWT_SECRET \(or NEO_JWT_JWKS_URL\), NEO_INTERNAL_TOKEN not set, and \S+secrets\.json does not hold them/);
    assert.equal(existsSync(dir), false, 'not even the data dir is created');
    // An invalid environment: ensureSecrets reports it like loadConfig and writes nothing either.
    assert.throws(
      () => ensureSecrets({ NEO_DATA_DIR: dir, PORT: 'x', NEO_RATE_LIMIT: 'maybe' }),
      (err) => err instanceof ConfigError && err.problems.length === 2 && err.problems[0]!.startsWith('PORT must be a whole number'),
    );
    assert.equal(existsSync(dir), false);
    assert.deepEqual([...ensureSecrets({ NEO_DATA_DIR: dir, NEO_MASTER_KEY: GOOD_KEY })].sort(), ['internal_token', 'jwt_secret']);
    const c = loadConfig({ NEO_DATA_DIR: dir, NEO_MASTER_KEY: GOOD_KEY });
    assert.equal(c.internalToken, (JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as Record<string, string>).internal_token);
  });

  it('a corrupt secrets.json is a configuration error, never silently replaced', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secrets.json'), '{not json', { mode: 0o600 });
    assert.deepEqual(problemsOf({ NEO_DATA_DIR: dir }), [`${join(dir, 'secrets.json')} is not valid JSON`]);
    assert.throws(() => ensureSecrets({ NEO_DATA_DIR: dir }), (err) => err instanceof ConfigError && err.problems[0] === `${join(dir, 'secrets.json')} is not valid JSON`);
    assert.equal(readFileSync(join(dir, 'secrets.json'), 'utf8'), '{not json');
  });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('NEO_') && k !== 'PORT' && k !== 'HOST') out[k] = v;
  }
  return out;
}

/** Runs `neo-byok <args>` to its exit (a configuration error stops it before it listens). */
async function runToExit(args: string[], env: Record<string, string>): Promise<Exit> {
  const child = spawn(BIN, args, { cwd: ROOT, env: { ...baseEnv(), ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  return { code, stdout, stderr };
}

/**
 * Starts `neo-byok serve` on a random loopback port, waits for "neo-byok listening",
 * calls /healthz, sends SIGTERM and returns everything the process printed.
 */
async function serveOnce(env: Record<string, string>): Promise<Exit & { health: number }> {
  const child = spawn(BIN, ['serve'], { cwd: ROOT, env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const address = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`serve did not start: ${stdout}${stderr}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const line of stdout.split('\n')) {
        if (!line.includes('neo-byok listening')) continue;
        clearTimeout(timer);
        res((JSON.parse(line) as { address: string }).address);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = (await fetch(`${address}/healthz`)).status;
  child.kill('SIGTERM');
  const code = await exited;
  return { code, stdout, stderr, health };
}

describe('neo-byok serve and the generated secrets', () => {
  it('logs that it generated secrets, never their values; the second start reuses them', async () => {
    const dir = tempDir();
    const first = await serveOnce({ NEO_DATA_DIR: dir });
    assert.equal(first.health, 200);
    assert.equal(first.code, 0, 'SIGTERM is a clean exit');
    const lines = first.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const generated = lines.find((l) => String(l.msg).startsWith('generated missing secrets'));
    assert.ok(generated, `a log line says secrets were generated: ${first.stdout}`);
    assert.deepEqual([...(generated.generated as string[])].sort(), ['internal_token', 'jwt_secret', 'master_key']);
    assert.equal(generated.file, join(dir, 'secrets.json'));

    const secrets = JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as Record<string, string>;
    const output = first.stdout + first.stderr;
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!output.includes(value), `${name} value appears in the output`);
      assert.ok(!output.includes(value.slice(0, 16)), `a prefix of ${name} appears in the output`);
    }
    assert.equal(statSync(join(dir, 'secrets.json')).mode & 0o777, 0o600);

    const second = await serveOnce({ NEO_DATA_DIR: dir });
    assert.equal(second.code, 0);
    assert.ok(!second.stdout.includes('generated missing secrets'), 'nothing generated the second time');
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')), secrets);
    assert.ok(existsSync(join(dir, 'neo.db')), 'the SQLite database lives in the data dir');
  });

  it('`neo-byok serve` on PostgreSQL without the secrets exits 78 saying every instance must share them', async () => {
    const dir = tempDir();
    const { code, stdout, stderr } = await runToExit(['serve'], {
      PORT: '0',
      NEO_DATA_DIR: dir,
      NEO_DATABASE_URL: 'postgres://neo:pw@127.0.0.1:1/neo',
    });
    assert.equal(code, 78, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /every instance must share/);
    assert.ok(!stderr.includes('pw@'), 'the database password is not echoed');
    assert.equal(existsSync(join(dir, 'secrets.json')), false);
  });

  it('a bad NEO_MASTER_KEY stops `neo-byok serve` with the message on stderr and exit 78', async () => {
    const dir = tempDir();
    const bad = Buffer.alloc(16, 5).toString('base64');
    const { code, stdout, stderr } = await runToExit(['serve'], {
      PORT: '0',
      NEO_DATA_DIR: dir,
      NEO_MASTER_KEY: bad,
      NEO_LOG_LEVEL: 'sometimes',
    });
    assert.equal(code, 78);
    assert.equal(stdout, '');
    assert.match(stderr, /Invalid configuration:/);
    assert.match(stderr, /NEO_MASTER_KEY must decode to 32 bytes \(got 16\)/);
    assert.match(stderr, /NEO_LOG_LEVEL must be one of/, 'every problem, not only the first');
    assert.ok(!stderr.includes(bad), 'the key is not echoed');
    assert.equal(existsSync(join(dir, 'neo.db')), false, 'nothing was started');
  });
});

describe('neo-byok and a configuration with many problems', () => {
  it('names every wrong variable, of every kind, in one message on stderr, exits 78 and writes nothing', async () => {
    const dir = join(tempDir(), 'data');
    const { code, stdout, stderr } = await runToExit(['migrate'], {
      NEO_DATA_DIR: dir,
      NEO_KEY_INVALID_AFTER: 'soon',
      NEO_KEY_RECHECK_INTERVAL: '60d',
      NEO_RATE_LIMIT: 'maybe',
      NEO_WEBHOOK_RETRY_SCHEDULE: '5,0',
      NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: '127.0.0.1:9000,receiver.local',
      NEO_OIDC_ISSUER: 'http://byok.example.com',
      NEO_REDIS_URL: 'http://127.0.0.1:6379',
      NEO_JWT_SECRET: 'a-jwt-secret-that-is-long-enough-0123456789',
      NEO_JWT_JWKS_URL: 'https://idp.example.com/jwks',
    });
    assert.equal(code, 78, stderr);
    assert.equal(stdout, '');
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines[0], 'neo-byok: Invalid configuration:');
    const expected = [
      '  - NEO_OIDC_ISSUER must use https (clouds fetch the issuer\'s keys over https only); plain http is accepted only for http://127.0.0.1:<port> or http://localhost:<port> in local tests (got "http://byok.example.com")',
      '  - NEO_KEY_INVALID_AFTER must be a duration such as 30s, 5m or 24h (got "soon")',
      '  - NEO_KEY_RECHECK_INTERVAL must be between 1000 ms and 2592000000 ms (got 5184000000 ms)',
      '  - NEO_WEBHOOK_RETRY_SCHEDULE must be 1 to 20 comma-separated whole numbers of seconds, each from 1 to 172800 (got "5,0")',
      '  - NEO_WEBHOOK_ALLOWED_HTTP_HOSTS must be comma-separated host:port pairs such as 127.0.0.1:9000 (a port is required); not valid: "receiver.local"',
      '  - NEO_REDIS_URL must use redis: or rediss: (got http:)',
      '  - NEO_RATE_LIMIT must be on or off (got "maybe")',
      '  - set NEO_JWT_SECRET or NEO_JWT_JWKS_URL, not both',
    ];
    assert.deepEqual(lines.slice(1), expected);
    assert.equal(existsSync(dir), false, 'no data dir, no secrets, no database');
  });
});

describe('configuration docs', () => {
  const schema = EnvSchema.properties as Record<string, { default?: string | number }>;

  it('docs/configuration.md has a row for every variable of the schema, with its default, and documents no other', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `([A-Z0-9_*]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    for (const [name, s] of Object.entries(schema)) {
      // The provider URLs share the NEO_PROVIDER_URL_* row, which names each of them.
      const row = rows.get(name) ?? (name.startsWith('NEO_PROVIDER_URL_') && doc.includes(`\`${name}\``) ? rows.get('NEO_PROVIDER_URL_*') : undefined);
      assert.ok(row !== undefined, `docs/configuration.md has a row for ${name}`);
      if (s.default === undefined) assert.ok(!row.startsWith('`'), `${name} has no fixed default in the schema; the docs give ${row}`);
      else assert.ok(row.startsWith(`\`${String(s.default)}\``), `${name}: default \`${String(s.default)}\` in the schema, ${row} in the docs`);
    }
    const documented = new Set([...doc.matchAll(/\bNEO_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]));
    documented.delete('NEO_PROVIDER_URL'); // NEO_PROVIDER_URL_*
    for (const name of documented) assert.ok(name in schema, `docs/configuration.md documents ${name}, which the schema does not have`);
  });

  it('the README table lists every variable of the schema', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const name of Object.keys(schema)) {
      // The README may group the provider URLs as NEO_PROVIDER_URL_*.
      const listed = readme.includes(`\`${name}\``) || (name.startsWith('NEO_PROVIDER_URL_') && readme.includes('`NEO_PROVIDER_URL_*`'));
      assert.ok(listed, `README.md lists ${name}`);
    }
  });

  it('relative links in README.md, docs/configuration.md and docs/errors.md point at files that exist', () => {
    for (const file of ['README.md', 'docs/configuration.md', 'docs/errors.md']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const base = join(ROOT, file, '..');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/i.test(target)) continue;
        assert.ok(existsSync(join(base, target)), `${file} links to ${target}, which does not exist`);
      }
    }
  });
});
