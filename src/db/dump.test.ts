/**
 * The dump core on both dialects: it covers every table the migrations create, pages
 * through large tables (single and composite keys) without losing or repeating rows,
 * and refuses dumps it cannot import faithfully.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, postgresTestUrl, type TestDatabase, type TestDialect } from '../../test/helpers/databases.ts';
import { DUMP_TABLES, DumpError, exportDatabase, importDatabase, listTables } from './dump.ts';
import { uuidv7 } from './ids.ts';
import { openDatabase, type DatabaseHandle } from './index.ts';

const dialects: TestDialect[] = postgresTestUrl() ? ['sqlite', 'postgres'] : ['sqlite'];

async function* linesOf(text: string): AsyncIterable<string> {
  for (const l of text.split('\n')) yield l;
}

async function dumpOf(h: DatabaseHandle): Promise<string> {
  let out = '';
  await exportDatabase(h.db, h.dialect, (t) => (out += t));
  return out;
}

for (const dialect of dialects) {
  describe(`database dump [${dialect}]`, () => {
    let dir: string;
    const dbs: TestDatabase[] = [];
    const handles: DatabaseHandle[] = [];
    const fresh = async (name: string) => {
      const t = await openTestDatabase(dialect, join(dir, name));
      dbs.push(t);
      const h = await openDatabase(dialect === 'sqlite' ? join(dir, `${name}.db`) : t.url, { poolSize: 2 });
      handles.push(h);
      return h;
    };
    let source: DatabaseHandle;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'neo-dump-'));
      source = await fresh('source');
      // More rows than one page, in a table keyed by id and in one with a composite key.
      const now = new Date().toISOString();
      const events = Array.from({ length: 2345 }, (_, i) => ({
        id: uuidv7(),
        owner_type: 'user' as const,
        owner_id: `u${i % 7}`,
        action: 'mode.changed',
        actor_id: null,
        actor_email: i % 2 ? `a${i}@example.com` : null,
        provider: null,
        from_mode: 'neo' as const,
        to_mode: 'byok' as const,
        request_id: `r-${i}`,
        created_at: now,
      }));
      for (let i = 0; i < events.length; i += 500) await source.db.insertInto('audit_events').values(events.slice(i, i + 500)).execute();
      const features = Array.from({ length: 1234 }, (_, i) => ({
        owner_type: i % 2 ? ('user' as const) : ('team' as const),
        owner_id: `o${Math.floor(i / 2) % 700}`,
        name: `f${i}`,
        enabled: i % 3 === 0 ? 1 : 0,
        updated_at: now,
      }));
      for (let i = 0; i < features.length; i += 500) await source.db.insertInto('features').values(features.slice(i, i + 500)).execute();
      await source.db.insertInto('meta').values({ key: 'k', value: 'v "quoted" \n line' }).execute();
    });
    after(async () => {
      for (const h of handles) await h.close();
      for (const t of dbs) await t.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('DUMP_TABLES names exactly the tables the migrations create', async () => {
      assert.deepEqual(await listTables(source.db), DUMP_TABLES.map((t) => t.name).sort());
    });

    it('round-trips every row across pages, meta replacing what the target had', async () => {
      const text = await dumpOf(source);
      const lines = text.trim().split('\n');
      assert.equal(lines.length, 1 + 2345 + 1234 + 1 + 1);
      const target = await fresh('target');
      await target.db.insertInto('meta').values({ key: 'k', value: 'written by a server start' }).execute();
      const counts = await importDatabase(target.db, linesOf(text));
      assert.equal(counts.audit_events, 2345);
      assert.equal(counts.features, 1234);
      for (const t of DUMP_TABLES) {
        let a = source.db.selectFrom(t.name as 'meta').selectAll();
        let b = target.db.selectFrom(t.name as 'meta').selectAll();
        for (const k of t.key) {
          a = a.orderBy(k as 'key');
          b = b.orderBy(k as 'key');
        }
        assert.deepEqual(await b.execute(), await a.execute(), t.name);
      }
    });

    it('refuses another schema version, reordered or unknown tables, and bad counts', async () => {
      const text = await dumpOf(source);
      const [head, ...rest] = text.trim().split('\n');
      const header = JSON.parse(head!);
      const cases: [string, string, RegExp][] = [
        ['version', [JSON.stringify({ ...header, migrations: [...header.migrations, '29990101T0000_future'] }), ...rest].join('\n'), /schema version/],
        ['order', [head, rest.find((l) => l.startsWith('{"t":"meta"'))!, ...rest].join('\n'), /out of order/],
        ['unknown', [head, JSON.stringify({ t: 'kysely_migration', r: { name: 'x' } }), ...rest].join('\n'), /not a row of a known table/],
        ['counts', [head, ...rest.slice(0, -1), JSON.stringify({ end: true, counts: { users: 1 } })].join('\n'), /announces/],
        ['empty', '', /empty/],
      ];
      for (const [name, body, re] of cases) {
        const target = await fresh(`bad-${name}`);
        await assert.rejects(importDatabase(target.db, linesOf(body)), (err: unknown) => err instanceof DumpError && re.test(err.message), name);
        const n = await target.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(n.n), 0, `${name}: nothing imported`);
      }
    });
  });
}
