#!/usr/bin/env node
// Runs the test suite with node's test runner. Node 20's `node --test dir/` finds no
// .ts files, so the files are listed explicitly here; the run fails when no test ran.
//
//   npm test                       every *.test.ts under src/ and test/
//   npm test -- test/teams.test.ts only the files named
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const args = process.argv.slice(2);
const files = args.length ? args : [...find(join(root, 'src')), ...find(join(root, 'test'))].sort();
if (files.length === 0) {
  console.error('test: no test files found');
  process.exit(1);
}
mkdirSync(join(root, '.test-tmp'), { recursive: true });
const tap = join(root, '.test-tmp', `report-${process.pid}.tap`);
const concurrency = process.env.NEO_TEST_CONCURRENCY ?? '3';
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
let report = '';
process.on('exit', () => rmSync(tap, { force: true }));
try {
  report = readFileSync(tap, 'utf8');
} catch {
  /* no report */
}
const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
const tests = count('tests');
const pass = count('pass');
const fail = count('fail');
const skipped = count('skipped');
console.log(`\n${pass} passed, ${fail} failed, ${skipped} skipped`);
if (tests === 0) {
  console.error('test: zero tests ran; failing the run');
  process.exit(1);
}
process.exit(r.status === 0 && fail === 0 ? 0 : 1);
