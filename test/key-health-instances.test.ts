/**
 * Scheduled re-checks with several instances on one database (docs/key-health.md): two
 * KeyHealthService instances (two pools, as two processes would have) claim due keys
 * under the database lease; each key is checked by exactly one instance per round, and a
 * key claimed by an instance that died mid-round is checked in the next round. Runs on
 * PostgreSQL (FOR UPDATE SKIP LOCKED) when NEO_TEST_DATABASE_URL is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '../src/db/ids.ts';
import { openDatabase, withTransaction, type DatabaseHandle } from '../src/db/index.ts';
import { LocalBus } from '../src/lib/bus.ts';
import { KeyHealthRepo } from '../src/modules/keyhealth/keyhealth.repo.ts';
import { KeyHealthService, LEASE_MS } from '../src/modules/keyhealth/keyhealth.service.ts';
import { openTestDatabase, postgresTestUrl, type TestDatabase, type TestDialect } from './helpers/databases.ts';

// On one PostgreSQL (the multi-instance deployment); SQLite has a single writer per file anyway.
const dialects: TestDialect[] = postgresTestUrl() ? ['postgres'] : [];
const KEYS = 40;
const DAY = 86_400_000;

for (const dialect of dialects) {
  describe(`key health: scheduled re-checks on two instances [${dialect}]`, () => {
    let dir: string;
    let t: TestDatabase;
    const handles: DatabaseHandle[] = [];
    let nowMs = Date.parse('2026-12-01T10:00:00.000Z');
    /** Checks per key id, across both instances. */
    const checks = new Map<string, number>();

    const instance = (h: DatabaseHandle, name: string) =>
      new KeyHealthService({
        db: h.db,
        dialect: h.dialect,
        bus: new LocalBus(),
        config: { invalidAfterMs: 30_000, recheckIntervalMs: DAY, recheckConcurrency: 4, scheduler: false },
        decrypt: async (_o, _p, ciphertext) => ciphertext,
        check: async (_p, apiKey) => {
          checks.set(apiKey, (checks.get(apiKey) ?? 0) + 1);
          // A provider call takes a while: the two instances overlap.
          await new Promise((r) => setTimeout(r, 5));
          return { result: { outcome: 'accepted', message: 'ok' } };
        },
        providerCallsPerMinute: 1_000_000,
        clock: () => nowMs,
        instanceId: name,
      });

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'neo-kh-'));
      t = await openTestDatabase(dialect, dir);
      for (let i = 0; i < 2; i++) handles.push(await openDatabase(t.url, { poolSize: 4 }));
      const db = handles[0]!.db;
      const now = new Date(nowMs).toISOString();
      const dk = uuidv7();
      await db.insertInto('data_keys').values({ id: dk, owner_type: 'user', owner_id: 'u', version: 1, wrapped_key: 'x', master_key_id: 'm', created_at: now, updated_at: now }).execute();
      for (let i = 0; i < KEYS; i++) {
        const id = uuidv7();
        await db
          .insertInto('provider_keys')
          .values({
            id,
            owner_type: 'user',
            owner_id: uuidv7(),
            provider: 'openai',
            display_name: null,
            location: null,
            key_hint: '…ab',
            // The fake "decrypts" a ciphertext to itself: the check sees the key id.
            ciphertext: id,
            data_key_id: dk,
            is_validated: 1,
            validated_at: now,
            models: null,
            models_discovered_at: null,
            created_at: now,
            updated_at: now,
            status: 'active',
            next_check_at: new Date(nowMs - 1000 - i).toISOString(),
          })
          .execute();
      }
    });
    after(async () => {
      for (const h of handles) await h.close();
      await t?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('each due key is checked by exactly one instance per round', async () => {
      const [a, b] = [instance(handles[0]!, 'a'), instance(handles[1]!, 'b')];
      const [ca, cb] = await Promise.all([a.runDue(), b.runDue()]);
      assert.equal(ca.length + cb.length, KEYS, `a checked ${ca.length}, b ${cb.length}`);
      assert.equal(new Set([...ca, ...cb]).size, KEYS, 'no key checked twice');
      assert.ok([...checks.values()].every((n) => n === 1));
      // Nothing is due again until the next round (one interval ± 10 %).
      nowMs += DAY / 2;
      assert.deepEqual(await Promise.all([a.runDue(), b.runDue()]), [[], []]);
      nowMs += DAY;
      checks.clear();
      const [ra, rb] = await Promise.all([a.runDue(), b.runDue()]);
      assert.equal(ra.length + rb.length, KEYS);
      assert.equal(new Set([...ra, ...rb]).size, KEYS);
    });

    it('keys claimed by an instance killed mid-round are checked in the next round', async () => {
      nowMs += 2 * DAY;
      checks.clear();
      // Instance "dead" claims some keys and dies before checking them (its lease stays).
      // (Claims are transactional: the repository refuses one outside a transaction.)
      const claimed = await withTransaction(handles[0]!.db, (trx) =>
        new KeyHealthRepo(trx, handles[0]!.dialect).claimDue(new Date(nowMs).toISOString(), new Date(nowMs + LEASE_MS).toISOString(), 'dead', 10),
      );
      assert.equal(claimed.length, 10);
      const live = instance(handles[1]!, 'live');
      const first = await live.runDue();
      assert.equal(first.length, KEYS - 10, 'the leased keys are left alone while the lease lasts');
      // Next round, after the lease expired: the orphaned keys are checked.
      nowMs += LEASE_MS + 1000;
      const second = await live.runDue();
      assert.deepEqual(new Set(second), new Set(claimed.map((k) => k.id)));
      assert.equal(checks.size, KEYS);
      assert.ok([...checks.values()].every((n) => n === 1));
    });
  });
}
