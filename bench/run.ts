/**
 * `npm run bench`: the benchmark suite of docs/benchmarks.md (issue 8).
 *
 *   npm run bench                                   # SQLite; PostgreSQL too with NEO_BENCH_DATABASE_URL
 *   npm run bench -- --smoke                        # 2 s per scenario, 1,000 owners, one run
 *   npm run bench -- --duration 5 --runs 3 --owners 1000 --only mode,resolve
 *   NEO_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench
 *
 * For each database and each owner count: a fresh data dir (and a fresh PostgreSQL
 * database), bulk seeding (bench/seed.ts), the real server (`bin/neo-byok serve`) in a
 * child process, a zero-latency fake of OpenAI's key check in another (bench/fake-openai.ts)
 * and autocannon in a third (bench/loadgen.ts). Every scenario is warmed up, then all
 * scenarios run in rounds (/healthz first in each round), so each figure has a /healthz
 * baseline measured minutes apart at most; the ratio is taken per round and the median
 * over rounds is reported. The server's event-loop delay and memory are read from its
 * /metrics (neo_event_loop_delay_seconds, reset by each scrape, so one scrape before and
 * one after each measured run bracket exactly that run).
 *
 * Options (flags, or BENCH_* environment variables):
 *   --duration <s>      seconds per measured run (BENCH_DURATION, default 10)
 *   --runs <n>          rounds; the median is reported (BENCH_RUNS, default 2)
 *   --warmup <s>        warm-up seconds per scenario before the rounds (BENCH_WARMUP, default 2)
 *   --connections <n>   concurrent connections (BENCH_CONNECTIONS, default 50)
 *   --owners <list>     owner counts, comma-separated (BENCH_OWNERS, default 1000,1000000)
 *   --pool <n>          benchmarked owners the load is spread over (default 100)
 *   --databases <list>  sqlite,postgres (default: sqlite, plus postgres when NEO_BENCH_DATABASE_URL is set)
 *   --only <list>       scenario ids to run besides /healthz (healthz, floor (with floor-healthz), mode, user, resolve, report,
 *                       set-mode, put-openai, resolve-auto, resolve-neo, resolve-batch, overload)
 *   --overload-connections <n>  connections of the overload scenario (default 500)
 *   --overload-loop-delay <ms>  the server's NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS (default: the
 *                       production default; 0 with --smoke: on a loaded test machine a starved
 *                       server sheds load in any scenario)
 *   --log-level <lvl>   the server's NEO_LOG_LEVEL (default info, the production default)
 *   --server-log <file> keep the server's log lines in a file (default: discarded)
 *   --cpu-prof <dir>    run the server under --cpu-prof, profiles written to <dir>
 *   --server-node-args "<flags>"  extra node flags for the server (e.g. "--trace-gc")
 *   --json <file>       also write every figure as JSON
 *   BENCH_SERVER_STDERR=1  show the server's stderr (default: kept, printed if it fails to start)
 *   --smoke             --duration 2 --runs 1 --warmup 0 --owners 1000
 *
 * `floor` is the minimal route of bench/floor.ts (the work of a resolve and nothing else)
 * in its own process, measured in the same rounds: "× floor" is a scenario's req/s over
 * the floor's. `floor-healthz` (run with `floor`) is a bare GET of the same process: the
 * floor's resolve ÷ that GET ("floor limit") is how close to a bare GET the work of a
 * resolve comes on this stack and machine, with no service code at all. `overload` is
 * resolve at 500 connections with the server's production load shedding: 503
 * `unavailable` answers are expected there, anything else is not.
 *
 * Exit code 1 when a scenario had a non-2xx answer (other than the overload scenario's
 * 503), an error or a timeout, or could not run; a missed speed target is reported, never an exit code (the machine is shared).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import { seedDatabase, type PoolOwner, type SeedResult } from './seed.ts';
import type { LoadResult, LoadSpec, RequestVariant } from './types.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/neo-byok');

// ---------------------------------------------------------------------------- options

export interface BenchOptions {
  duration: number;
  runs: number;
  warmup: number;
  connections: number;
  overloadConnections: number;
  /** NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS of the server; undefined: the production default. */
  overloadLoopDelayMs?: number;
  owners: number[];
  pool: number;
  databases: ('sqlite' | 'postgres')[];
  postgresUrl?: string;
  only?: string[];
  logLevel: string;
  serverLog?: string;
  cpuProf?: string;
  /** Extra node flags for the server process (e.g. --trace-gc). */
  serverNodeArgs: string[];
  json?: string;
  smoke: boolean;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--smoke') flags.set('smoke', '1');
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '') + '\n');
      process.exit(0);
    } else if (a.startsWith('--')) {
      const [k, v] = a.includes('=') ? [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a.slice(2), argv[++i]];
      if (v === undefined) throw new Error(`${a} needs a value`);
      flags.set(k, v);
    } else throw new Error(`unknown argument ${a}`);
  }
  const smoke = flags.has('smoke');
  const num = (flag: string, envName: string, def: number, min: number) => {
    const raw = flags.get(flag) ?? env[envName];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${flag} must be a number ≥ ${min} (got ${raw})`);
    return n;
  };
  const list = (flag: string, envName: string) => {
    const raw = flags.get(flag) ?? env[envName];
    return raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  };
  const postgresUrl = env.NEO_BENCH_DATABASE_URL || undefined;
  const databases = list('databases', 'BENCH_DATABASES') ?? (postgresUrl ? ['sqlite', 'postgres'] : ['sqlite']);
  for (const d of databases) {
    if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--databases: unknown database ${d}`);
    if (d === 'postgres' && !postgresUrl) throw new Error('--databases postgres needs NEO_BENCH_DATABASE_URL');
  }
  const owners = (list('owners', 'BENCH_OWNERS') ?? (smoke ? ['1000'] : ['1000', '1000000'])).map((s) => Number(s.replace(/_/g, '')));
  if (owners.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--owners must list whole numbers');
  const pool = num('pool', 'BENCH_POOL', 100, 2);
  if (owners.some((n) => n < pool + 1)) throw new Error(`every owner count must be at least --pool + 1 (${pool + 1})`);
  return {
    duration: num('duration', 'BENCH_DURATION', smoke ? 2 : 10, 1),
    runs: num('runs', 'BENCH_RUNS', smoke ? 1 : 2, 1),
    warmup: num('warmup', 'BENCH_WARMUP', smoke ? 0 : 2, 0),
    connections: num('connections', 'BENCH_CONNECTIONS', 50, 1),
    overloadConnections: num('overload-connections', 'BENCH_OVERLOAD_CONNECTIONS', 500, 1),
    ...(flags.has('overload-loop-delay') || env.BENCH_OVERLOAD_LOOP_DELAY || smoke
      ? { overloadLoopDelayMs: num('overload-loop-delay', 'BENCH_OVERLOAD_LOOP_DELAY', 0, 0) }
      : {}),
    owners: [...new Set(owners)].sort((a, b) => a - b),
    pool,
    databases: databases as ('sqlite' | 'postgres')[],
    ...(postgresUrl ? { postgresUrl } : {}),
    ...(list('only', 'BENCH_ONLY') ? { only: list('only', 'BENCH_ONLY')! } : {}),
    logLevel: flags.get('log-level') ?? env.BENCH_LOG_LEVEL ?? 'info',
    ...(flags.get('server-log') ? { serverLog: flags.get('server-log')! } : {}),
    ...(flags.get('cpu-prof') ? { cpuProf: flags.get('cpu-prof')! } : {}),
    serverNodeArgs: (flags.get('server-node-args') ?? '').split(' ').filter(Boolean),
    ...(flags.get('json') ? { json: flags.get('json')! } : {}),
    smoke,
  };
}

// -------------------------------------------------------------------------- processes

/** Everything started by this run, stopped in reverse order on exit or Ctrl-C. */
const cleanups: (() => Promise<void> | void)[] = [];
async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch {
      /* best effort */
    }
  }
}

function childEnv(env: Record<string, string>): Record<string, string> {
  const keep: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const v = process.env[k];
    if (v !== undefined) keep[k] = v;
  }
  return { ...keep, ...env };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

/** Starts a TypeScript entry in a child process and waits for its `listening <url>` line. */
async function startFakeOpenAi(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/fake-openai.ts')], {
    cwd: ROOT,
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => stopChild(child));
  const url = await listeningUrl(child, 'the fake provider');
  return { url, child };
}

/** The URL a child process prints in its "listening <url>" line. */
function listeningUrl(child: ChildProcess, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buf += d;
      const m = /listening (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

/** Starts the floor (bench/floor.ts) for the pool's users; see that file. */
async function startFloor(userIds: string[], token: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/floor.ts')], {
    cwd: ROOT,
    env: childEnv({ NEO_FLOOR_USERS: userIds.join(','), NEO_FLOOR_TOKEN: token }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => stopChild(child);
  cleanups.push(stop);
  const url = await listeningUrl(child, 'the floor server');
  return { url, pid: child.pid!, stop };
}

/** User + system CPU seconds of a process, from /proc (Linux). */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

interface LoadGen {
  run(spec: LoadSpec): Promise<LoadResult>;
}

function startLoadGen(): LoadGen {
  const child = fork(join(ROOT, 'bench/loadgen.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], env: childEnv({}), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => {
    if (child.connected) child.disconnect();
    return stopChild(child);
  });
  let seq = 0;
  const waiting = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  child.on('message', (msg: { id: number; result?: LoadResult; error?: string }) => {
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.result) w.resolve(msg.result);
    else w.reject(new Error(`load generator: ${msg.error ?? 'failed'}`));
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the load generator exited with ${code}`));
    waiting.clear();
  });
  return {
    run: (spec) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, { resolve, reject });
        child.send({ id, spec });
      }),
  };
}

interface ServerHandle {
  url: string;
  pid: number;
  /** With --cpu-prof: the path of the profile the server writes when it stops. */
  profile?: string;
  stop(): Promise<void>;
}

async function startServer(env: Record<string, string>, opts: BenchOptions, label: string): Promise<ServerHandle> {
  const port = await freePort();
  const profileName = `server-${label}-${Date.now()}.cpuprofile`;
  const execArgv = [...opts.serverNodeArgs, ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`, `--cpu-prof-name=${profileName}`] : [])];
  // Log lines go to a file or to /dev/null: the server pays for producing them, as in
  // production; nobody in this machine's two cores pays for reading them.
  const logFd = opts.serverLog ? openSync(opts.serverLog, 'a') : 'ignore';
  const child = spawn(process.execPath, [...execArgv, BIN, 'serve'], {
    cwd: ROOT,
    env: childEnv({ ...env, PORT: String(port), HOST: '127.0.0.1' }),
    stdio: ['ignore', logFd, process.env.BENCH_SERVER_STDERR ? 'inherit' : 'pipe'],
  });
  if (typeof logFd === 'number') closeSync(logFd);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const stop = () => stopChild(child);
  cleanups.push(stop);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`the server did not answer /healthz within 120 s: ${stderr}`);
    await sleep(100);
  }
  return { url, pid: child.pid!, stop, ...(opts.cpuProf ? { profile: join(opts.cpuProf, profileName) } : {}) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// -------------------------------------------------------------------------- scenarios

interface Target {
  /** Minimum req/s as a fraction of /healthz in the same round. */
  ratio: number;
  /** Maximum p99 latency in ms. */
  p99Ms?: number;
  /** Maximum server CPU per request in µs (issue 15). */
  cpuUs?: number;
}

interface Scenario {
  id: string;
  label: string;
  kind: 'baseline' | 'floor' | 'read' | 'write' | 'extra' | 'overload';
  method: LoadSpec['method'];
  path: string;
  variants: RequestVariant[];
  /** Targets on SQLite (issue 8). */
  target?: Target;
  /** Another server than the neo-byok one (the floor), with its process id for CPU time. */
  server?: { url: string; pid: number };
  /** Connections, when not --connections. */
  connections?: number;
  /** Statuses that are not failures besides 2xx (503 under overload). */
  accept?: number[];
  /** Runs after each measured run (restores what a write scenario changed). */
  after?: () => Promise<void>;
  /** Resolves per request (the batch resolve): its figures are also shown as resolves/s. */
  itemsPerRequest?: number;
  /** Checks the first answer's body beyond its 2xx status (each batch item answered 200). */
  verify?: (body: string) => void;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
/** Items per request of the resolve-batch scenario (the endpoint's maximum). */
const BATCH_ITEMS = 100;
/** Connections of the resolve-batch scenario. */
const BATCH_CONNECTIONS = 5;

async function jwtFor(p: PoolOwner, secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: p.email, email_verified: true })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(p.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + 6 * 3600)
    .sign(new TextEncoder().encode(secret));
}

async function buildScenarios(
  seed: SeedResult,
  secrets: { jwt: string; internal: string },
  serverUrl: string,
  floor: { url: string; pid: number },
  opts: BenchOptions,
): Promise<Scenario[]> {
  const tokens = await Promise.all(seed.pool.map((p) => jwtFor(p, secrets.jwt)));
  const bearer = (k: number) => ({ authorization: `Bearer ${tokens[k]!}` });
  const internal = { authorization: `Bearer ${secrets.internal}`, ...JSON_HEADERS };
  const resolveBody = (userId: string, model: string) => JSON.stringify({ user_id: userId, model });
  const setMode = (k: number, mode: 'neo' | 'byok'): RequestVariant => ({ headers: { ...bearer(k), ...JSON_HEADERS }, body: JSON.stringify({ mode }) });
  const restoreByok = async () => {
    // The alternation stops wherever the run ends: put every pool owner back to byok so
    // the next round's reads see the same state.
    for (let k = 0; k < seed.pool.length; k++) {
      const v = setMode(k, 'byok');
      const res = await fetch(`${serverUrl}/api/v1/byok/mode`, { method: 'PATCH', headers: v.headers, body: v.body! });
      if (!res.ok) throw new Error(`restoring byok mode: HTTP ${res.status}`);
    }
  };
  // The pool's stored keys (id and version) for the runtime-report scenario: a batch of
  // 100 `ok` reports, what an agent runtime that reports every call sends.
  const poolKeys: { credential_id: string; credential_version: number }[] = [];
  for (let k = 0; k < seed.pool.length; k++) {
    const res = await fetch(`${serverUrl}/api/v1/byok/providers`, { headers: bearer(k) });
    if (!res.ok) throw new Error(`listing the pool's keys: HTTP ${res.status}`);
    const body = (await res.json()) as { provider_keys: { id: string; credential_version: number }[] };
    for (const key of body.provider_keys) {
      poolKeys.push({ credential_id: key.id, credential_version: key.credential_version });
    }
  }
  // Batches of 100 byok resolves over the pool (each owner's two models), each batch
  // starting elsewhere in the pool: what a runtime preparing many calls at once sends.
  const resolveItems = seed.pool.flatMap((p) => ['claude-sonnet-4-5', 'gpt-5'].map((model) => ({ user_id: p.userId, model })));
  const resolveBatch = (offset: number) =>
    JSON.stringify({ items: Array.from({ length: BATCH_ITEMS }, (_x, i) => resolveItems[(offset + i) % resolveItems.length]!) });
  const reportBatch = (offset: number) =>
    JSON.stringify({ reports: Array.from({ length: 100 }, (_x, i) => ({ ...poolKeys[(offset + i) % poolKeys.length]!, outcome: 'ok', status_code: 200 })) });
  return [
    { id: 'healthz', label: 'GET /healthz (baseline)', kind: 'baseline', method: 'GET', path: '/healthz', variants: [] },
    {
      id: 'floor-healthz',
      label: 'floor: bare GET /healthz (bench/floor.ts)',
      kind: 'floor',
      method: 'GET',
      path: '/healthz',
      server: floor,
      variants: [],
    },
    {
      id: 'floor',
      label: 'floor: minimal resolve route (bench/floor.ts)',
      kind: 'floor',
      method: 'POST',
      path: '/internal/v1/credentials/resolve',
      server: floor,
      variants: seed.pool.flatMap((p) => ['claude-sonnet-4-5', 'gpt-5'].map((m) => ({ headers: internal, body: resolveBody(p.userId, m) }))),
    },
    {
      id: 'mode',
      label: 'GET /api/v1/byok/mode (X-Api-Key)',
      kind: 'read',
      method: 'GET',
      path: '/api/v1/byok/mode',
      variants: seed.pool.map((p) => ({ headers: { 'x-api-key': p.apiKey } })),
      target: { ratio: 0.65, p99Ms: 10 },
    },
    {
      id: 'user',
      label: 'GET /api/v1/user (JWT)',
      kind: 'read',
      method: 'GET',
      path: '/api/v1/user',
      variants: seed.pool.map((_p, k) => ({ headers: bearer(k) })),
      target: { ratio: 0.45 },
    },
    {
      id: 'resolve',
      label: 'POST /internal/v1/credentials/resolve (byok)',
      kind: 'read',
      method: 'POST',
      path: '/internal/v1/credentials/resolve',
      variants: seed.pool.flatMap((p) => ['claude-sonnet-4-5', 'gpt-5'].map((m) => ({ headers: internal, body: resolveBody(p.userId, m) }))),
      target: { ratio: 0.6, p99Ms: 10, cpuUs: 75 },
    },
    {
      id: 'set-mode',
      label: 'PATCH /api/v1/byok/mode (alternating, JWT)',
      kind: 'write',
      method: 'PATCH',
      path: '/api/v1/byok/mode',
      // Round robin over [every owner → neo, every owner → byok]: each call changes its
      // owner's mode (a locked transaction, an update and an audit row).
      variants: [...seed.pool.map((_p, k) => setMode(k, 'neo')), ...seed.pool.map((_p, k) => setMode(k, 'byok'))],
      target: { ratio: 0.15 },
      after: restoreByok,
    },
    {
      id: 'put-openai',
      label: 'PATCH /api/v1/byok/providers/openai (JWT, fake OpenAI)',
      kind: 'write',
      method: 'PATCH',
      path: '/api/v1/byok/providers/openai',
      variants: seed.pool.map((_p, k) => ({
        headers: { ...bearer(k), ...JSON_HEADERS },
        body: JSON.stringify({ api_key: `sk-proj-${randomBytes(60).toString('base64url')}`, display_name: 'Bench key' }),
      })),
      target: { ratio: 0.05 },
    },
    {
      id: 'resolve-auto',
      label: 'POST …/credentials/resolve (byok, model auto)',
      kind: 'extra',
      method: 'POST',
      path: '/internal/v1/credentials/resolve',
      variants: seed.pool.map((p) => ({ headers: internal, body: resolveBody(p.userId, 'auto') })),
    },
    {
      id: 'resolve-neo',
      label: 'POST …/credentials/resolve (neo owner)',
      kind: 'extra',
      method: 'POST',
      path: '/internal/v1/credentials/resolve',
      variants: [{ headers: internal, body: resolveBody(seed.neoUser.userId, 'gpt-5') }],
    },
    {
      id: 'resolve-batch',
      label: `POST …/credentials/resolve-batch (byok, ${BATCH_ITEMS} items, ${BATCH_CONNECTIONS} conn.)`,
      kind: 'extra',
      method: 'POST',
      path: '/internal/v1/credentials/resolve-batch',
      itemsPerRequest: BATCH_ITEMS,
      // 5 connections × 100 items = 500 resolves in flight (the single resolve: 50). At 50
      // connections (5,000 in flight) one poll phase holds ~50 batches of ~4 ms each: the
      // event-loop delay passes the load-shedding threshold and the server answers 503s.
      connections: BATCH_CONNECTIONS,
      variants: Array.from({ length: 10 }, (_x, k) => ({ headers: internal, body: resolveBatch(k * 37) })),
      verify: (body) => {
        const statuses = (JSON.parse(body) as { results: { status: number }[] }).results.map((r) => r.status);
        if (statuses.length !== BATCH_ITEMS || statuses.some((st) => st !== 200)) throw new Error(`resolve-batch: item statuses ${JSON.stringify(statuses)}`);
      },
    },
    {
      id: 'report',
      label: 'POST /internal/v1/credentials/report (100 ok reports)',
      kind: 'extra',
      method: 'POST',
      path: '/internal/v1/credentials/report',
      variants: Array.from({ length: 10 }, (_x, k) => ({ headers: internal, body: reportBatch(k * 100) })),
    },
    {
      id: 'overload',
      label: `POST …/credentials/resolve (byok), ${opts.overloadConnections} connections`,
      kind: 'overload',
      method: 'POST',
      path: '/internal/v1/credentials/resolve',
      connections: opts.overloadConnections,
      accept: [503],
      variants: seed.pool.flatMap((p) => ['claude-sonnet-4-5', 'gpt-5'].map((m) => ({ headers: internal, body: resolveBody(p.userId, m) }))),
    },
  ];
}

// ---------------------------------------------------------------------------- metrics

interface ServerStats {
  /** User + system CPU seconds of the server process since it started. */
  cpuSeconds: number;
  /** Of which system (kernel) CPU seconds: socket reads and writes, the log's write, SQLite's file locks. */
  systemSeconds: number;
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  rssBytes: number;
  peakRssBytes: number;
}

function metricValue(text: string, name: string, labels = ''): number {
  const esc = (name + labels).replace(/[{}."=]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${esc} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Scrapes /metrics: event-loop delay since the previous scrape, current and peak RSS. */
async function scrape(serverUrl: string, internalToken: string): Promise<ServerStats> {
  const res = await fetch(`${serverUrl}/metrics`, { headers: { authorization: `Bearer ${internalToken}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  return {
    cpuSeconds: metricValue(text, 'process_cpu_user_seconds_total') + metricValue(text, 'process_cpu_system_seconds_total'),
    systemSeconds: metricValue(text, 'process_cpu_system_seconds_total'),
    loopP50Ms: metricValue(text, 'neo_event_loop_delay_seconds', '{quantile="0.5"}') * 1000,
    loopP99Ms: metricValue(text, 'neo_event_loop_delay_seconds', '{quantile="0.99"}') * 1000,
    loopMaxMs: metricValue(text, 'neo_event_loop_delay_seconds', '{quantile="1"}') * 1000,
    rssBytes: metricValue(text, 'process_resident_memory_bytes'),
    peakRssBytes: metricValue(text, 'neo_process_peak_resident_memory_bytes'),
  };
}

/** Peak RSS from the kernel (Linux), as a cross-check of the server's own figure. */
function vmHwmBytes(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------- running

interface RunFigures extends LoadResult {
  round: number;
  /** req/s divided by /healthz req/s of the same round. */
  ratio: number;
  /** req/s divided by the floor's req/s of the same round. */
  floorRatio: number;
  /** Answers that count as failures (non-2xx outside `accept`, errors, timeouts). */
  failures: number;
  /** Server CPU time (user + system) per request, in µs: what a request costs, whatever the machine's load. */
  cpuUsPerRequest: number;
  /** Of which system (kernel) time, µs per request (NaN for the floor). */
  sysUsPerRequest: number;
  loopP99Ms: number;
  loopMaxMs: number;
  rssBytes: number;
}

interface ScenarioFigures {
  id: string;
  label: string;
  kind: Scenario['kind'];
  target?: Target;
  runs: RunFigures[];
  median: { rps: number; ratio: number; floorRatio: number; p50: number; p99: number; cpuUsPerRequest: number; sysUsPerRequest: number };
  /** Resolves per request (resolve-batch); the median resolves/s is median.rps × this. */
  itemsPerRequest?: number;
  /** Answers with a status in `accept` (503 under overload), all runs. */
  accepted: number;
  /** Worst run. */
  loopP99Ms: number;
  rssBytes: number;
  failures: number;
}

interface Phase {
  database: 'sqlite' | 'postgres';
  owners: number;
  seedMs: number;
  rows: Record<string, number>;
  peakRssBytes: number;
  scenarios: ScenarioFigures[];
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const log = (line: string) => process.stdout.write(`${line}\n`);

async function createPostgresDatabase(base: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `neo_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function runPhase(
  database: 'sqlite' | 'postgres',
  owners: number,
  first: boolean,
  opts: BenchOptions,
  loadgen: LoadGen,
  fakeUrl: string,
): Promise<Phase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  let databaseUrl = join(dataDir, 'neo.db');
  let dropPg: (() => Promise<void>) | undefined;
  if (database === 'postgres') {
    const created = await createPostgresDatabase(opts.postgresUrl!);
    databaseUrl = created.url;
    dropPg = created.drop;
    cleanups.push(created.drop);
  }
  const masterKey = randomBytes(32);
  const secrets = { jwt: randomBytes(48).toString('base64url'), internal: randomBytes(32).toString('base64url') };
  log(`\n== ${database}, ${owners.toLocaleString('en-US')} owners: seeding`);
  const seed = await seedDatabase({ databaseUrl, owners, pool: opts.pool, masterKey, log });
  log(`   seeded in ${(seed.ms / 1000).toFixed(1)} s: ${Object.entries(seed.rows).map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`).join(', ')}`);

  const server = await startServer(
    {
      NEO_DATA_DIR: dataDir,
      NEO_DATABASE_URL: databaseUrl,
      NEO_MASTER_KEY: masterKey.toString('base64'),
      NEO_JWT_SECRET: secrets.jwt,
      NEO_INTERNAL_TOKEN: secrets.internal,
      NEO_LOG_LEVEL: opts.logLevel,
      // Rate limits stay on (their cost is part of every figure) with room for the load.
      NEO_RATE_LIMIT: 'on',
      NEO_RATE_LIMIT_WRITES: '1000000',
      NEO_RATE_LIMIT_PROVIDER_CALLS: '1000000',
      NEO_PROVIDER_URL_OPENAI: fakeUrl,
      ...(opts.overloadLoopDelayMs !== undefined ? { NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: String(opts.overloadLoopDelayMs) } : {}),
    },
    opts,
    `${database}-${owners}`,
  );
  const floor = await startFloor(
    seed.pool.map((p) => p.userId),
    secrets.internal,
  );
  log(`   server pid ${server.pid} at ${server.url}; floor pid ${floor.pid} at ${floor.url}`);
  const all = await buildScenarios(seed, secrets, server.url, floor, opts);
  const scenarios = all.filter(
    (s) =>
      (s.kind === 'baseline' || s.kind === 'floor' || s.kind === 'read' || (database === 'sqlite' && first)) &&
      // The floor's bare GET runs with the floor: the floor's limit ratio needs both.
      (s.id === 'healthz' || !opts.only || opts.only.includes(s.id) || (s.id === 'floor-healthz' && opts.only.includes('floor'))),
  );
  const spec = (s: Scenario, duration: number): LoadSpec => ({
    url: s.server?.url ?? server.url,
    path: s.path,
    method: s.method,
    connections: s.connections ?? opts.connections,
    duration,
    variants: s.variants,
  });

  // Every scenario answers 2xx before it is measured.
  for (const s of scenarios) {
    const v = s.variants[0] ?? { headers: {} };
    const res = await fetch((s.server?.url ?? server.url) + s.path, { method: s.method, headers: v.headers, ...(v.body !== undefined ? { body: v.body } : {}) });
    if (!res.ok) throw new Error(`${s.label}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    if (s.verify) s.verify(await res.text());
    else await res.arrayBuffer().catch(() => undefined);
    await s.after?.();
  }
  if (opts.warmup > 0) {
    log(`   warming up (${opts.warmup} s per scenario)`);
    for (const s of scenarios) {
      await loadgen.run(spec(s, opts.warmup));
      await s.after?.();
    }
  }

  const figures = new Map<string, RunFigures[]>(scenarios.map((s) => [s.id, []]));
  // With --cpu-prof: when each measured run began and ended, in µs of the monotonic clock
  // that V8's profiler also uses (bench/profile.ts --scenario reads one scenario's samples).
  const profileWindows: { scenario: string; round: number; from: number; to: number; requests: number }[] = [];
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  for (let round = 1; round <= opts.runs; round++) {
    let baseline = NaN;
    let floorRps = NaN;
    let floorGetRps = NaN;
    for (const s of scenarios) {
      const before = await scrape(server.url, secrets.internal);
      const otherBefore = s.server ? procCpuSeconds(s.server.pid) : NaN;
      const from = monotonicUs();
      const r = await loadgen.run(spec(s, opts.duration));
      profileWindows.push({ scenario: s.id, round, from, to: monotonicUs(), requests: r.requests });
      const stats = await scrape(server.url, secrets.internal);
      if (s.id === 'healthz') baseline = r.rps;
      if (s.id === 'floor') floorRps = r.rps;
      if (s.id === 'floor-healthz') floorGetRps = r.rps;
      // The floor's CPU from /proc; its loop and memory are not measured (no /metrics).
      const cpuSeconds = s.server ? procCpuSeconds(s.server.pid) - otherBefore : stats.cpuSeconds - before.cpuSeconds;
      const cpuUsPerRequest = (cpuSeconds * 1e6) / Math.max(1, r.requests);
      const sysUsPerRequest = s.server ? NaN : ((stats.systemSeconds - before.systemSeconds) * 1e6) / Math.max(1, r.requests);
      const accepted = (s.accept ?? []).reduce((n, code) => n + (r.statusCodes[String(code)] ?? 0), 0);
      const failures = r.non2xx - accepted + r.errors + r.timeouts;
      const f: RunFigures = {
        ...r,
        round,
        // A baseline or floor run that got no answer in its time gives no ratio (not ∞).
        ratio: baseline > 0 ? r.rps / baseline : NaN,
        floorRatio: r.rps / floorRps,
        failures,
        cpuUsPerRequest,
        sysUsPerRequest,
        loopP99Ms: s.server ? NaN : stats.loopP99Ms,
        loopMaxMs: s.server ? NaN : stats.loopMaxMs,
        rssBytes: s.server ? NaN : stats.rssBytes,
      };
      figures.get(s.id)!.push(f);
      log(
        `   round ${round} ${s.label.padEnd(52)} ${fmtInt(r.rps).padStart(7)} req/s  ×${f.ratio.toFixed(2)}${Number.isFinite(f.floorRatio) ? `  ×floor ${f.floorRatio.toFixed(2)}` : ''}${s.id === 'floor' && floorGetRps > 0 ? `  floor limit ×${(r.rps / floorGetRps).toFixed(2)}` : ''}  cpu ${fmtInt(cpuUsPerRequest)} µs/req${Number.isFinite(sysUsPerRequest) ? ` (sys ${fmtInt(sysUsPerRequest)})` : ''}  p50 ${r.p50} ms  p99 ${r.p99} ms  loop p99 ${fmtMs(f.loopP99Ms)} ms` +
          (s.itemsPerRequest ? `  = ${fmtInt(r.rps * s.itemsPerRequest)} resolves/s, cpu ${fmtInt(cpuUsPerRequest / s.itemsPerRequest)} µs/resolve` : '') +
          (accepted ? `  (${accepted} × 503)` : '') +
          (failures ? `  !! non-2xx ${r.non2xx} errors ${r.errors} timeouts ${r.timeouts} ${JSON.stringify(r.statusCodes)}` : ''),
      );
      await s.after?.();
    }
    // The floor runs after /healthz: every "× floor" of the round once the floor is known.
    for (const s of scenarios) {
      const f = figures.get(s.id)!.at(-1);
      if (f) f.floorRatio = floorRps > 0 ? f.rps / floorRps : NaN;
    }
  }
  const end = await scrape(server.url, secrets.internal);
  const hwm = vmHwmBytes(server.pid);
  const peakRssBytes = Math.max(end.peakRssBytes || 0, hwm ?? 0);
  await server.stop();
  if (server.profile) {
    writeFileSync(`${server.profile}.windows.json`, JSON.stringify(profileWindows, null, 1));
    log(`   profile ${server.profile} (windows: ${server.profile}.windows.json; read it with npm run bench:profile)`);
  }
  await floor.stop();
  await dropPg?.();
  rmSync(dataDir, { recursive: true, force: true });

  return {
    database,
    owners,
    seedMs: seed.ms,
    rows: seed.rows,
    peakRssBytes,
    scenarios: scenarios.map((s) => {
      const runs = figures.get(s.id)!;
      return {
        id: s.id,
        label: s.label,
        kind: s.kind,
        ...(s.itemsPerRequest ? { itemsPerRequest: s.itemsPerRequest } : {}),
        ...(s.target ? { target: s.target } : {}),
        runs,
        median: {
          rps: median(runs.map((r) => r.rps)),
          ratio: median(runs.map((r) => r.ratio)),
          floorRatio: median(runs.map((r) => r.floorRatio)),
          p50: median(runs.map((r) => r.p50)),
          p99: median(runs.map((r) => r.p99)),
          cpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)),
          sysUsPerRequest: median(runs.map((r) => r.sysUsPerRequest)),
        },
        loopP99Ms: Math.max(...runs.map((r) => r.loopP99Ms)),
        rssBytes: Math.max(...runs.map((r) => r.rssBytes)),
        failures: runs.reduce((n, r) => n + r.failures, 0),
        accepted: runs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts - r.failures, 0),
      };
    }),
  };
}

// ---------------------------------------------------------------------------- report

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const fmtMb = (b: number) => (Number.isFinite(b) && b > 0 ? `${(b / 2 ** 20).toFixed(0)}` : '–');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n >= 10 ? n.toFixed(0) : n.toFixed(1)) : '–');

interface Check {
  what: string;
  measured: string;
  ok: boolean;
}

const LOOP_P99_LIMIT_MS = 20;
const SCALE_TOLERANCE = 0.15;
const RSS_LIMIT_BYTES = 256 * 2 ** 20;
const SEED_LIMIT_MS = 180_000;

function checks(phases: Phase[]): Check[] {
  const out: Check[] = [];
  for (const ph of phases) {
    const where = `${ph.database}, ${fmtInt(ph.owners)} owners`;
    for (const s of ph.scenarios) {
      if (s.target && ph.database === 'sqlite') {
        out.push({ what: `${s.label} ≥ ${s.target.ratio.toFixed(2)} × /healthz (${where})`, measured: `×${s.median.ratio.toFixed(2)}`, ok: s.median.ratio >= s.target.ratio });
        if (s.target.p99Ms !== undefined) {
          out.push({ what: `${s.label} p99 ≤ ${s.target.p99Ms} ms (${where})`, measured: `${fmtMs(s.median.p99)} ms`, ok: s.median.p99 <= s.target.p99Ms });
        }
        if (s.target.cpuUs !== undefined) {
          out.push({ what: `${s.label} server CPU ≤ ${s.target.cpuUs} µs/request (${where})`, measured: `${fmtInt(s.median.cpuUsPerRequest)} µs`, ok: s.median.cpuUsPerRequest <= s.target.cpuUs });
        }
      }
      if (s.kind === 'overload') {
        out.push({ what: `${s.label}: only 2xx or 503, p99 bounded (${where})`, measured: `p99 ${fmtMs(s.median.p99)} ms, ${fmtInt(s.accepted)} × 503, ${s.failures} other`, ok: s.failures === 0 });
        continue;
      }
      if (s.kind === 'floor') continue;
      out.push({ what: `event-loop delay p99 ≤ ${LOOP_P99_LIMIT_MS} ms: ${s.label} (${where})`, measured: `${fmtMs(s.loopP99Ms)} ms`, ok: s.loopP99Ms <= LOOP_P99_LIMIT_MS });
    }
  }
  for (const db of ['sqlite', 'postgres'] as const) {
    const mine = phases.filter((p) => p.database === db);
    if (mine.length < 2) continue;
    const small = mine[0]!;
    const large = mine[mine.length - 1]!;
    for (const s of large.scenarios.filter((x) => x.kind === 'read')) {
      const ref = small.scenarios.find((x) => x.id === s.id);
      if (!ref) continue;
      const change = s.median.ratio / ref.median.ratio - 1;
      out.push({
        what: `${s.label} at ${fmtInt(large.owners)} owners within ${SCALE_TOLERANCE * 100} % of ${fmtInt(small.owners)} (${db}, ratio to /healthz)`,
        measured: `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} %`,
        ok: Math.abs(change) <= SCALE_TOLERANCE || change > 0,
      });
    }
    out.push({ what: `server peak RSS ≤ 256 MB at ${fmtInt(large.owners)} owners (${db})`, measured: `${fmtMb(large.peakRssBytes)} MB`, ok: large.peakRssBytes <= RSS_LIMIT_BYTES });
    out.push({ what: `seeding ${fmtInt(large.owners)} owners < 3 min (${db})`, measured: `${(large.seedMs / 1000).toFixed(0)} s`, ok: large.seedMs < SEED_LIMIT_MS });
  }
  return out;
}

function table(phases: Phase[]): string {
  const head = ['database', 'owners', 'scenario', 'req/s', '× /healthz', '× floor', 'p50 ms', 'p99 ms', 'CPU µs/req', 'loop p99 ms', 'RSS MB', 'non-2xx/err', 'target'];
  const rows: string[][] = [];
  for (const ph of phases) {
    for (const s of ph.scenarios) {
      const target = s.target
        ? `≥ ${s.target.ratio.toFixed(2)}${s.target.p99Ms !== undefined ? `, p99 ≤ ${s.target.p99Ms} ms` : ''}${s.target.cpuUs !== undefined ? `, ≤ ${s.target.cpuUs} µs` : ''}`
        : '';
      rows.push([
        ph.database,
        fmtInt(ph.owners),
        s.itemsPerRequest ? `${s.label} = ${fmtInt(s.median.rps * s.itemsPerRequest)} resolves/s` : s.label,
        fmtInt(s.median.rps),
        s.id === 'healthz' ? '1.00' : s.median.ratio.toFixed(2),
        s.id === 'floor' ? '1.00' : Number.isFinite(s.median.floorRatio) ? s.median.floorRatio.toFixed(2) : '–',
        fmtMs(s.median.p50),
        fmtMs(s.median.p99),
        fmtInt(s.median.cpuUsPerRequest),
        fmtMs(s.loopP99Ms),
        fmtMb(s.rssBytes),
        s.accepted ? `${s.failures} (+${fmtInt(s.accepted)} × 503)` : String(s.failures),
        ph.database === 'sqlite' ? target : '',
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 3 && i <= 11 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i >= 3 && i <= 11 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

/**
 * The floor's resolve req/s over its bare GET's, per round, as "median (rounds a, b)": the
 * ratio the work of a resolve alone reaches against a bare GET on this stack and machine
 * (the service's own per-request stack makes its /healthz dearer than a bare GET, so its
 * "resolve × /healthz" can exceed it by that much).
 */
function floorLimit(ph: Phase): string | undefined {
  const floor = ph.scenarios.find((s) => s.id === 'floor');
  const get = ph.scenarios.find((s) => s.id === 'floor-healthz');
  if (!floor || !get) return undefined;
  const perRound = floor.runs.map((r) => r.rps / (get.runs.find((g) => g.round === r.round)?.rps ?? NaN)).filter(Number.isFinite);
  if (perRound.length === 0) return undefined;
  return `${median(perRound).toFixed(2)}${perRound.length > 1 ? ` (rounds ${perRound.map((x) => x.toFixed(2)).join(', ')})` : ''}`;
}

function machine(): Record<string, string> {
  const cpu = cpus();
  return {
    cpus: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

// ------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const started = Date.now();
  const loadStart = loadavg();
  const m = machine();
  log(
    `neo-byok benchmark: ${opts.connections} connections, ${opts.duration} s per run, ${opts.runs} run(s) (median), warm-up ${opts.warmup} s; ` +
      `owners ${opts.owners.map(fmtInt).join(' / ')}; databases ${opts.databases.join(', ')}; server log level ${opts.logLevel}`,
  );
  log(`machine: ${m.cpus}, ${m.memory}, Node ${m.node}, ${m.platform}; load average ${loadStart.map((l) => l.toFixed(1)).join(' ')}`);

  const fake = await startFakeOpenAi();
  const loadgen = startLoadGen();
  const phases: Phase[] = [];
  for (const database of opts.databases) {
    for (const [k, owners] of opts.owners.entries()) {
      phases.push(await runPhase(database, owners, k === 0, opts, loadgen, fake.url));
    }
  }
  const loadEnd = loadavg();
  const results = checks(phases);
  log(`\nResults: median of ${opts.runs} run(s) of ${opts.duration} s, ${opts.connections} connections; "× /healthz" is the ratio to /healthz in the same round; loop p99 is the worst run.`);
  log(table(phases));
  log('');
  for (const ph of phases) {
    const limit = floorLimit(ph);
    if (limit) log(`${ph.database}, ${fmtInt(ph.owners)} owners: floor limit (the floor's resolve ÷ its bare GET /healthz, same round) ×${limit}`);
  }
  for (const ph of phases) {
    log(`${ph.database}, ${fmtInt(ph.owners)} owners: seeding ${(ph.seedMs / 1000).toFixed(1)} s, server peak RSS ${fmtMb(ph.peakRssBytes)} MB`);
  }
  log('\nTargets:');
  for (const c of results) log(`  ${c.ok ? 'met   ' : 'MISSED'} ${c.what}: ${c.measured}`);
  log(`\nload average at start ${loadStart.map((l) => l.toFixed(1)).join(' ')}, at end ${loadEnd.map((l) => l.toFixed(1)).join(' ')}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const failures = phases.flatMap((p) => p.scenarios.filter((s) => s.failures > 0 || s.runs.length === 0).map((s) => `${p.database}/${p.owners}/${s.id}`));
  if (opts.json) {
    writeFileSync(
      opts.json,
      JSON.stringify({ machine: m, options: { ...opts, postgresUrl: opts.postgresUrl ? '(set)' : undefined }, loadavg: { start: loadStart, end: loadEnd }, phases, checks: results, failures }, null, 2) + '\n',
    );
  }
  if (failures.length) {
    log(`\nFAILED: non-2xx answers, errors or timeouts in ${failures.join(', ')}`);
    return 1;
  }
  return 0;
}

let code = 1;
const onSignal = () => {
  void cleanupAll().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
