/**
 * The data directory is private however the secrets are supplied (issue 13 item 6):
 * with the three secrets in the environment (nothing generated) the directory is 0700
 * and neo.db, neo.db-wal and neo.db-shm are 0600; an existing directory that other
 * local users can read is reported by a warning at start.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { signTestJwt } from './helpers/context.ts';
import { uniqueEmail } from './helpers/fixtures.ts';
import { startServerProcess, type ServerProcess } from './helpers/processes.ts';

const mode = (p: string) => statSync(p).mode & 0o777;
const octal = (m: number) => `0${m.toString(8)}`;

describe('data directory permissions with secrets from the environment', () => {
  const roots: string[] = [];
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  /** A write, so that SQLite has created its -wal and -shm files. */
  async function write(server: ServerProcess): Promise<void> {
    const token = await signTestJwt(uniqueEmail('perm'));
    const res = await fetch(`${server.url}/api/v1/user/apikey`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 201);
  }

  it('a new data dir is 0700 and neo.db, -wal and -shm are 0600 (umask 022)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'neo-perm-'));
    roots.push(root);
    const dataDir = join(root, 'data');
    const server = await startServerProcess({ NEO_DATA_DIR: dataDir });
    servers.push(server);
    await write(server);
    assert.equal(octal(mode(dataDir)), '0700', 'the data dir');
    for (const f of ['neo.db', 'neo.db-wal', 'neo.db-shm']) {
      assert.ok(existsSync(join(dataDir, f)), `${f} exists`);
      assert.equal(octal(mode(join(dataDir, f))), '0600', f);
    }
    assert.ok(!existsSync(join(dataDir, 'secrets.json')), 'nothing generated');
    assert.ok(!server.logs.some((l) => l.includes('data_dir_permissions')), 'no warning for a private dir');
  });

  it('an existing data dir readable by others is reported at start; its database files are made 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'neo-perm-'));
    roots.push(root);
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const server = await startServerProcess({ NEO_DATA_DIR: dataDir });
    servers.push(server);
    await write(server);
    const warning = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'data_dir_permissions');
    assert.ok(warning, `a warning names the loose data dir: ${server.logs.slice(0, 5).join('\n')}`);
    assert.equal(warning.level, 40);
    assert.equal(warning.data_dir, dataDir);
    assert.equal(warning.mode, '0755');
    assert.match(String(warning.msg), /chmod 700/);
    for (const f of ['neo.db', 'neo.db-wal', 'neo.db-shm']) assert.equal(octal(mode(join(dataDir, f))), '0600', f);
  });
});
