/**
 * `npm run bench:startup`: what the built server saves at start (issue 15, item 5).
 *
 *   npm run bench:startup                          # this checkout
 *   npm run bench:startup -- --compare /path/to/other/checkout --runs 15
 *
 * For each checkout (this one, and the one of --compare, e.g. a commit from before the
 * build), in alternation so that both see the same machine load:
 * - `bin/neo-byok --help`: wall time of the whole process, min and median of --runs;
 * - the server (`bin/neo-byok serve` on a fresh data dir, production defaults, logs
 *   discarded): RSS when it listens, and after a warm-up of --warmup seconds of load at
 *   50 connections on `/healthz`, the settings page and the OpenAPI document (VmRSS of
 *   the server process, read from /proc, one second after the load).
 * Checks that every warm-up request was answered 2xx; exits 1 otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<{ non2xx: number; errors: number; '2xx': number }>;

function option(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const runs = Number(option('runs', '10'));
const warmup = Number(option('warmup', '5'));
const compare = option('compare', '');
const checkouts = [{ name: 'this checkout', dir: ROOT }, ...(compare ? [{ name: compare, dir: resolve(compare) }] : [])];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function helpSeconds(dir: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(dir, 'bin/neo-byok'), '--help'], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${dir}: --help exited ${r.status}: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

async function serverRss(dir: string): Promise<{ listening: number; warm: number; bad: number }> {
  const data = mkdtempSync(join(tmpdir(), 'neo-startup-'));
  const child = spawn(process.execPath, [join(dir, 'bin/neo-byok'), 'serve'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NEO_DATA_DIR: data, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((res, rej) => {
      let buf = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buf += chunk;
        const m = /"address":"(http:[^"]+)".*neo-byok listening/.exec(buf);
        if (m) res(m[1]!);
      });
      child.once('exit', (code) => rej(new Error(`${dir}: server exited ${code}`)));
    });
    child.stdout.removeAllListeners('data').resume();
    const listening = rssMb(child.pid!);
    const r = await autocannon({
      url,
      connections: 50,
      duration: warmup,
      requests: [{ path: '/healthz' }, { path: '/' }, { path: '/api/openapi.json' }],
    });
    await new Promise((res) => setTimeout(res, 1000));
    return { listening, warm: rssMb(child.pid!), bad: r.non2xx + r.errors };
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
    rmSync(data, { recursive: true, force: true });
  }
}

const help = new Map<string, number[]>(checkouts.map((c) => [c.dir, []]));
const rss = new Map<string, { listening: number; warm: number }[]>(checkouts.map((c) => [c.dir, []]));
let bad = 0;
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const c of checkouts) helpSeconds(c.dir); // builds when needed; not measured
for (let i = 0; i < runs; i++) for (const c of checkouts) help.get(c.dir)!.push(helpSeconds(c.dir));
for (let i = 0; i < 3; i++) {
  for (const c of checkouts) {
    const r = await serverRss(c.dir);
    bad += r.bad;
    rss.get(c.dir)!.push(r);
  }
}
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('| checkout | `--help` min s | `--help` median s | RSS listening MB | RSS after warm-up MB (median of 3) |');
console.log('|---|---:|---:|---:|---:|');
for (const c of checkouts) {
  const h = help.get(c.dir)!;
  const r = rss.get(c.dir)!;
  console.log(
    `| ${c.name} | ${Math.min(...h).toFixed(2)} | ${median(h).toFixed(2)} | ${median(r.map((x) => x.listening)).toFixed(0)} | ${median(r.map((x) => x.warm)).toFixed(0)} |`,
  );
}
if (bad) {
  console.error(`${bad} warm-up requests were not answered 2xx`);
  process.exit(1);
}
