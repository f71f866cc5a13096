/**
 * Key-health reads at scale (found by the benchmark at 1,000,000 owners, where each held
 * SQLite's event loop for seconds): neo_provider_keys counts are taken in slices of
 * rowids with a turn of the event loop between two, and add up to the plain GROUP BY;
 * the scheduler's expiry scan searches an index.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
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

  it("the scheduler's expiry scan searches an index instead of reading every key", async () => {
    const plan = await sql<{ detail: string }>`explain query plan select id from provider_keys
      where expires_at is not null and expires_at <= ${'2030-01-01T00:00:00.000Z'} order by expires_at limit 500`.execute(database.db);
    const details = plan.rows.map((r) => r.detail).join(' | ');
    assert.match(details, /USING INDEX provider_keys_expires_idx/, details);
  });
});
