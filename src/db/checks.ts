/**
 * CHECK constraints on enumerated columns, added to existing tables on both dialects
 * (used by migrations; the dialect-specific part of adding a constraint lives here).
 *
 * PostgreSQL: `ALTER TABLE … ADD CONSTRAINT … CHECK`, which validates the existing rows.
 *
 * SQLite cannot add a constraint to a table: the table is rebuilt (new table with the
 * constraint, rows copied, old table dropped, new one renamed, indexes re-created),
 * inside the migration's transaction. Foreign keys stay ON during a migration (the
 * pragma cannot change inside a transaction), so dropping a parent table would cascade
 * into its children and renaming it would repoint them. Hence every child of a rebuilt
 * table is rebuilt with it, its new copy referencing the parent's new copy; the old
 * tables are dropped children first (nothing references them any more), and the new
 * copies renamed parents first (SQLite repoints the references to the final names).
 * Each table's own definition is copied from `sqlite_master`, so columns added by any
 * earlier migration are kept exactly.
 *
 * Both dialects first look for rows that would break a constraint and refuse with a
 * message naming table, column, the allowed and the offending values.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export interface EnumCheck {
  table: string;
  column: string;
  /** The allowed values; NULL stays allowed where the column is nullable. */
  values: readonly (string | number)[];
}

/** The constraint's name (PostgreSQL's own naming: `<table>_<column>_check`). */
export const checkName = (c: Pick<EnumCheck, 'table' | 'column'>): string => `${c.table}_${c.column}_check`;

// Names come from migrations (constants), never from input; still, only plain identifiers.
const IDENT = /^[a-z_][a-z0-9_]*$/;

function literal(v: string | number): string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`enum check: ${v} is not an integer`);
    return String(v);
  }
  return `'${v.replace(/'/g, "''")}'`;
}

function checkSql(c: EnumCheck): string {
  for (const id of [c.table, c.column]) if (!IDENT.test(id)) throw new Error(`enum check: bad identifier ${id}`);
  return `constraint "${checkName(c)}" check ("${c.column}" in (${c.values.map(literal).join(', ')}))`;
}

/** Refuses (with a clear message) when existing rows break a check. */
async function assertRowsComply(db: Kysely<unknown>, c: EnumCheck): Promise<void> {
  const bad = await sql<{ v: unknown; n: number | string }>`
    select ${sql.ref(c.column)} as v, count(*) as n from ${sql.table(c.table)}
    where ${sql.ref(c.column)} is not null and ${sql.ref(c.column)} not in (${sql.join(c.values.map((v) => sql.lit(v)))})
    group by ${sql.ref(c.column)} order by 2 desc limit 5`.execute(db);
  if (bad.rows.length === 0) return;
  const found = bad.rows.map((r) => `${JSON.stringify(r.v)} (${Number(r.n)} row${Number(r.n) === 1 ? '' : 's'})`).join(', ');
  throw new Error(
    `cannot add ${checkName(c)}: ${c.table}.${c.column} must be one of ${c.values.map((v) => JSON.stringify(v)).join(', ')}, ` +
      `but the database holds ${found}; correct those rows, then start again`,
  );
}

/** Adds every check (grouped by table) on the database's dialect. */
export async function addEnumChecks(db: Kysely<unknown>, checks: readonly EnumCheck[]): Promise<void> {
  for (const c of checks) await assertRowsComply(db, c);
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    for (const c of checks) await sql.raw(`alter table "${c.table}" add ${checkSql(c)}`).execute(db);
    return;
  }
  await rebuildSqliteTables(db, checks);
}

interface SqliteTable {
  name: string;
  create: string;
  indexes: string[];
  parents: string[];
}

async function readSqliteTable(db: Kysely<unknown>, name: string): Promise<SqliteTable> {
  const t = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = ${name}`.execute(db);
  const create = t.rows[0]?.sql;
  if (!create) throw new Error(`enum check: no table ${name}`);
  const idx = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = ${name} and sql is not null order by name`.execute(db);
  const fks = await sql<{ table: string }>`select "table" from pragma_foreign_key_list(${name})`.execute(db);
  return { name, create, indexes: idx.rows.map((r) => r.sql), parents: [...new Set(fks.rows.map((r) => r.table))] };
}

async function rebuildSqliteTables(db: Kysely<unknown>, checks: readonly EnumCheck[]): Promise<void> {
  const all = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db);
  const tables = new Map<string, SqliteTable>();
  for (const { name } of all.rows) tables.set(name, await readSqliteTable(db, name));

  // The tables with a check, and (transitively) every child of one of them.
  const rebuild = new Set(checks.map((c) => c.table));
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of tables.values()) {
      if (!rebuild.has(t.name) && t.parents.some((p) => rebuild.has(p))) {
        rebuild.add(t.name);
        grew = true;
      }
    }
  }
  // Parents before children.
  const order: SqliteTable[] = [];
  const visit = (name: string, path: Set<string>) => {
    if (order.some((t) => t.name === name) || !rebuild.has(name)) return;
    if (path.has(name)) throw new Error(`enum check: foreign key cycle through ${name}`);
    path.add(name);
    const t = tables.get(name);
    if (!t) throw new Error(`enum check: no table ${name}`);
    for (const p of t.parents) if (p !== name) visit(p, path);
    path.delete(name);
    order.push(t);
  };
  for (const name of [...rebuild].sort()) visit(name, new Set());

  const tmp = (name: string) => `${name}__rebuild`;
  for (const t of order) {
    const own = checks.filter((c) => c.table === t.name).map(checkSql);
    let create = t.create.replace(/^\s*create\s+table\s+(?:"[^"]+"|\S+)\s*\(/i, `CREATE TABLE "${tmp(t.name)}" (`);
    if (create === t.create) throw new Error(`enum check: cannot read the definition of ${t.name}`);
    create = create.replace(/references\s+(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))/gi, (m, quoted?: string, bare?: string) => {
      const parent = quoted ?? bare ?? '';
      return rebuild.has(parent) ? `references "${tmp(parent)}"` : m;
    });
    if (own.length) {
      const end = create.lastIndexOf(')');
      create = `${create.slice(0, end)}, ${own.join(', ')}${create.slice(end)}`;
    }
    await sql.raw(create).execute(db);
    await sql.raw(`insert into "${tmp(t.name)}" select * from "${t.name}"`).execute(db);
  }
  for (const t of [...order].reverse()) await sql.raw(`drop table "${t.name}"`).execute(db);
  for (const t of order) await sql.raw(`alter table "${tmp(t.name)}" rename to "${t.name}"`).execute(db);
  for (const t of order) for (const index of t.indexes) await sql.raw(index).execute(db);

  const broken = await sql<{ table: string }>`select "table" from pragma_foreign_key_check`.execute(db);
  if (broken.rows.length) throw new Error(`enum check: foreign keys broken in ${[...new Set(broken.rows.map((r) => r.table))].join(', ')} after the rebuild`);
}
