/**
 * First benchmark of POST /internal/v1/credentials/resolve, beside a GET /healthz
 * baseline measured in the same run (docs/benchmarks.md, "Resolve (first measurement)").
 *
 *   npm run bench:resolve                      # 50 connections, 10 s per scenario
 *   BENCH_DURATION=5 BENCH_CONNECTIONS=20 BENCH_ROUNDS=3 npm run bench:resolve
 *
 * 1. A fresh data dir (SQLite) is seeded directly: a solo user in byok mode with an
 *    Anthropic and an OpenAI key (encrypted by the real vault), a second user in neo mode.
 * 2. The real server (`bin/neo-byok serve`) starts in a child process on a free port.
 * 3. autocannon, in this process, drives each scenario in turn: /healthz, resolve in
 *    byok mode (decrypts the credential every call), resolve in neo mode, resolve `auto`.
 * After a short warm-up of each, the scenarios run interleaved for BENCH_ROUNDS rounds;
 * the medians are printed as a table and as JSON (for docs/benchmarks.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { KeyVault } from '../../src/crypto/vault.ts';
import { lockOwner, nowIso, openDatabase, withTransaction } from '../../src/db/index.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import { LocalBus } from '../../src/lib/bus.ts';
import type { Owner } from '../../src/modules/auth/owner.ts';
import { ByokRepo } from '../../src/modules/byok/byok.repo.ts';
import type { ProviderName } from '../../src/providers/types.ts';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}) => Promise<AutocannonResult>;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;

const ROOT = new URL('../../', import.meta.url).pathname;
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP = Math.min(2, DURATION);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function seed(env: Record<string, string>): Promise<{ byokUser: string; neoUser: string }> {
  const config = loadConfig(env);
  const database = await openDatabase(config.databaseUrl);
  try {
    const db = database.db;
    await KeyVault.verifyMasterKey(db, config.masterKey);
    const vault = new KeyVault({ db, masterKey: config.masterKey, bus: new LocalBus() });
    const repo = new ByokRepo(db);
    const now = nowIso();
    const mkUser = async (email: string) => {
      const id = uuidv7();
      await db.insertInto('users').values({ id, sub: `bench|${email}`, email, role: 'user', tag: null, created_at: now, updated_at: now }).execute();
      return id;
    };
    const byokUser = await mkUser('bench-byok@example.com');
    const neoUser = await mkUser('bench-neo@example.com');
    const owner: Owner = { type: 'user', id: byokUser };
    await db.insertInto('features').values({ owner_type: 'user', owner_id: byokUser, name: 'byok', enabled: 1, updated_at: now }).execute();
    const keys: [ProviderName, string[]][] = [
      ['anthropic', ['claude-sonnet-4-5-20250929', 'claude-opus-4-1-20250805', 'claude-haiku-4-5-20251001']],
      ['openai', ['gpt-5', 'gpt-5-mini', 'gpt-4.1', 'o3', 'text-embedding-3-large']],
    ];
    await withTransaction(db, async (trx) => {
      await lockOwner(trx, database.dialect, owner, now);
      for (const [provider, models] of keys) {
        const secret = `sk-bench-${provider}-${randomBytes(16).toString('hex')}`;
        const { ciphertext, dataKeyId } = await vault.encryptFor(trx, owner, provider, secret);
        await repo.insertKey(trx, owner, {
          id: uuidv7(),
          provider,
          displayName: null,
          location: null,
          keyHint: 'sk-…bench',
          ciphertext,
          dataKeyId,
          isValidated: true,
          validatedAt: now,
          models,
          modelsDiscoveredAt: now,
          now,
        });
      }
      await repo.setMode(trx, owner, 'byok', now);
    });
    return { byokUser, neoUser };
  } finally {
    await database.close();
  }
}

async function startServer(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/neo-byok'), 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return child;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error('server did not start within 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Scenario {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Row {
  scenario: string;
  'req/s': number;
  'p50 ms': number;
  'p99 ms': number;
  'vs /healthz': string;
  'non-2xx': number;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-bench-resolve-'));
  const port = await freePort();
  const internalToken = randomBytes(32).toString('base64url');
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    NEO_DATA_DIR: dataDir,
    NEO_MASTER_KEY: randomBytes(32).toString('base64'),
    NEO_JWT_SECRET: randomBytes(48).toString('base64url'),
    NEO_INTERNAL_TOKEN: internalToken,
    NEO_LOG_LEVEL: 'warn',
    NEO_RATE_LIMIT: 'off',
  };
  let child: ChildProcess | undefined;
  const loadBefore = loadavg().map((l) => l.toFixed(1)).join(' / ');
  try {
    const { byokUser, neoUser } = await seed(env);
    child = await startServer(env, port);
    const base = `http://127.0.0.1:${port}`;
    const internal = { authorization: `Bearer ${internalToken}`, 'content-type': 'application/json' };
    const resolveBody = (user_id: string, model: string) => JSON.stringify({ user_id, model });
    const scenarios: Scenario[] = [
      { name: 'GET /healthz (baseline)', path: '/healthz' },
      { name: 'resolve byok (decrypts)', path: '/internal/v1/credentials/resolve', method: 'POST', headers: internal, body: resolveBody(byokUser, 'claude-sonnet-4-5') },
      { name: 'resolve byok auto', path: '/internal/v1/credentials/resolve', method: 'POST', headers: internal, body: resolveBody(byokUser, 'auto') },
      { name: 'resolve neo', path: '/internal/v1/credentials/resolve', method: 'POST', headers: internal, body: resolveBody(neoUser, 'gpt-5') },
    ];
    // Sanity: every scenario answers 200 before it is measured.
    for (const s of scenarios) {
      const res = await fetch(base + s.path, { method: s.method ?? 'GET', headers: s.headers ?? {}, ...(s.body ? { body: s.body } : {}) });
      if (res.status !== 200) throw new Error(`${s.name}: HTTP ${res.status} ${await res.text()}`);
    }
    const optsOf = (sc: Scenario) => ({ url: base + sc.path, connections: CONNECTIONS, method: sc.method ?? 'GET', headers: sc.headers ?? {}, ...(sc.body ? { body: sc.body } : {}) });
    for (const sc of scenarios) await autocannon({ ...optsOf(sc), duration: WARMUP });
    // Rounds interleave the scenarios, so a burst of load from elsewhere on the machine
    // hits every scenario alike; each figure is the median over the rounds, and the
    // ratio is taken against the /healthz baseline of the same round.
    const runs: AutocannonResult[][] = scenarios.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, sc] of scenarios.entries()) runs[i]!.push(await autocannon({ ...optsOf(sc), duration: DURATION }));
    }
    const median = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(v.length / 2);
      return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
    };
    const baseline = runs[0]!;
    const rows: Row[] = scenarios.map((sc, i) => {
      const r = runs[i]!;
      return {
        scenario: sc.name,
        'req/s': Math.round(median(r.map((x) => x.requests.average))),
        'p50 ms': median(r.map((x) => x.latency.p50)),
        'p99 ms': median(r.map((x) => x.latency.p99)),
        'vs /healthz': `${(median(r.map((x, k) => x.requests.average / baseline[k]!.requests.average)) * 100).toFixed(0)} %`,
        'non-2xx': r.reduce((n, x) => n + x.non2xx + x.errors + x.timeouts, 0),
      };
    });
    console.log(
      `\nResolve benchmark: ${CONNECTIONS} connections, ${ROUNDS} rounds × ${DURATION} s per scenario (medians), SQLite, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average before the run ${loadBefore}`,
    );
    console.table(rows);
    console.log(JSON.stringify({ connections: CONNECTIONS, rounds: ROUNDS, durationS: DURATION, node: process.version, cpus: cpus().length, loadBefore, rows }, null, 2));
    if (rows.some((r) => r['non-2xx'] > 0)) process.exitCode = 1;
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
