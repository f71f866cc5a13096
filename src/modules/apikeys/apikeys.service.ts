/**
 * Neo API keys (CONTRACT.md section 6): one per user, `neo_sk_` + 32 characters
 * [A-Za-z0-9] from the CSPRNG. Only the SHA-256 is stored; the full value is returned
 * once (create, rotate). A rotated or deleted value dies at once: its hash is published
 * on the cache bus so every instance's AuthService drops it.
 */
import { randomBytes } from 'node:crypto';
import { isUniqueViolation, nowIso, withTransaction, type Db, type Dialect } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import type { ApiKeyRow } from '../../db/schema.ts';
import { conflict, notFound } from '../../errors/index.ts';
import type { CacheBus } from '../../lib/bus.ts';
import { sha256Hex } from '../../lib/hash.ts';
import { ApiKeysRepo } from './apikeys.repo.ts';
import type { ApiKeyResponse } from './apikeys.schemas.ts';

export const API_KEY_PREFIX = 'neo_sk_';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BODY_LENGTH = 32;

/**
 * A new key: 32 characters drawn uniformly from [A-Za-z0-9]. Bytes ≥ 248 (= 4 × 62) are
 * rejected so that `byte % 62` carries no modulo bias.
 */
export function generateApiKey(random: (n: number) => Buffer = randomBytes): string {
  let body = '';
  while (body.length < BODY_LENGTH) {
    for (const b of random(48)) {
      if (b < 248) body += ALPHABET[b % ALPHABET.length];
      if (body.length === BODY_LENGTH) break;
    }
  }
  return API_KEY_PREFIX + body;
}

/** `neo_sk_…` and the last 4 characters. */
export const maskApiKey = (last4: string): string => `${API_KEY_PREFIX}…${last4}`;

export interface ApiKeysServiceDeps {
  db: Db;
  dialect: Dialect;
  bus: CacheBus;
  clock?: () => number;
  random?: (n: number) => Buffer;
}

export class ApiKeysService {
  private readonly repo: ApiKeysRepo;

  constructor(private readonly deps: ApiKeysServiceDeps) {
    this.repo = new ApiKeysRepo(deps.db, deps.dialect);
  }

  /** The user's key, masked; 404 when the user has none. */
  async get(userId: string): Promise<ApiKeyResponse> {
    const row = await this.repo.findByUser(userId);
    if (!row) throw notFound('you have no API key; create one with POST /api/v1/user/apikey');
    return { created_at: row.created_at, key: maskApiKey(row.key_last4) };
  }

  /** Creates the user's only key and returns its full value (shown once); 409 when one exists. */
  async create(userId: string): Promise<ApiKeyResponse> {
    const key = generateApiKey(this.deps.random);
    const now = nowIso(this.deps.clock);
    const row: ApiKeyRow = {
      id: uuidv7(),
      user_id: userId,
      key_hash: sha256Hex(key),
      key_last4: key.slice(-4),
      created_at: now,
      updated_at: now,
    };
    try {
      await withTransaction(this.deps.db, async (trx) => {
        await new ApiKeysRepo(trx, this.deps.dialect).insert(row);
        // Drops a briefly cached "unknown key" answer for this value, should there be one.
        // Published inside the transaction, so on PostgreSQL it commits with the write.
        this.deps.bus.publish('apikey', row.key_hash);
      });
    } catch (err) {
      // The unique index on user_id decides, also when two creates race.
      if (isUniqueViolation(err)) throw conflict('you already have an API key; rotate or delete it first');
      throw err;
    }
    return { created_at: row.created_at, key };
  }

  /** Replaces the key's value (same id and created_at); the old value is refused at once. */
  async rotate(userId: string): Promise<ApiKeyResponse> {
    const key = generateApiKey(this.deps.random);
    const hash = sha256Hex(key);
    // The old row (its hash is the value that must die) is read under a row lock, so
    // two rotations cannot both report the same old value.
    const old = await withTransaction(this.deps.db, async (trx) => {
      const repo = new ApiKeysRepo(trx, this.deps.dialect);
      const row = await repo.findByUserForUpdate(userId);
      if (row) {
        await repo.setHash(userId, row.id, hash, key.slice(-4), nowIso(this.deps.clock));
        this.deps.bus.publish('apikey', row.key_hash);
        this.deps.bus.publish('apikey', hash);
      }
      return row;
    });
    if (!old) throw notFound('you have no API key to rotate');
    return { created_at: old.created_at, key };
  }

  /** Deletes the user's key; 404 when there is none. */
  async delete(userId: string): Promise<void> {
    const old = await withTransaction(this.deps.db, async (trx) => {
      const row = await new ApiKeysRepo(trx, this.deps.dialect).delete(userId);
      // Inside the transaction: on PostgreSQL the invalidation commits with the delete.
      if (row) this.deps.bus.publish('apikey', row.key_hash);
      return row;
    });
    if (!old) throw notFound('you have no API key to delete');
  }
}
