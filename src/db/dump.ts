/**
 * A verbatim, dialect-neutral copy of the whole database as JSON lines: what
 * `neo-byok admin export` writes and `neo-byok admin import` reads, to move a SQLite
 * deployment to PostgreSQL (or back).
 *
 * Rows are copied column for column. Ciphertexts and wrapped data keys stay valid in the
 * new database because their associated data binds them to the owner, the provider and
 * the data key id, never to the database; the target needs the same NEO_MASTER_KEY.
 *
 * Format (one JSON object per line):
 *   {"format":"neo-byok-dump","version":1,"exported_at","source","migrations":[…],"tables":[…]}
 *   {"t":"<table>","r":{<column>: <value>, …}}   … in DUMP_TABLES order (parents first)
 *   {"end":true,"counts":{"<table>": n, …}}       a dump without it is truncated
 */
import { sql, type Kysely } from 'kysely';
import { checkName } from './checks.ts';
import { CHECKS as ENUM_CHECKS } from './migrations/20261201T0900_enum_checks.ts';
import { CHECKS as WEBHOOK_CHECKS } from './migrations/20261202T1000_webhooks.ts';
import { migrations } from './migrations/index.ts';
import type { Db, Dialect } from './index.ts';
import { withTransaction } from './write-path.ts';

export const DUMP_FORMAT = 'neo-byok-dump';
export const DUMP_VERSION = 1;

/**
 * Every application table, parents before children (foreign keys), with its primary
 * key (the export pages and orders by it). A table added by a migration must be added
 * here: export refuses to run when the database holds a table this list does not know.
 */
export const DUMP_TABLES: readonly { name: string; key: readonly string[] }[] = [
  { name: 'users', key: ['id'] },
  { name: 'teams', key: ['id'] },
  { name: 'team_members', key: ['id'] },
  { name: 'features', key: ['owner_type', 'owner_id', 'name'] },
  { name: 'api_keys', key: ['id'] },
  { name: 'byok_settings', key: ['owner_type', 'owner_id'] },
  { name: 'data_keys', key: ['id'] },
  { name: 'provider_keys', key: ['id'] },
  { name: 'audit_events', key: ['id'] },
  { name: 'outbox', key: ['id'] },
  { name: 'webhook_endpoints', key: ['id'] },
  { name: 'webhook_deliveries', key: ['id'] },
  { name: 'meta', key: ['key'] },
  { name: 'oidc_signing_keys', key: ['kid'] },
];

/** Tables that may already hold rows in the target (a server started once writes them); the dump's rows replace them. */
const REPLACEABLE = new Set(['meta']);
const PAGE = 1000;

type Row = Record<string, unknown>;
// Tables are addressed by name here: a loosely typed view of the same database.
type AnyDb = Kysely<Record<string, Row>>;

export class DumpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DumpError';
  }
}

interface Header {
  format: string;
  version: number;
  exported_at: string;
  source: Dialect;
  migrations: string[];
  tables: string[];
}

/** The application tables present in the database (Kysely's own tables excluded). */
export async function listTables(db: Db): Promise<string[]> {
  const tables = await db.introspection.getTables();
  return tables.map((t) => t.name).filter((n) => !n.startsWith('kysely_')).sort();
}

async function checkTables(db: Db): Promise<void> {
  const known = new Set(DUMP_TABLES.map((t) => t.name));
  const present = await listTables(db);
  const unknown = present.filter((n) => !known.has(n));
  if (unknown.length) {
    throw new DumpError(`table(s) ${unknown.join(', ')} are not covered by the dump; add them to DUMP_TABLES in src/db/dump.ts`);
  }
  const missing = [...known].filter((n) => !present.includes(n));
  if (missing.length) throw new DumpError(`table(s) ${missing.join(', ')} are missing; is the database migrated?`);
}

/**
 * Writes the dump, line by line, from one consistent snapshot (a read transaction;
 * on SQLite a deferred one, so a running server's writes are not blocked).
 */
export async function exportDatabase(
  db: Db,
  dialect: Dialect,
  write: (lines: string) => void,
  clock: () => number = Date.now,
): Promise<Record<string, number>> {
  await checkTables(db);
  const counts: Record<string, number> = {};
  await db.connection().execute(async (conn) => {
    await sql.raw(dialect === 'postgres' ? 'begin isolation level repeatable read read only' : 'begin').execute(conn);
    try {
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(conn);
      const header: Header = {
        format: DUMP_FORMAT,
        version: DUMP_VERSION,
        exported_at: new Date(clock()).toISOString(),
        source: dialect,
        migrations: applied.rows.map((r) => r.name),
        tables: DUMP_TABLES.map((t) => t.name),
      };
      write(JSON.stringify(header) + '\n');
      const adb = conn as unknown as AnyDb;
      for (const table of DUMP_TABLES) {
        counts[table.name] = 0;
        let last: unknown[] | undefined;
        for (;;) {
          let q = adb.selectFrom(table.name).selectAll();
          if (last) {
            const cols = sql.join(table.key.map((k) => sql.ref(k)));
            q = q.where(sql<boolean>`(${cols}) > (${sql.join(last)})`);
          }
          for (const k of table.key) q = q.orderBy(k);
          const rows = await q.limit(PAGE).execute();
          if (rows.length === 0) break;
          write(rows.map((r) => JSON.stringify({ t: table.name, r })).join('\n') + '\n');
          counts[table.name] = (counts[table.name] ?? 0) + rows.length;
          const lastRow = rows[rows.length - 1]!;
          last = table.key.map((k) => lastRow[k]);
          if (rows.length < PAGE) break;
        }
      }
      write(JSON.stringify({ end: true, counts }) + '\n');
    } finally {
      await sql.raw('commit').execute(conn);
    }
  });
  return counts;
}

/**
 * Reads a dump into an empty, migrated database in one transaction: all of it or
 * nothing. Refuses a dump of another schema version, a truncated or reordered dump,
 * and a target that already holds data.
 */
export async function importDatabase(db: Db, lines: AsyncIterable<string>): Promise<Record<string, number>> {
  // Take the iterator before the first await: a readline interface drops the lines
  // (and its close) that arrive while nobody iterates it.
  const iterator = lines[Symbol.asyncIterator]();
  const input: AsyncIterable<string> = { [Symbol.asyncIterator]: () => iterator };
  await checkTables(db);
  const expectedMigrations = Object.keys(migrations).sort();
  const order = new Map(DUMP_TABLES.map((t, i) => [t.name, i]));
  const counts: Record<string, number> = Object.fromEntries(DUMP_TABLES.map((t) => [t.name, 0]));

  // One attempt: the input cannot be read twice. withTransaction marks the transaction
  // (a root query inside it throws instead of deadlocking).
  return withTransaction(db, async (trx) => {
    const adb = trx as unknown as AnyDb;
    for (const t of DUMP_TABLES) {
      if (REPLACEABLE.has(t.name)) continue;
      const any = await adb.selectFrom(t.name).select(sql<number>`1`.as('x')).limit(1).executeTakeFirst();
      if (any) throw new DumpError(`the target database is not empty (table ${t.name} has rows); import into a new database`);
    }

    let header: Header | undefined;
    let trailer: { counts: Record<string, number> } | undefined;
    let position = -1;
    let batch: Row[] = [];
    let batchLines: number[] = [];
    let batchTable = '';
    let lineNo = 0;

    const flush = async () => {
      if (!batch.length) return;
      const rows = batch;
      const lines = batchLines;
      batch = [];
      batchLines = [];
      if (REPLACEABLE.has(batchTable)) {
        const key = DUMP_TABLES[order.get(batchTable)!]!.key;
        await adb
          .deleteFrom(batchTable)
          .where(sql<boolean>`(${sql.join(key.map((k) => sql.ref(k)))}) in (${sql.join(rows.map((r) => sql`(${sql.join(key.map((k) => r[k]))})`))})`)
          .execute();
      }
      // Bound parameters per statement stay far below both dialects' limits.
      const cols = Math.max(1, Object.keys(rows[0]!).length);
      const size = Math.max(1, Math.min(500, Math.floor(20_000 / cols)));
      for (let i = 0; i < rows.length; i += size) {
        try {
          await adb.insertInto(batchTable).values(rows.slice(i, i + size)).execute();
        } catch (err) {
          throw checkViolation(err, batchTable, rows, lines) ?? err;
        }
      }
    };

    for await (const raw of input) {
      lineNo += 1;
      const line = raw.trim();
      if (!line) continue;
      if (trailer) throw new DumpError(`line ${lineNo}: data after the end marker`);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new DumpError(`line ${lineNo} is not JSON`);
      }
      if (!header) {
        if (entry.format !== DUMP_FORMAT || entry.version !== DUMP_VERSION) {
          throw new DumpError(`line 1 is not a ${DUMP_FORMAT} version ${DUMP_VERSION} header`);
        }
        header = entry as unknown as Header;
        const theirs = [...(header.migrations ?? [])].sort();
        if (JSON.stringify(theirs) !== JSON.stringify(expectedMigrations)) {
          throw new DumpError(
            `the dump was made at schema version [${theirs.join(', ')}] but this neo-byok has [${expectedMigrations.join(', ')}]; export and import with the same version`,
          );
        }
        continue;
      }
      if (entry.end === true) {
        await flush();
        trailer = entry as { counts: Record<string, number> };
        continue;
      }
      const table = entry.t;
      const row = entry.r;
      if (typeof table !== 'string' || !order.has(table) || !row || typeof row !== 'object' || Array.isArray(row)) {
        throw new DumpError(`line ${lineNo}: not a row of a known table`);
      }
      const p = order.get(table)!;
      if (p < position) throw new DumpError(`line ${lineNo}: table ${table} out of order`);
      if (table !== batchTable || batch.length >= PAGE) {
        await flush();
        batchTable = table;
        position = p;
      }
      batch.push(row as Row);
      batchLines.push(lineNo);
      counts[table] = (counts[table] ?? 0) + 1;
    }
    if (!header) throw new DumpError('the dump is empty');
    if (!trailer) throw new DumpError('the dump is truncated (no end marker); nothing was imported');
    for (const t of DUMP_TABLES) {
      const expected = trailer.counts?.[t.name] ?? 0;
      if (expected !== counts[t.name]) {
        throw new DumpError(`table ${t.name}: the dump announces ${expected} rows but holds ${counts[t.name]}; nothing was imported`);
      }
    }
    return counts;
  }, 1);
}

/**
 * A row refused by a CHECK constraint (a value the schema does not allow, e.g. a mode
 * other than neo/byok) as a DumpError naming the line, the column and the allowed
 * values; undefined for any other error.
 */
function checkViolation(err: unknown, table: string, rows: Row[], lines: number[]): DumpError | undefined {
  const e = err as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  const sqlite = e?.code === 'SQLITE_CONSTRAINT_CHECK' ? /CHECK constraint failed: (\S+)/.exec(typeof e.message === 'string' ? e.message : '')?.[1] : undefined;
  const name = e?.code === '23514' && typeof e.constraint === 'string' ? e.constraint : sqlite;
  if (!name) return undefined;
  const check = [...ENUM_CHECKS, ...WEBHOOK_CHECKS].find((c) => checkName(c) === name);
  if (!check) return new DumpError(`table ${table}: a row breaks the constraint ${name}; nothing was imported`);
  const at = rows.findIndex((r) => r[check.column] !== null && r[check.column] !== undefined && !check.values.includes(r[check.column] as string | number));
  const where = at >= 0 ? `line ${lines[at]}: ` : '';
  const value = at >= 0 ? ` (the dump has ${JSON.stringify(rows[at]![check.column])})` : '';
  return new DumpError(
    `${where}${table}.${check.column} must be one of ${check.values.map((v) => JSON.stringify(v)).join(', ')}${value}; nothing was imported`,
  );
}
