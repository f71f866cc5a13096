/**
 * Graceful shutdown of a real `bin/neo-byok serve` process (src/cli/serve.ts): SIGTERM
 * stops accepting connections, lets an in-flight request (a validation waiting on a
 * slow provider) finish with its answer, closes the database and exits 0; a request
 * that never finishes is cut after the grace period and the process still exits; a
 * SIGTERM that arrives during start-up (a supervisor answering the "listening" line at
 * once) is a graceful shutdown as soon as the server is up, not a kill.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { signTestJwt } from './helpers/context.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { baseServerEnv, BIN, childEnv, eventually, lines, startServerProcess, type ServerProcess } from './helpers/processes.ts';

/** Resolves with the connection error code, or 'connected'. */
function tryConnect(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

describe('graceful shutdown of a real server process', { timeout: 120_000 }, () => {
  let fake: FakeKeyProviders;
  let dataDir: string;
  before(async () => {
    fake = await startFakeKeyProviders({ slowMs: 1500 });
  });
  after(async () => {
    await fake.close();
  });

  it('SIGTERM: no new connections, the in-flight validation finishes with 200, the database is closed, exit 0', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'neo-shutdown-'));
    let srv: ServerProcess | undefined;
    try {
      srv = await startServerProcess({ ...fake.env, NEO_DATA_DIR: dataDir, NEO_PROVIDER_TIMEOUT_MS: '8000', NEO_BYOK_DEFAULT: 'on' });
      const token = await signTestJwt(uniqueEmail('shutdown'));
      const key = `sk-openai-slow-${Date.now()}-Q7fK2mZp9XvL4tR8wN3b`;
      const inflight = fetch(`${srv.url}/api/v1/byok/providers/openai/validate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: key }),
      });
      // The request is in flight once the (slow) provider has received the check.
      const seen = await eventually(async () => fake.requests.some((r) => r.headers.authorization === `Bearer ${key}`), 20_000);
      assert.ok(seen, 'the provider check started');
      process.kill(srv.pid, 'SIGTERM');

      const refused = await eventually(async () => (await tryConnect(srv!.url)) === 'ECONNREFUSED', 5_000);
      assert.ok(refused, 'new connections are refused while the in-flight request finishes');

      const res = await inflight;
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { valid: boolean }).valid, true);

      const { code } = await srv.exited;
      assert.equal(code, 0, srv.stderr.join('\n'));
      assert.ok(srv.logs.some((l) => l.includes('"msg":"stopped"')), 'logged the clean stop');
      // SQLite removes the WAL when the last connection closes cleanly.
      assert.ok(existsSync(join(dataDir, 'neo.db')));
      assert.equal(existsSync(join(dataDir, 'neo.db-wal')), false, 'the database was closed (WAL checkpointed and removed)');
      const db = new SqliteDatabase(join(dataDir, 'neo.db'), { readonly: true });
      try {
        assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      } finally {
        db.close();
      }
    } finally {
      if (srv) await srv.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a request that never finishes is cut after the grace period and the process exits (code 1)', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'neo-shutdown-'));
    let srv: ServerProcess | undefined;
    try {
      srv = await startServerProcess({ NEO_DATA_DIR: dataDir, NEO_BYOK_DEFAULT: 'on' });
      const token = await signTestJwt(uniqueEmail('stuck'));
      const u = new URL(srv.url);
      // A client that announces a body and never sends all of it.
      const sock = connect({ host: u.hostname, port: Number(u.port) });
      await new Promise<void>((r) => sock.once('connect', () => r()));
      let closedByServer = false;
      sock.on('close', () => (closedByServer = true));
      sock.on('error', () => {});
      sock.write(
        `PATCH /api/v1/byok/mode HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"mode":`,
      );
      await new Promise((r) => setTimeout(r, 300));
      process.kill(srv.pid, 'SIGTERM');
      // Bounded: the grace period is 10 s; well before the 30 s request timeout would end it.
      const exit = await Promise.race([srv.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 25_000))]);
      assert.notEqual(exit, 'hung', 'the process did not exit after the grace period');
      assert.equal((exit as { code: number | null }).code, 1);
      assert.ok(srv.logs.some((l) => l.includes('did not finish in time')));
      await eventually(async () => closedByServer, 2_000);
      assert.ok(closedByServer, 'the stuck connection was closed');
      sock.destroy();
    } finally {
      if (srv) await srv.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a SIGTERM during start-up shuts the server down gracefully once it is up (exit 0), instead of killing it', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'neo-shutdown-'));
    const dbFile = join(dataDir, 'neo.db');
    // Another process holds the write lock of the (WAL) database: the server's migrations wait for it.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D = require(${JSON.stringify(join(process.cwd(), 'node_modules/better-sqlite3'))});
         const db = new D(process.argv[1]); db.pragma('journal_mode = WAL'); db.exec('begin immediate'); console.log('locked');
         process.stdin.once('data', () => { db.exec('commit'); db.close(); process.exit(0); });`,
        dbFile,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const server = spawn(process.execPath, [BIN, 'serve'], {
      env: childEnv(baseServerEnv({ NEO_DATA_DIR: dataDir })),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const logs: string[] = [];
      const stderrLines: string[] = [];
      lines(server.stdout, logs);
      lines(server.stderr, stderrLines);
      const stderr = () => stderrLines.join('\n');
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => server.once('exit', (code, signal) => r({ code, signal })));
      // The server is inside its start-up once it has the database open (and is waiting for the lock).
      const opens = (fd: string) => {
        try {
          return readlinkSync(`/proc/${server.pid}/fd/${fd}`) === dbFile;
        } catch {
          return false;
        }
      };
      const hasDbOpen = () => {
        try {
          return readdirSync(`/proc/${server.pid}/fd`).some(opens);
        } catch {
          return false;
        }
      };
      await eventually(async () => hasDbOpen(), 30_000);
      assert.ok(hasDbOpen(), `the server opened the database: ${stderr()}`);
      assert.ok(!logs.some((l) => l.includes('neo-byok listening')), 'still starting');
      server.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      holder.stdin.write('release\n');
      const exit = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
      assert.notEqual(exit, 'hung', 'the server did not exit');
      assert.deepEqual(exit, { code: 0, signal: null }, `exit; stderr: ${stderr()}`);
      assert.ok(logs.some((l) => l.includes('neo-byok listening')), 'it came up first');
      assert.ok(logs.some((l) => l.includes('"signal":"SIGTERM"') && l.includes('shutting down')), 'then shut down for the signal');
      assert.ok(logs.some((l) => l.includes('"msg":"stopped"')));
    } finally {
      server.kill('SIGKILL');
      holder.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
