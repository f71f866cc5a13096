/**
 * `npm run bench:profile -- <file.cpuprofile> [options]`: where the server's time went,
 * from a V8 CPU profile written by `npm run bench -- --cpu-prof <dir>` (`node --cpu-prof`),
 * as plain text that can be compared between two builds.
 *
 *   --scenario <id>   only the samples taken during that scenario's measured runs
 *                     (healthz, resolve, user, mode, …). The bench writes beside each
 *                     profile `<profile>.windows.json`: when each measured run began and
 *                     ended (on the monotonic clock V8's profiler uses) and how many
 *                     requests it answered, so every figure is also given in µs per request.
 *                     Without it: every sample of the profile (start-up and warm-ups too).
 *   --diff <id>       with --scenario: per-request µs of the scenario minus those of <id>
 *                     (e.g. `--scenario resolve --diff healthz`: what resolve pays beyond
 *                     the baseline), function by function.
 *   --top <n>         rows per table (default 25).
 *   --inclusive <re>  total time (self + callees) of the functions whose `name file`
 *                     matches, e.g. `--inclusive 'resolve|decrypt|hooks'`.
 *
 * Tables: self time (not idle) by package (`node_modules/<pkg>`, `node:` internals,
 * `src/<dir>/`, V8's `(garbage collector)` and `(program)`, `(native)` for C++ functions
 * such as `writev`), by source file and by function; frames of the bundled `dist/` are
 * mapped back to `src/` through the build's source maps.
 *
 * The profiler samples wall-clock time of the main thread: time the kernel spends in a
 * system call (the socket `writev`) and time the process waits for a core while inside
 * one both count. On a loaded machine these rows are inflated; the bench's CPU µs/request
 * (user + system, from the process's own counters) is the measure of cost, the profile
 * says where it goes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Window {
  scenario: string;
  round: number;
  from: number;
  to: number;
  requests?: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scenario: { type: 'string' },
    diff: { type: 'string' },
    top: { type: 'string', default: '25' },
    inclusive: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || positionals.length !== 1 || (values.diff && !values.scenario)) {
  console.log(
    'usage: npm run bench:profile -- <file.cpuprofile> [--scenario id [--diff id]] [--top n] [--inclusive regex]',
  );
  process.exit(values.help ? 0 : 2);
}
const file = positionals[0]!;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const top = Number(values.top);

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const node of profile.nodes) byId.set(node.id, node);
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Source maps of the bundle: a dist/*.mjs frame is reported as the src/ line it came from.
const maps = new Map<string, SourceMap | null>();
function sourceOf(frame: CallFrame): string {
  const { url } = frame;
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + 1);
  if (!maps.has(path)) {
    const mapFile = `${path}.map`;
    maps.set(
      path,
      existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as never) : null,
    );
  }
  const entry: { originalSource?: string; originalLine?: number } | undefined = maps
    .get(path)
    ?.findEntry(frame.lineNumber, frame.columnNumber);
  if (entry?.originalSource)
    return `${entry.originalSource.replace(/^.*?\/(src|node_modules)\//, '$1/')}:${(entry.originalLine ?? 0) + 1}`;
  return path.replace(/^.*\/(dist|src|bench)\//, '$1/');
}
function packageOf(frame: CallFrame, source: string): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (source.startsWith('node:')) return 'node: internals';
  const nm = /^node_modules\/((@[^/]+\/)?[^/]+)/.exec(source);
  if (nm) return nm[1]!;
  return source.replace(/:\d+$/, '').replace(/\/[^/]+$/, '/');
}
const labels = new Map<number, { fn: string; file: string; pkg: string }>();
function label(id: number) {
  let l = labels.get(id);
  if (!l) {
    const frame = byId.get(id)!.callFrame;
    const source = sourceOf(frame);
    l = {
      fn: `${frame.functionName || '(anonymous)'} ${source}`.trim(),
      file: source.replace(/:\d+$/, '') || frame.functionName,
      pkg: packageOf(frame, source),
    };
    labels.set(id, l);
  }
  return l;
}

const windowsFile = `${file}.windows.json`;
const allWindows: Window[] = existsSync(windowsFile)
  ? (JSON.parse(readFileSync(windowsFile, 'utf8')) as Window[])
  : [];
function windowsOf(scenario: string): Window[] {
  if (allWindows.length === 0) {
    console.error(`--scenario needs ${windowsFile} (written by npm run bench -- --cpu-prof)`);
    process.exit(2);
  }
  const w = allWindows.filter((x) => x.scenario === scenario);
  if (w.length === 0) {
    console.error(
      `no measured run of scenario ${scenario} in ${windowsFile} (there are: ${[...new Set(allWindows.map((x) => x.scenario))].join(', ')})`,
    );
    process.exit(2);
  }
  return w;
}

const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

interface Tally {
  busyUs: number;
  requests: number;
  self: Map<string, number>;
  files: Map<string, number>;
  packages: Map<string, number>;
  inclusive: Map<string, number>;
}
/** Self and inclusive sampled time (µs) of the samples within `windows` (all samples when undefined). */
function tally(windows: Window[] | undefined): Tally {
  const t: Tally = {
    busyUs: 0,
    requests: 0,
    self: new Map(),
    files: new Map(),
    packages: new Map(),
    inclusive: new Map(),
  };
  for (const w of windows ?? []) t.requests += w.requests ?? 0;
  const inclusiveRe = values.inclusive ? new RegExp(values.inclusive) : undefined;
  // Sample i is taken at startTime + timeDeltas[0..i]; it stands for the time until the next one.
  let time = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i]!;
    const id = profile.samples[i]!;
    if (idle.has(id)) continue;
    if (windows && !windows.some((w) => time >= w.from && time < w.to)) continue;
    const weight = profile.timeDeltas[i + 1] ?? 0;
    t.busyUs += weight;
    const l = label(id);
    add(t.self, l.fn, weight);
    add(t.files, l.file, weight);
    add(t.packages, l.pkg, weight);
    if (inclusiveRe) {
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const fn = label(n).fn;
        if (!seen.has(fn) && inclusiveRe.test(fn)) add(t.inclusive, fn, weight);
        seen.add(fn);
      }
    }
  }
  return t;
}

const main = tally(values.scenario ? windowsOf(values.scenario) : undefined);
const other = values.diff ? tally(windowsOf(values.diff)) : undefined;
const perReq = (t: Tally, us: number) => (t.requests > 0 ? us / t.requests : NaN);

console.log(
  `profile ${file}: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s, ${profile.samples.length} samples`,
);
const describe = (name: string, t: Tally) =>
  `${name}: ${(t.busyUs / 1e6).toFixed(2)} s busy` +
  (t.requests
    ? `, ${t.requests.toLocaleString('en-US')} requests, ${perReq(t, t.busyUs).toFixed(1)} µs sampled per request`
    : '');
console.log(describe(values.scenario ? `scenario ${values.scenario}` : 'all samples', main));
if (other) console.log(describe(`scenario ${values.diff}`, other));

function print(title: string, pick: (t: Tally) => Map<string, number>) {
  const m = pick(main);
  const o = other ? pick(other) : undefined;
  console.log(`\n${title}`);
  if (o) {
    // µs per request of the scenario minus those of the other one, largest differences first.
    const keys = new Set([...m.keys(), ...o.keys()]);
    const rows = [...keys].map((k) => {
      const a = perReq(main, m.get(k) ?? 0);
      const b = perReq(other!, o.get(k) ?? 0);
      return { k, a, b, d: a - b };
    });
    rows.sort((x, y) => Math.abs(y.d) - Math.abs(x.d));
    console.log(`  ${'Δ µs/req'.padStart(8)}  ${values.scenario!.padStart(8)}  ${values.diff!.padStart(8)}`);
    for (const r of rows.slice(0, top))
      console.log(
        `  ${r.d.toFixed(1).padStart(8)}  ${r.a.toFixed(1).padStart(8)}  ${r.b.toFixed(1).padStart(8)}  ${r.k}`,
      );
    return;
  }
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const us = main.requests ? `${perReq(main, v).toFixed(1).padStart(6)} µs/req  ` : '';
    console.log(`  ${((v / main.busyUs) * 100).toFixed(1).padStart(5)} %  ${us}${k}`);
  }
}
print('self time by package', (t) => t.packages);
print('self time by file', (t) => t.files);
print('self time by function', (t) => t.self);
if (values.inclusive)
  print(`total time (self + callees) of the functions matching /${values.inclusive}/`, (t) => t.inclusive);
