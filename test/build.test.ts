/**
 * The built server (issue 15, item 5): `npm start` on a fresh clone builds dist/ and runs
 * it as plain JavaScript, without tsx; the CLI's entry loads no database or HTTP library
 * (what keeps `neo-byok --help` fast); the bundle finds the settings page's files.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { DEFAULT_BATCH_SIZE } from '../src/crypto/rotate.ts';
import { HELP_DEFAULT_BATCH_SIZE } from '../src/cli/rotate-master-key.ts';
// @ts-expect-error: a plain JavaScript module without type declarations
import { ensureBuilt } from '../scripts/build.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The packages reached through static imports from `file`, following the bundle's own chunks. */
function staticPackages(file: string, seen = new Set<string>(), out = new Set<string>()): Set<string> {
  if (seen.has(file)) return out;
  seen.add(file);
  const code = readFileSync(file, 'utf8');
  // Top-level static imports only (`import … from "x"` / `import "x"` at a line start);
  // `import("x")` is on demand.
  for (const m of code.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gms)) {
    const spec = m[1]!;
    if (spec.startsWith('.')) staticPackages(join(dirname(file), spec), seen, out);
    else if (!spec.startsWith('node:')) out.add(spec);
  }
  return out;
}

describe('built server', () => {
  it('the CLI entry loads no database driver, HTTP framework, JWT library or schema validator before a command runs', async () => {
    const entry = (await ensureBuilt()) as string;
    const packages = staticPackages(entry);
    for (const heavy of ['fastify', 'pg', 'kysely', 'ioredis', 'better-sqlite3', 'jose', 'prom-client', 'ajv', '@sinclair/typebox']) {
      assert.ok(!packages.has(heavy), `dist/neo-byok.mjs loads ${heavy} at start (static imports: ${[...packages].join(', ')})`);
    }
    // The server chunk does load them: the check above looks at real imports.
    const serve = readdirSync(dirname(entry)).find((f) => /^serve-.*\.mjs$/.test(f));
    assert.ok(serve && staticPackages(join(dirname(entry), serve)).has('fastify'));
  });

  it("rotate-master-key's help states the real default batch size", () => {
    assert.equal(HELP_DEFAULT_BATCH_SIZE, DEFAULT_BATCH_SIZE);
  });

  // A newcomer's `npm install && npm start`: the committed tree cloned with git, its
  // node_modules linked from this checkout instead of installed (no network in tests),
  // and without tsx, which proves the server does not need it.
  const git = spawnSync('git', ['-C', ROOT, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' });
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('a fresh clone: `npm start` builds dist/ and runs the built JavaScript', { skip: git.stdout.trim() !== 'true' ? 'not a git checkout' : false, timeout: 120_000 }, async () => {
    const clone = mkdtempSync(join(tmpdir(), 'neo-clone-'));
    const data = mkdtempSync(join(tmpdir(), 'neo-clone-data-'));
    dirs.push(clone, data);
    const cloned = spawnSync('git', ['clone', '--quiet', '--no-checkout', ROOT, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    // The commit checked out here (a worktree's HEAD may differ from the repository's).
    const head = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const checkout = spawnSync('git', ['-C', clone, 'checkout', '--quiet', head], { encoding: 'utf8' });
    assert.equal(checkout.status, 0, checkout.stderr);
    assert.ok(!existsSync(join(clone, 'dist')), 'dist/ is not committed');
    mkdirSync(join(clone, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name === 'tsx' || name === '.bin' || name.startsWith('.package-lock')) continue;
      symlinkSync(join(ROOT, 'node_modules', name), join(clone, 'node_modules', name));
    }

    const child = spawn('npm', ['start', '--silent'], {
      cwd: clone,
      detached: true,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NEO_DATA_DIR: data,
        PORT: '0',
        HOST: '127.0.0.1',
        // As in every process test: a starved test machine would shed load (test/overload.test.ts).
        NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
        NO_UPDATE_NOTIFIER: '1',
        npm_config_update_notifier: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    try {
      const listening = await new Promise<{ address: string; pid: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "neo-byok listening" within 90 s; stderr: ${stderr}`)), 90_000);
        child.stdout.setEncoding('utf8').on('data', (c: string) => {
          stdout += c;
          for (const line of stdout.split('\n')) {
            if (!line.includes('"neo-byok listening"')) continue;
            clearTimeout(timer);
            resolve(JSON.parse(line) as { address: string; pid: number });
          }
        });
        child.once('exit', (code) => reject(new Error(`npm start exited ${code}; stderr: ${stderr}`)));
      });
      const health = await fetch(`${listening.address}/healthz`);
      assert.equal(health.status, 200);
      // The settings page's files are found from the built code.
      const page = await fetch(`${listening.address}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);

      // Built and run from dist/: the build happened on this start, and the server process is
      // `node bin/neo-byok serve` in the clone, with no tsx to load TypeScript.
      assert.match(stderr, /built dist\/ from src\//);
      assert.ok(existsSync(join(clone, 'dist', 'neo-byok.mjs')));
      assert.ok(existsSync(join(clone, 'dist', 'web', 'index.html')));
      const cmdline = readFileSync(`/proc/${listening.pid}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(cmdline.slice(1, 3), ['bin/neo-byok', 'serve']);
      assert.ok(!existsSync(join(clone, 'node_modules', 'tsx')));
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
  });
});
