/**
 * The benchmark (`npm run bench`, docs/benchmarks.md) runs end to end in its smoke mode:
 * 1 s per scenario, 1,000 owners, one run, on SQLite and (when NEO_TEST_DATABASE_URL is
 * set) on PostgreSQL. Asserts that every scenario ran (the floor of bench/floor.ts, its
 * bare GET and the floor limit they give, and the 100-item batch resolve included) and got only 2xx answers (2xx or 503 in the 500-connection overload
 * scenario) — never a speed: this machine's figures belong to the full run, not to the test suite.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface SmokeReport {
  phases: {
    database: string;
    owners: number;
    rows: Record<string, number>;
    scenarios: {
      id: string;
      runs: { requests: number; ok: number; non2xx: number; errors: number; timeouts: number; statusCodes: Record<string, number> }[];
      failures: number;
    }[];
  }[];
  failures: string[];
}

function runBench(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/run.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('benchmark smoke run', () => {
  it('runs every scenario on a fresh server with 1,000 owners and gets only 2xx answers', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'neo-bench-smoke-'));
    const json = join(dir, 'report.json');
    const pg = process.env.NEO_TEST_DATABASE_URL;
    try {
      const { code, output } = await runBench(['--smoke', '--json', json], {
        NEO_BENCH_DATABASE_URL: pg ?? '',
        BENCH_DATABASES: pg ? 'sqlite,postgres' : 'sqlite',
      });
      assert.equal(code, 0, `bench exited with ${code}:\n${output.slice(-3000)}`);
      const report = JSON.parse(readFileSync(json, 'utf8')) as SmokeReport;
      assert.deepEqual(report.failures, []);

      const expected = pg ? ['sqlite', 'postgres'] : ['sqlite'];
      assert.deepEqual(
        report.phases.map((p) => [p.database, p.owners]),
        expected.map((d) => [d, 1000]),
      );
      const sqlite = report.phases[0]!;
      // The floor's limit ratio (its resolve ÷ its bare GET, same round) is stated for each phase.
      for (const d of expected) assert.match(output, new RegExp(`${d}, 1,000 owners: floor limit .* ×\\d+\\.\\d\\d`));
      // 1,000 owners with keys (settings, a data key, one or two provider keys each); one
      // in ten is a team of two users; every user has an API key.
      for (const phase of report.phases) {
        assert.equal(phase.rows.byok_settings, 1000, `${phase.database}: byok_settings rows`);
        assert.equal(phase.rows.data_keys, 1000, `${phase.database}: data_keys rows`);
        assert.ok(phase.rows.provider_keys! >= 1000, `${phase.database}: provider_keys rows ${phase.rows.provider_keys}`);
        assert.ok(phase.rows.users! > 1000, `${phase.database}: users rows ${phase.rows.users}`);
        assert.equal(phase.rows.api_keys, phase.rows.users, `${phase.database}: one API key per user`);
      }
      assert.deepEqual(
        sqlite.scenarios.map((s) => s.id),
        ['healthz', 'floor-healthz', 'floor', 'mode', 'user', 'resolve', 'set-mode', 'put-openai', 'resolve-auto', 'resolve-neo', 'resolve-batch', 'report', 'overload'],
      );
      if (pg) assert.deepEqual(report.phases[1]!.scenarios.map((s) => s.id), ['healthz', 'floor-healthz', 'floor', 'mode', 'user', 'resolve']);

      for (const phase of report.phases) {
        for (const s of phase.scenarios) {
          const where = `${phase.database}/${s.id}`;
          assert.equal(s.runs.length, 1, `${where} ran once`);
          const run = s.runs[0]!;
          assert.ok(run.requests > 0, `${where} sent requests`);
          if (s.id === 'overload') {
            // 500 connections against the production load shedding: 2xx, or 503 with
            // Retry-After when the server refuses; nothing else.
            assert.ok(run.ok > 0, `${where}: some answers were 2xx`);
            const others = Object.entries(run.statusCodes).filter(([code]) => !/^2/.test(code) && code !== '503');
            assert.deepEqual(others, [], `${where}: statuses other than 2xx and 503`);
            assert.equal(run.errors, 0, `${where} errors`);
            assert.equal(run.timeouts, 0, `${where} timeouts`);
            continue;
          }
          assert.equal(run.non2xx, 0, `${where} non-2xx answers`);
          assert.equal(run.errors, 0, `${where} errors`);
          assert.equal(run.timeouts, 0, `${where} timeouts`);
          assert.equal(run.ok, run.requests, `${where}: every answer was 2xx`);
          assert.equal(s.failures, 0, `${where} failures (fixed-rate run included)`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
