/**
 * Graceful shutdown of a real `bin/neo-byok serve` process (src/cli/serve.ts): SIGTERM
 * stops accepting connections, lets an in-flight request (a validation waiting on a
 * slow provider) finish with its answer, closes the database and exits 0; a request
 * that never finishes is cut after the grace period and the process still exits.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { signTestJwt } from './helpers/context.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { eventually, startServerProcess, type ServerProcess } from './helpers/processes.ts';

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
});
