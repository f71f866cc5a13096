/**
 * Migration 20261201T0900_enum_checks on both dialects (issue 12 item 15): every
 * enumerated column refuses a value the code never writes; the migration keeps every
 * row, index and foreign key of a populated database (SQLite rebuilds the tables);
 * existing bad rows make it fail with a message naming them; an `admin import` of a
 * dump with a bad mode fails with a clear message and imports nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Migrator, sql } from 'kysely';
import { openTestDatabase, postgresTestUrl, type TestDatabase, type TestDialect } from '../../../test/helpers/databases.ts';
import { checkName } from '../checks.ts';
import { DumpError, exportDatabase, importDatabase } from '../dump.ts';
import { uuidv7 } from '../ids.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../index.ts';
import { CHECKS } from './20261201T0900_enum_checks.ts';
import { migrations } from './index.ts';

const dialects: TestDialect[] = postgresTestUrl() ? ['sqlite', 'postgres'] : ['sqlite'];
const BEFORE = '20261130T2300_key_health';
const now = new Date().toISOString();

/** One row in every table, linked by foreign keys as the service links them. */
async function populate(h: DatabaseHandle) {
  const ids = { user: uuidv7(), other: uuidv7(), team: uuidv7(), member: uuidv7(), apiKey: uuidv7(), dataKey: uuidv7(), key: uuidv7(), event: uuidv7(), outbox: uuidv7() };
  const db = h.db;
  await db
    .insertInto('users')
    .values([
      { id: ids.user, sub: 's1', email: 'a@example.com', role: 'admin', tag: null, created_at: now, updated_at: now },
      { id: ids.other, sub: 's2', email: 'b@example.com', role: 'user', tag: 't', created_at: now, updated_at: now },
    ])
    .execute();
  await db.insertInto('teams').values({ id: ids.team, name: 'T', created_at: now, updated_at: now }).execute();
  await db
    .insertInto('team_members')
    .values({ id: ids.member, team_id: ids.team, user_id: ids.user, email: 'a@example.com', role: 'admin', status: 'active', invited_by: null, invited_at: now, accepted_at: now, invite_token_hash: null, invite_expires_at: null })
    .execute();
  await db.insertInto('api_keys').values({ id: ids.apiKey, user_id: ids.other, key_hash: 'h'.repeat(64), key_last4: 'abcd', created_at: now, updated_at: now }).execute();
  await db.insertInto('features').values({ owner_type: 'team', owner_id: ids.team, name: 'byok', enabled: 1, updated_at: now }).execute();
  await db.insertInto('byok_settings').values({ owner_type: 'team', owner_id: ids.team, mode: 'byok', updated_at: now }).execute();
  await db.insertInto('data_keys').values({ id: ids.dataKey, owner_type: 'team', owner_id: ids.team, version: 1, wrapped_key: 'w', master_key_id: 'm', created_at: now, updated_at: now }).execute();
  await db
    .insertInto('provider_keys')
    .values({ id: ids.key, owner_type: 'team', owner_id: ids.team, provider: 'openai', display_name: 'n', location: null, key_hint: 'sk-…abcd', ciphertext: 'c', data_key_id: ids.dataKey, is_validated: 1, validated_at: now, models: '["gpt-5"]', models_discovered_at: now, created_at: now, updated_at: now })
    .execute();
  await db
    .insertInto('audit_events')
    .values({ id: ids.event, owner_type: 'team', owner_id: ids.team, action: 'mode.changed', actor_id: ids.user, actor_email: 'a@example.com', provider: null, from_mode: 'neo', to_mode: 'byok', request_id: 'r', created_at: now })
    .execute();
  await db.insertInto('outbox').values({ id: ids.outbox, owner_type: 'team', owner_id: ids.team, event_type: 'x', payload: '{}', created_at: now }).execute();
  return ids;
}

async function snapshotRows(h: DatabaseHandle): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of ['users', 'teams', 'team_members', 'api_keys', 'features', 'byok_settings', 'data_keys', 'provider_keys', 'audit_events', 'outbox', 'meta'] as const) {
    out[t] = (await sql<Record<string, unknown>>`select * from ${sql.table(t)} order by 1`.execute(h.db)).rows;
  }
  return out;
}

/** Index names per table (SQLite: sqlite_master; PostgreSQL: pg_indexes). */
async function indexes(h: DatabaseHandle): Promise<string[]> {
  const r =
    h.dialect === 'sqlite'
      ? await sql<{ n: string }>`select tbl_name || '.' || name as n from sqlite_master where type = 'index' order by 1`.execute(h.db)
      : await sql<{ n: string }>`select tablename || '.' || indexname as n from pg_indexes where schemaname = 'public' order by 1`.execute(h.db);
  return r.rows.map((x) => x.n);
}

for (const dialect of dialects) {
  describe(`enum CHECK constraints migration [${dialect}]`, () => {
    let dir: string;
    const dbs: TestDatabase[] = [];
    const handles: DatabaseHandle[] = [];
    const fresh = async (name: string, migrate: boolean) => {
      const t = await openTestDatabase(dialect, join(dir, name));
      dbs.push(t);
      const h = await openDatabase(dialect === 'sqlite' ? join(dir, `${name}.db`) : t.url, { poolSize: 2, migrate });
      handles.push(h);
      return h;
    };
    const migrateTo = async (h: DatabaseHandle, name: string) => {
      const r = await new Migrator({ db: h.db, provider: { getMigrations: async () => migrations } }).migrateTo(name);
      assert.equal(r.error, undefined);
    };
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'neo-checks-'));
    });
    after(async () => {
      for (const h of handles) await h.close();
      for (const t of dbs) await t.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('keeps every row, index and foreign key of a populated database', async () => {
      const h = await fresh('populated', false);
      await migrateTo(h, BEFORE);
      const ids = await populate(h);
      const rowsBefore = await snapshotRows(h);
      const indexesBefore = await indexes(h);

      // Exactly this migration (later ones add tables and indexes of their own).
      await migrateTo(h, '20261201T0900_enum_checks');
      assert.deepEqual(await snapshotRows(h), rowsBefore);
      assert.deepEqual(await indexes(h), indexesBefore);
      if (dialect === 'sqlite') {
        const leftovers = await sql<{ name: string }>`select name from sqlite_master where name like '%rebuild%' or sql like '%rebuild%'`.execute(h.db);
        assert.deepEqual(leftovers.rows, []);
      }

      // Foreign keys still point at the live tables: a cascade reaches the children...
      await h.db.deleteFrom('users').where('id', '=', ids.other).execute();
      assert.equal((await h.db.selectFrom('api_keys').selectAll().execute()).length, 0);
      // ...and a child row without its parent is refused.
      await assert.rejects(
        h.db.insertInto('api_keys').values({ id: uuidv7(), user_id: uuidv7(), key_hash: 'g'.repeat(64), key_last4: 'x', created_at: now, updated_at: now }).execute(),
      );
      await assert.rejects(h.db.deleteFrom('data_keys').where('id', '=', ids.dataKey).execute());
      // The partial unique index (one active team per user) still holds.
      await assert.rejects(
        h.db
          .insertInto('team_members')
          .values({ id: uuidv7(), team_id: ids.team, user_id: ids.user, email: 'a2@example.com', role: 'member', status: 'active', invited_by: null, invited_at: now, accepted_at: now, invite_token_hash: null, invite_expires_at: null })
          .execute(),
      );
    });

    it('every enumerated column refuses a value outside its list', async () => {
      const h = await fresh('checks', true);
      const ids = await populate(h);
      const keyOf: Record<string, [string, string]> = {
        users: ['id', ids.user],
        team_members: ['id', ids.member],
        features: ['owner_id', ids.team],
        byok_settings: ['owner_id', ids.team],
        data_keys: ['id', ids.dataKey],
        provider_keys: ['id', ids.key],
        audit_events: ['id', ids.event],
        outbox: ['id', ids.outbox],
      };
      for (const c of CHECKS) {
        const [col, id] = keyOf[c.table]!;
        const bad = typeof c.values[0] === 'number' ? 2 : 'bogus';
        await assert.rejects(
          sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${bad} where ${sql.ref(col)} = ${id}`.execute(h.db),
          (err: { message?: string; constraint?: string }) => (err.constraint ?? err.message ?? '').includes(checkName(c)),
          `${c.table}.${c.column} accepted ${bad}`,
        );
        // Every listed value is accepted (the list is not stricter than the code).
        for (const v of c.values) await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${v} where ${sql.ref(col)} = ${id}`.execute(h.db);
      }
      await assert.rejects(
        h.db.insertInto('byok_settings').values({ owner_type: 'user', owner_id: 'u', mode: 'BYOK' as 'byok', updated_at: now }).execute(),
        /byok_settings_mode_check/,
      );
    });

    it('refuses to migrate a database holding a bad value, naming it, and changes nothing', async () => {
      const h = await fresh('dirty', false);
      await migrateTo(h, BEFORE);
      await populate(h);
      await sql`update byok_settings set mode = 'BYOK'`.execute(h.db);
      const rowsBefore = await snapshotRows(h);
      await assert.rejects(migrateToLatest(h.db), /byok_settings\.mode must be one of "neo", "byok", but the database holds "BYOK" \(1 row\)/);
      assert.deepEqual(await snapshotRows(h), rowsBefore);
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(h.db);
      assert.deepEqual(
        applied.rows.map((r) => r.name),
        ['20261127T1300_initial', BEFORE],
      );
    });

    it('an import of a dump with a bad mode fails with a clear message and imports nothing', async () => {
      const source = await fresh('source', true);
      await populate(source);
      let dump = '';
      await exportDatabase(source.db, source.dialect, (t) => (dump += t));
      const lines = dump.split('\n');
      const at = lines.findIndex((l) => l.includes('"t":"byok_settings"'));
      assert.ok(at > 0);
      lines[at] = lines[at]!.replace('"mode":"byok"', '"mode":"turbo"');
      const target = await fresh('target', true);
      async function* input() {
        for (const l of lines) yield l;
      }
      await assert.rejects(importDatabase(target.db, input()), (err: Error) => {
        assert.ok(err instanceof DumpError, String(err));
        assert.equal(err.message, `line ${at + 1}: byok_settings.mode must be one of "neo", "byok" (the dump has "turbo"); nothing was imported`);
        return true;
      });
      assert.equal((await target.db.selectFrom('users').selectAll().execute()).length, 0);
    });
  });
}
