/**
 * Bulk seeding for the benchmark (never the HTTP API): N owners with the rows a real
 * owner has, on SQLite or PostgreSQL, after the production migrations.
 *
 * - The POOL (the owners the load generator talks to) is written through the real code:
 *   the vault encrypts real provider keys (`openai`, `anthropic`) under a real data key,
 *   the feature flag is on and the mode is `byok`. Half are solo users, half teams whose
 *   benchmarked user is the admin (so every pool user may manage BYOK settings).
 * - FILLER owners (the rest, up to N) are written by bulk inserts, with rows of realistic
 *   size in every table the read paths touch: users, api_keys, teams, team_members,
 *   features, byok_settings, data_keys, provider_keys (one or two keys each, ciphertexts
 *   of the real format and length, model lists). One owner in ten is a team of two.
 *   Their ciphertexts are random bytes: nothing decrypts them, nothing needs to.
 *
 * SQLite: better-sqlite3 prepared statements, one transaction per batch, synchronous
 * off for the seeding connection only (the server reopens the file with its own
 * settings). PostgreSQL: multi-row `INSERT … SELECT * FROM unnest($1::text[], …)`, one
 * statement per table per batch, synchronous_commit off for the seeding session.
 * Indexes are the production ones (created by the migrations before seeding).
 */
import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { KeyVault } from '../src/crypto/vault.ts';
import { masterKeyId } from '../src/crypto/envelope.ts';
import { openDatabase, withTransaction } from '../src/db/index.ts';
import { isPostgresUrl } from '../src/lib/database-url.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { LocalBus } from '../src/lib/bus.ts';
import { sha256Hex } from '../src/lib/hash.ts';
import type { Owner } from '../src/modules/auth/owner.ts';
import { ByokRepo } from '../src/modules/byok/byok.repo.ts';
import type { ProviderName } from '../src/providers/types.ts';

/** A benchmarked owner and the user the load generator acts as. */
export interface PoolOwner {
  owner: Owner;
  userId: string;
  sub: string;
  email: string;
  /** The user's Neo API key (full value; the database holds its SHA-256 only). */
  apiKey: string;
}

export interface SeedOptions {
  databaseUrl: string;
  /** Total owners (pool included). */
  owners: number;
  /** Benchmarked owners (written with real ciphertexts). */
  pool: number;
  masterKey: Buffer;
  /** Owners per bulk batch. */
  batch?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  owners: number;
  pool: PoolOwner[];
  /** A solo user in neo mode with the flag off (the resolve "neo" scenario). */
  neoUser: PoolOwner;
  rows: Record<string, number>;
  /** Wall time of the whole seeding (migrations, pool, filler, ANALYZE). */
  ms: number;
}

const POOL_MODELS: Record<'openai' | 'anthropic', string[]> = {
  openai: ['gpt-5', 'gpt-5-mini', 'gpt-4.1', 'gpt-4o', 'o3', 'text-embedding-3-large', 'dall-e-3'],
  anthropic: ['claude-sonnet-4-5-20250929', 'claude-opus-4-1-20250805', 'claude-haiku-4-5-20251001', 'claude-3-5-haiku-20241022'],
};

const API_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A Neo API key (`neo_sk_` + 32 [A-Za-z0-9]), as the API key service makes them. */
export function newApiKey(): string {
  let body = '';
  for (const b of randomBytes(32)) body += API_KEY_ALPHABET[b % API_KEY_ALPHABET.length];
  return `neo_sk_${body}`;
}

/** The tables a filler owner has rows in, in insert order (foreign keys point backwards). */
const TABLES = ['users', 'teams', 'team_members', 'api_keys', 'features', 'byok_settings', 'data_keys', 'provider_keys'] as const;

/** The few expressions that differ between the dialects, for the generating SELECTs. */
interface SqlDialect {
  /** A CTE `n(i)` yielding the integers start … end-1. */
  numbers(start: number, end: number): string;
  /** `chars` random lower-case hex characters (chars: a multiple of 2, at most 256). */
  randHex(chars: number): string;
  /** `expr` as lower-case hex, zero-padded to `width`. */
  hex(expr: string, width: number): string;
}

const SQLITE_SQL: SqlDialect = {
  numbers: (start, end) => `WITH RECURSIVE n(i) AS (SELECT ${start} UNION ALL SELECT i + 1 FROM n WHERE i < ${end - 1})`,
  randHex: (chars) => `lower(hex(randomblob(${chars / 2})))`,
  hex: (expr, width) => `printf('%0${width}x', ${expr})`,
};

const POSTGRES_SQL: SqlDialect = {
  numbers: (start, end) => `WITH n(i) AS (SELECT generate_series(${start}::bigint, ${end - 1}::bigint))`,
  // 64 random hex characters per sha256 of a random number.
  randHex: (chars) => {
    const parts = Array.from({ length: Math.ceil(chars / 64) }, () => `encode(sha256(random()::text::bytea), 'hex')`);
    return `substr(${parts.join(' || ')}, 1, ${chars})`;
  },
  hex: (expr, width) => `lpad(to_hex(${expr}), ${width}, '0')`,
};

/** Millisecond time of the filler ids (2025-01-01): before any id the pool or the server makes. */
const FILLER_EPOCH_MS = Date.UTC(2025, 0, 1);
const FILLER_TS = `'2025-06-01T09:30:00.000Z'`;

/**
 * The INSERT … SELECT statements that write filler owners start … end-1. Owner i is a
 * team of two (admin + member) when i % 10 = 0, else a solo user. Ids are UUIDv7-shaped
 * and time-ordered like real ones (48-bit milliseconds = epoch + i, version 7, a "kind"
 * nibble group so every table's ids differ, variant 8, then i), so index inserts follow
 * the same pattern as production's. Emails, subs, key hashes and ciphertexts are unique
 * or random, with production lengths: a 64-hex key hash, a 296-character ciphertext.
 */
function fillerStatements(d: SqlDialect, start: number, end: number, masterKeyIdHex: string): string[] {
  const id = (kind: number) =>
    `${d.hex(`(${FILLER_EPOCH_MS} + i) / 65536`, 8)} || '-' || ${d.hex(`(${FILLER_EPOCH_MS} + i) % 65536`, 4)} || '-7${kind.toString(16).padStart(3, '0')}-8000-' || ${d.hex('i', 12)}`;
  const team = 'i % 10 = 0';
  const ownerType = `CASE WHEN ${team} THEN 'team' ELSE 'user' END`;
  const ownerId = `CASE WHEN ${team} THEN ${id(5)} ELSE ${id(1)} END`;
  const ts = FILLER_TS;
  const n = d.numbers(start, end);
  const models = (p: 'openai' | 'anthropic') => `'${JSON.stringify(POOL_MODELS[p])}'`;
  return [
    // The owner's user (solo user or team admin), then the team's second member.
    `${n} INSERT INTO users (id, sub, email, role, tag, created_at, updated_at)
       SELECT ${id(1)}, 'bench|' || ${d.randHex(24)} || '|' || i,
              CASE WHEN ${team} THEN 'a' || i || '@team.bench.example.com' ELSE 'u' || i || '@bench.example.com' END,
              'user', NULL, ${ts}, ${ts} FROM n`,
    `${n} INSERT INTO users (id, sub, email, role, tag, created_at, updated_at)
       SELECT ${id(2)}, 'bench|' || ${d.randHex(24)} || '|m' || i, 'm' || i || '@team.bench.example.com', 'user', NULL, ${ts}, ${ts}
       FROM n WHERE ${team}`,
    `${n} INSERT INTO teams (id, name, created_at, updated_at) SELECT ${id(5)}, 'Bench team ' || i, ${ts}, ${ts} FROM n WHERE ${team}`,
    `${n} INSERT INTO team_members (id, team_id, user_id, email, role, status, invited_by, invited_at, accepted_at, invite_token_hash, invite_expires_at)
       SELECT ${id(6)}, ${id(5)}, ${id(1)}, 'a' || i || '@team.bench.example.com', 'admin', 'active', NULL, ${ts}, ${ts}, NULL, NULL FROM n WHERE ${team}
       UNION ALL
       SELECT ${id(7)}, ${id(5)}, ${id(2)}, 'm' || i || '@team.bench.example.com', 'member', 'active', NULL, ${ts}, ${ts}, NULL, NULL FROM n WHERE ${team}`,
    // One Neo API key per user: a random 256-bit hash (what SHA-256 of a key looks like).
    `${n} INSERT INTO api_keys (id, user_id, key_hash, key_last4, created_at, updated_at)
       SELECT ${id(3)}, ${id(1)}, ${d.randHex(64)}, ${d.randHex(4)}, ${ts}, ${ts} FROM n
       UNION ALL
       SELECT ${id(4)}, ${id(2)}, ${d.randHex(64)}, ${d.randHex(4)}, ${ts}, ${ts} FROM n WHERE ${team}`,
    `${n} INSERT INTO features (owner_type, owner_id, name, enabled, updated_at) SELECT ${ownerType}, ${ownerId}, 'byok', 1, ${ts} FROM n`,
    `${n} INSERT INTO byok_settings (owner_type, owner_id, mode, updated_at)
       SELECT ${ownerType}, ${ownerId}, CASE WHEN i % 3 = 0 THEN 'neo' ELSE 'byok' END, ${ts} FROM n`,
    // 12-byte IV + 32-byte key + 16-byte tag in base64 is 80 characters.
    `${n} INSERT INTO data_keys (id, owner_type, owner_id, version, wrapped_key, master_key_id, created_at, updated_at)
       SELECT ${id(8)}, ${ownerType}, ${ownerId}, 1, ${d.randHex(80)}, '${masterKeyIdHex}', ${ts}, ${ts} FROM n`,
    // An OpenAI key for every owner, an Anthropic key for every other one.
    `${n} INSERT INTO provider_keys (id, owner_type, owner_id, provider, display_name, location, key_hint, ciphertext, data_key_id,
                                     is_validated, validated_at, models, models_discovered_at, created_at, updated_at)
       SELECT ${id(9)}, ${ownerType}, ${ownerId}, 'openai', CASE WHEN i % 4 = 0 THEN 'Production key' ELSE NULL END, NULL,
              'sk-…' || ${d.randHex(4)}, 'v1.' || ${id(8)} || '.' || ${d.randHex(256)}, ${id(8)}, 1, ${ts}, ${models('openai')}, ${ts}, ${ts}, ${ts} FROM n
       UNION ALL
       SELECT ${id(10)}, ${ownerType}, ${ownerId}, 'anthropic', NULL, NULL,
              'sk-…' || ${d.randHex(4)}, 'v1.' || ${id(8)} || '.' || ${d.randHex(256)}, ${id(8)}, 1, ${ts}, ${models('anthropic')}, ${ts}, ${ts}, ${ts} FROM n WHERE i % 2 = 0`,
  ];
}

interface BulkWriter {
  run(statements: string[]): Promise<void>;
  finish(): Promise<void>;
}

function sqliteWriter(path: string): BulkWriter {
  const db = new SqliteDatabase(path);
  // Bulk load: no journal and an exclusive lock while seeding (nothing else has the file
  // open); WAL again at the end, as the server expects. The server reopens the file with
  // synchronous=FULL.
  db.pragma('journal_mode = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const batch = db.transaction((statements: string[]) => {
    for (const s of statements) db.exec(s);
  });
  return {
    run: async (statements) => {
      batch(statements);
    },
    finish: async () => {
      db.exec('ANALYZE');
      db.pragma('locking_mode = NORMAL');
      db.pragma('journal_mode = WAL');
      db.close();
    },
  };
}

async function postgresWriter(url: string): Promise<BulkWriter> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('SET synchronous_commit = off');
  // Bulk load: the rows are consistent by construction, so the foreign-key triggers are
  // skipped for this session (needs a superuser; silently kept on otherwise).
  await client.query('SET session_replication_role = replica').catch(() => undefined);
  return {
    run: async (statements) => {
      await client.query('BEGIN');
      for (const s of statements) await client.query(s);
      await client.query('COMMIT');
    },
    finish: async () => {
      await client.query('ANALYZE');
      await client.end();
    },
  };
}

/** Counts the rows of every seeded table. */
async function countRows(databaseUrl: string): Promise<Record<string, number>> {
  const database = await openDatabase(databaseUrl, { poolSize: 1, migrate: false });
  try {
    const out: Record<string, number> = {};
    for (const t of TABLES) {
      const r = await database.db
        .selectFrom(t)
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .executeTakeFirstOrThrow();
      out[t] = Number(r.n);
    }
    return out;
  } finally {
    await database.close();
  }
}

/**
 * Creates the schema (production migrations), the pool through the real vault, and the
 * filler owners by bulk inserts. Returns the pool with its API keys.
 */
export async function seedDatabase(opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const batchSize = opts.batch ?? 50_000;
  const database = await openDatabase(opts.databaseUrl, { poolSize: 2 });
  const pool: PoolOwner[] = [];
  let neoUser: PoolOwner;
  try {
    const db = database.db;
    // Stores the master key check value, as the first server start would.
    await KeyVault.verifyMasterKey(db, opts.masterKey);
    const vault = new KeyVault({ db, masterKey: opts.masterKey, bus: new LocalBus() });
    const now = new Date().toISOString();

    const mkUser = async (email: string): Promise<PoolOwner> => {
      const id = uuidv7();
      const sub = `bench|pool|${email}`;
      await db.insertInto('users').values({ id, sub, email, role: 'user', tag: null, created_at: now, updated_at: now }).execute();
      const apiKey = newApiKey();
      await db
        .insertInto('api_keys')
        .values({ id: uuidv7(), user_id: id, key_hash: sha256Hex(apiKey), key_last4: apiKey.slice(-4), created_at: now, updated_at: now })
        .execute();
      return { owner: { type: 'user', id }, userId: id, sub, email, apiKey };
    };

    for (let k = 0; k < opts.pool; k++) {
      const p = await mkUser(`pool${k}@bench.example.com`);
      if (k % 2 === 1) {
        // A team whose admin is the benchmarked user, with one more member.
        const teamId = uuidv7();
        await db.insertInto('teams').values({ id: teamId, name: `Pool team ${k}`, created_at: now, updated_at: now }).execute();
        const member = await mkUser(`pool${k}-member@bench.example.com`);
        for (const [u, role] of [
          [p, 'admin'],
          [member, 'member'],
        ] as const) {
          await db
            .insertInto('team_members')
            .values({
              id: uuidv7(),
              team_id: teamId,
              user_id: u.userId,
              email: u.email,
              role,
              status: 'active',
              invited_by: null,
              invited_at: now,
              accepted_at: now,
              invite_token_hash: null,
              invite_expires_at: null,
            })
            .execute();
        }
        p.owner = { type: 'team', id: teamId };
      }
      const owner = p.owner;
      await db.insertInto('features').values({ owner_type: owner.type, owner_id: owner.id, name: 'byok', enabled: 1, updated_at: now }).execute();
      await withTransaction(db, async (trx) => {
        const locked = await new ByokRepo(trx, database.dialect).lockOwner(owner, now);
        for (const provider of ['anthropic', 'openai'] as const satisfies readonly ProviderName[]) {
          const secret = `sk-bench-${provider}-${randomBytes(24).toString('hex')}`;
          const { ciphertext, dataKeyId } = await vault.encryptFor(trx, owner, provider, secret, null);
          await locked.insertKey({
            id: uuidv7(),
            provider,
            displayName: null,
            location: null,
            keyHint: `${secret.slice(0, 3)}…${secret.slice(-4)}`,
            ciphertext,
            dataKeyId,
            isValidated: true,
            validatedAt: now,
            models: POOL_MODELS[provider],
            modelsDiscoveredAt: now,
            now,
          });
        }
        await locked.setMode('byok', now);
      });
      pool.push(p);
    }
    neoUser = await mkUser('neo-owner@bench.example.com');
  } finally {
    await database.close();
  }

  // The neo-mode user is extra: `owners` counts owners with keys (pool + filler).
  const filler = Math.max(0, opts.owners - opts.pool);
  log(`  pool of ${opts.pool} owners written through the vault (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  if (filler > 0) {
    const postgres = isPostgresUrl(opts.databaseUrl);
    const writer = postgres ? await postgresWriter(opts.databaseUrl) : sqliteWriter(opts.databaseUrl.replace(/^sqlite:(\/\/)?/, ''));
    try {
      const mkId = masterKeyId(opts.masterKey);
      let lastLog = performance.now();
      for (let start = 0; start < filler; start += batchSize) {
        const end = Math.min(filler, start + batchSize);
        await writer.run(fillerStatements(postgres ? POSTGRES_SQL : SQLITE_SQL, start, end, mkId));
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          log(`  seeded ${end.toLocaleString('en-US')} / ${filler.toLocaleString('en-US')} filler owners (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        }
      }
    } finally {
      await writer.finish();
    }
  }
  const ms = performance.now() - started;
  const rows = await countRows(opts.databaseUrl);
  return { owners: opts.pool + filler, pool, neoUser: neoUser!, rows, ms };
}
