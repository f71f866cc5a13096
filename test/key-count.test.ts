/**
 * neo_provider_keys counts on SQLite are taken in slices of rowids with a turn of the
 * event loop between two (one GROUP BY over 1.5 million keys held the loop for
 * seconds): the slices add up to the plain GROUP BY, on seeded keys of several owners.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seedDatabase } from '../bench/seed.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { KeyHealthRepo } from '../src/modules/keyhealth/keyhealth.repo.ts';

describe('keys by provider and status (SQLite, in slices)', () => {
  let dir: string;
  let database: DatabaseHandle;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'neo-keycount-'));
    const url = join(dir, 'neo.db');
    await seedDatabase({ databaseUrl: url, owners: 60, pool: 5, masterKey: randomBytes(32) });
    database = await openDatabase(url);
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds up to one GROUP BY, whatever the slice size, and yields to the event loop between slices', async () => {
    const plain = await database.db
      .selectFrom('provider_keys')
      .select(['provider', 'status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['provider', 'status'])
      .execute();
    const expected = plain.map((r) => `${r.provider} ${r.status} ${Number(r.n)}`).sort();
    assert.ok(plain.reduce((a, r) => a + Number(r.n), 0) > 60, 'enough keys for several slices');
    for (const slice of [1, 7, 5_000]) {
      let turns = 0;
      const ticker = setInterval(() => turns++, 0);
      const counted = await new KeyHealthRepo(database.db, 'sqlite', slice).countByStatus();
      clearInterval(ticker);
      assert.deepEqual(counted.map((r) => `${r.provider} ${r.status} ${r.n}`).sort(), expected, `slice ${slice}`);
      if (slice === 1) assert.ok(turns > 0, 'timers ran between slices');
    }
  });
});
