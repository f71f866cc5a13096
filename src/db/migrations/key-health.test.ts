/**
 * Migration 20261130T2300_key_health on both dialects: existing keys are backfilled
 * from is_validated (validated → active, else unverified), get version 1 and a first
 * re-check time spread over the next 24 h; the outbox table exists.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Migrator } from 'kysely';
import { openTestDatabase, postgresTestUrl, type TestDatabase, type TestDialect } from '../../../test/helpers/databases.ts';
import { uuidv7 } from '../ids.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../index.ts';
import { migrations } from './index.ts';

const dialects: TestDialect[] = postgresTestUrl() ? ['sqlite', 'postgres'] : ['sqlite'];

for (const dialect of dialects) {
  describe(`key health migration [${dialect}]`, () => {
    let dir: string;
    let t: TestDatabase;
    let h: DatabaseHandle;
    after(async () => {
      await h?.close();
      await t?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('backfills status from is_validated and schedules a first re-check within 24 h', async () => {
      dir = mkdtempSync(join(tmpdir(), 'neo-mig-'));
      t = await openTestDatabase(dialect, dir);
      h = await openDatabase(t.url, { poolSize: 2, migrate: false });
      const migrator = new Migrator({ db: h.db, provider: { getMigrations: async () => migrations } });
      const first = await migrator.migrateTo('20261127T1300_initial');
      assert.equal(first.error, undefined);
      const now = new Date().toISOString();
      const dk = uuidv7();
      await h.db.insertInto('data_keys').values({ id: dk, owner_type: 'user', owner_id: 'u1', version: 1, wrapped_key: 'x', master_key_id: 'm', created_at: now, updated_at: now }).execute();
      const base = { owner_type: 'user' as const, owner_id: 'u1', display_name: null, location: null, key_hint: '…ab', ciphertext: 'c', data_key_id: dk, models: null, models_discovered_at: null, created_at: now, updated_at: now };
      const good = uuidv7();
      const unchecked = uuidv7();
      // Only the columns of the initial migration exist yet.
      await h.db.insertInto('provider_keys').values({ ...base, id: good, provider: 'openai', is_validated: 1, validated_at: now }).execute();
      await h.db.insertInto('provider_keys').values({ ...base, id: unchecked, provider: 'anthropic', is_validated: 0, validated_at: null }).execute();

      const applied = await migrateToLatest(h.db);
      assert.ok(applied.includes('20261130T2300_key_health'));
      const rows = await h.db.selectFrom('provider_keys').selectAll().orderBy('provider').execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      assert.equal(byId.get(good)?.status, 'active');
      assert.equal(byId.get(good)?.last_checked_at, now);
      assert.equal(byId.get(unchecked)?.status, 'unverified');
      for (const r of rows) {
        assert.equal(Number(r.credential_version), 1);
        assert.equal(Number(r.rejection_count), 0);
        const next = Date.parse(r.next_check_at ?? '');
        assert.ok(next > Date.now() - 60_000 && next <= Date.now() + 24 * 3600_000, `next_check_at ${r.next_check_at}`);
      }
      const outbox = await h.db.selectFrom('outbox').selectAll().execute();
      assert.deepEqual(outbox, []);
    });
  });
}
