/**
 * The BYOK repository's writes are reachable only under the owner lock (issue 12 item
 * 14): the compiler refuses a write without a LockedOwner (the `@ts-expect-error` lines
 * fail `npm run typecheck` if that ever stops being true), and the lock refuses to be
 * taken outside a transaction.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase, withTransaction, type DatabaseHandle } from '../../db/index.ts';
import { ByokRepo, type LockedOwner } from './byok.repo.ts';
import type { ByokService } from './byok.service.ts';

describe('BYOK repository: writes only under the owner lock', () => {
  let dir: string;
  let database: DatabaseHandle;
  const owner = { type: 'user' as const, id: '01a00000-0000-7000-8000-000000000001' };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'neo-byok-repo-'));
    database = await openDatabase(join(dir, 'test.db'));
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has no write method outside the lock, and nothing else passes for a lock', () => {
    const repo = new ByokRepo(database.db, database.dialect);
    // @ts-expect-error writes live on LockedOwner only
    assert.equal(typeof repo.setMode, 'undefined');
    // @ts-expect-error writes live on LockedOwner only
    assert.equal(typeof repo.deleteKey, 'undefined');
    // @ts-expect-error a look-alike object is not a LockedOwner (nominal type)
    const fake: LockedOwner = { owner, mode: 'neo', setMode: async () => undefined };
    assert.ok(fake);
    const service = {} as ByokService;
    // @ts-expect-error the service's repository is private
    assert.equal(service.repo, undefined);
  });

  it('refuses to take the lock on the root database (outside a transaction)', async () => {
    await assert.rejects(new ByokRepo(database.db, database.dialect).lockOwner(owner, new Date().toISOString()), /needs a transaction/);
  });

  it('writes under the lock, scoped to the locked owner', async () => {
    await withTransaction(database.db, async (trx) => {
      const lock = await new ByokRepo(trx, database.dialect).lockOwner(owner, new Date().toISOString());
      assert.equal(lock.mode, 'neo');
      await lock.setMode('byok', new Date().toISOString());
    });
    assert.deepEqual(await new ByokRepo(database.db, database.dialect).modeAndCount(owner), { mode: 'byok', keys: 0 });
  });
});
