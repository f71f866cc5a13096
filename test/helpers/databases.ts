/** Fresh databases for tests: a SQLite file in the context's temp dir, or a new PostgreSQL database. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function openTestDatabase(dialect: TestDialect, dir: string): Promise<TestDatabase> {
  if (dialect === 'sqlite') return { url: join(dir, 'test.db'), drop: async () => {} };
  const base = process.env.NEO_TEST_DATABASE_URL;
  if (!base) throw new Error('NEO_TEST_DATABASE_URL is not set');
  const name = `neo_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
