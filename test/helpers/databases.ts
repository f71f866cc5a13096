/**
 * Fresh databases for tests: a SQLite file in the context's temp dir, or a new
 * PostgreSQL database (CREATE DATABASE neo_test_<time>_<random>) on the server of
 * NEO_TEST_DATABASE_URL, dropped again by `drop()`. Every context gets its own database,
 * so test files running in parallel (and parallel CI runs on one server) never share
 * rows. Databases left behind by a killed run are swept on the next run once they are
 * older than STALE_MS.
 *
 * Also: a TCP proxy to put between a server and PostgreSQL, to cut and restore the
 * connection in outage tests without touching the shared PostgreSQL server, or to
 * freeze it (connections stay open but nothing passes, like a dropped NAT entry).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const PREFIX = 'neo_test_';
const STALE_MS = 6 * 60 * 60 * 1000;
let swept: Promise<void> | undefined;

/** The PostgreSQL server for tests, or undefined when PostgreSQL tests are off. */
export function postgresTestUrl(): string | undefined {
  const u = process.env.NEO_TEST_DATABASE_URL;
  return u ? u : undefined;
}

/** The Redis server for tests, or undefined when Redis tests are off. */
export function redisTestUrl(): string | undefined {
  const u = process.env.NEO_TEST_REDIS_URL;
  return u ? u : undefined;
}

async function withAdmin<T>(base: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Drops test databases of earlier runs that were killed before their cleanup ran. */
async function sweepStale(base: string): Promise<void> {
  await withAdmin(base, async (c) => {
    const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'neo\\_test\\_%'`);
    for (const { datname } of rows) {
      const m = /^neo_test_([0-9a-z]+)_[0-9a-f]+$/.exec(datname);
      if (!m) continue;
      const created = parseInt(m[1]!, 36);
      if (Number.isFinite(created) && Date.now() - created > STALE_MS) {
        await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
      }
    }
  });
}

/** A new, empty PostgreSQL database on the test server (not migrated). */
export async function createPostgresDatabase(): Promise<TestDatabase & { name: string }> {
  const base = postgresTestUrl();
  if (!base) throw new Error('NEO_TEST_DATABASE_URL is not set');
  swept ??= sweepStale(base).catch(() => {});
  await swept;
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withAdmin(base, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    drop: async () => {
      await withAdmin(base, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

export async function openTestDatabase(dialect: TestDialect, dir: string): Promise<TestDatabase> {
  if (dialect === 'sqlite') return { url: join(dir, 'test.db'), drop: async () => {} };
  return createPostgresDatabase();
}

export interface TcpProxy {
  /** 127.0.0.1 port the proxy listens on. */
  port: number;
  /** Rewrites a postgres:// URL to go through the proxy. */
  via(url: string): string;
  /** Drops every open connection and refuses new ones (closed at once) until restore(). */
  cut(): void;
  restore(): void;
  /**
   * Freezes without closing: every open connection, and every connection accepted until
   * thaw(), silently stops forwarding in both directions, for good (like a NAT entry or
   * a firewall state that a network device dropped: neither side is told). Connections
   * opened after thaw() work normally; the frozen ones stay open and silent until close().
   */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 (random port) forwarding to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let isCut = false;
  let isFrozen = false;
  const sockets = new Set<net.Socket>();
  /** Connection pairs; `frozen` pairs drop everything they receive. */
  const pairs = new Set<{ frozen: boolean }>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server = net.createServer((client) => {
    track(client);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    const pair = { frozen: isFrozen };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!pair.frozen) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      isCut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      isCut = false;
    },
    freeze() {
      isFrozen = true;
      for (const p of pairs) p.frozen = true;
    },
    thaw() {
      isFrozen = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
