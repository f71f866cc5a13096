/**
 * The key vault: envelope encryption of provider secrets per owner (see ./README.md).
 *
 * One data key per owner, created inside the caller's transaction on first use and
 * stored wrapped by the master key. Unwrapped data keys are cached by data key id
 * (src/lib/cache.ts) for DATA_KEY_TTL_MS at most, only once the transaction that read or
 * created them has committed, and zeroed when they leave the cache. A data key never
 * changes once written (a master key rotation rewraps it, the key stays the same), so
 * no invalidation message is needed; the bus still empties the cache with every other
 * cache: on each (re)subscription of a remote bus, and on SQLite when another process
 * has committed (SqliteWatchBus, src/db/notify.ts).
 */
import type { Config } from '../config/index.ts';
import type { Db, Trx } from '../db/index.ts';
import { ownerKey, type Owner } from '../db/schema.ts';
import { afterCommit, nowIso } from '../db/index.ts';
import { uuidv7 } from '../db/ids.ts';
import { VaultRepo } from './vault.repo.ts';
import type { CacheBus } from '../lib/bus.ts';
import { Cache, type Now } from '../lib/cache.ts';
import { isStoredEndpoint } from '../providers/azure-foundry/index.ts';
import type { ProviderName } from '../providers/types.ts';
import {
  DecryptionError,
  decryptSecret,
  encryptSecret,
  generateDataKey,
  makeMasterKeyCheck,
  masterKeyId,
  openSecret,
  parseCiphertext,
  prepareSecret,
  unwrapDataKey,
  verifyMasterKeyCheck,
  wrapDataKey,
  type PreparedSecret,
} from './envelope.ts';

export { DecryptionError } from './envelope.ts';

/** The `meta` row holding the master key check value. */
export const MASTER_KEY_CHECK_META = 'crypto.master_key_check';

/**
 * A stored provider key that does not decrypt for its owner and provider: the
 * ciphertext or its data key was changed, moved to another owner or provider, or is
 * wrapped by a master key that is not configured. Never a wrong plaintext.
 */
export class UnreadableKeyError extends DecryptionError {
  constructor(
    readonly owner: Owner,
    readonly provider: ProviderName,
  ) {
    super('a stored provider key could not be decrypted');
    this.name = 'UnreadableKeyError';
  }
}

/** The log line (fields, message) of a stored key that does not decrypt: whose key and which provider, never the secret. */
export function unreadableKeyLog(owner: Owner, provider: string, extra: Record<string, unknown> = {}): [Record<string, unknown>, string] {
  return [
    { event: 'provider_key.unreadable', ...extra, owner_type: owner.type, owner_id: owner.id, provider },
    'stored provider key cannot be decrypted (altered, moved, or its master key is not configured)',
  ];
}

export class MasterKeyMismatchError extends Error {
  constructor(message = 'NEO_MASTER_KEY does not match the key this database was encrypted with') {
    super(message);
    this.name = 'MasterKeyMismatchError';
  }
}

interface StoredCheck {
  v: 1;
  master_key_id: string;
  check: string;
}

export interface MasterKeyStatus {
  masterKeyId: string;
  /** Data keys are still wrapped by the previous master key (a rotation is pending). */
  rotationPending: boolean;
}

export interface KeyVaultDeps {
  db: Db;
  masterKey: Buffer;
  masterKeyPrevious?: Buffer;
  bus: CacheBus;
  clock?: () => number;
  cacheSize?: number;
  /**
   * The provider's rules for a stored location (the Azure host rules), applied before a
   * secret is decrypted for it: a location they refuse makes the key unreadable, also in
   * the older ciphertext format that did not seal the location.
   */
  acceptsLocation?: (provider: ProviderName, location: string | null) => boolean;
}

interface CachedDataKey {
  key: Buffer;
  owner: string;
}


const webhookContext = (owner: Owner, endpointId: string) => ({ ownerType: owner.type, ownerId: owner.id, provider: `webhook:${endpointId}`, location: null });
/** Ciphertexts kept prepared for decryption at most (the memo starts over when full). */
const PREPARED_MEMO_MAX = 10_000;

/** How long an unwrapped data key stays in memory after it was last loaded. */
export const DATA_KEY_TTL_MS = 10 * 60_000;

export class KeyVault {
  readonly masterKeyId: string;
  private readonly previousId?: string;
  private readonly cache: Cache<CachedDataKey>;
  private readonly prepared = new Map<string, { context: string; secret: PreparedSecret }>();
  private readonly clock: () => number;

  /**
   * The server's vault (src/app.ts). The master key must be the one this database was
   * encrypted with: MasterKeyMismatchError otherwise, a clear startup error. A key is
   * handed out only for an Azure endpoint that passes the host rules again.
   */
  static async open(deps: {
    db: Db;
    config: Pick<Config, 'masterKey' | 'masterKeyPrevious' | 'azureAllowedHosts'>;
    bus: CacheBus;
    clock?: () => number;
  }): Promise<KeyVault> {
    const { db, config } = deps;
    await KeyVault.verifyMasterKey(db, config.masterKey, config.masterKeyPrevious);
    return new KeyVault({
      db,
      masterKey: config.masterKey,
      ...(config.masterKeyPrevious ? { masterKeyPrevious: config.masterKeyPrevious } : {}),
      bus: deps.bus,
      ...(deps.clock ? { clock: deps.clock } : {}),
      acceptsLocation: (provider, location) => provider !== 'azure-foundry' || isStoredEndpoint(location, config.azureAllowedHosts),
    });
  }

  constructor(private readonly deps: KeyVaultDeps) {
    this.masterKeyId = masterKeyId(deps.masterKey);
    if (deps.masterKeyPrevious) this.previousId = masterKeyId(deps.masterKeyPrevious);
    this.clock = deps.clock ?? Date.now;
    this.cache = new Cache<CachedDataKey>({
      name: 'data_keys',
      bus: deps.bus,
      max: deps.cacheSize ?? 10_000,
      ttlMs: DATA_KEY_TTL_MS,
      // Evicted, expired, replaced or cleared: the key material does not linger in memory.
      onDrop: (v) => v.key.fill(0),
    });
  }

  /**
   * Encrypts a provider secret for an owner, inside the caller's transaction (which
   * should hold the owner lock): gets the owner's data key, creating it on first use.
   */
  async encryptFor(
    trx: Trx,
    owner: Owner,
    provider: ProviderName,
    plaintext: string,
    location: string | null,
  ): Promise<{ ciphertext: string; dataKeyId: string }> {
    const id = await this.dataKeyIdFor(trx, owner);
    // The location (region, Azure endpoint) is sealed with the key: store exactly this value.
    const ciphertext = await this.withDataKey(trx, owner, id, (key) =>
      encryptSecret(key, id, plaintext, { ownerType: owner.type, ownerId: owner.id, provider, location }),
    );
    return { ciphertext, dataKeyId: id };
  }

  /**
   * Decrypts a provider secret of this owner and provider stored with this location;
   * UnreadableKeyError on any mismatch (a location changed in the database included).
   */
  async decrypt(owner: Owner, provider: ProviderName, ciphertext: string, location: string | null): Promise<string> {
    return this.decryptNow(owner, provider, ciphertext, location);
  }

  /**
   * As `decrypt`, the plaintext itself when the owner's data key is cached (the resolve
   * hot path: no promise and no microtask, src/lib/cache.ts `lookup`); a promise when the
   * data key must be read first. Errors as `decrypt` (thrown, or the promise rejects).
   */
  decryptNow(owner: Owner, provider: ProviderName, ciphertext: string, location: string | null): Now<string> {
    let prepared: PreparedSecret;
    try {
      if (this.deps.acceptsLocation && !this.deps.acceptsLocation(provider, location)) {
        throw new DecryptionError('the stored location fails the provider rules');
      }
      prepared = this.prepare(owner, provider, ciphertext, location);
      const hit = this.cache.get(prepared.dataKeyId);
      if (hit) {
        // The same checks and the same synchronous use as withDataKey's hit.
        if (hit.owner !== ownerKey(owner)) throw new DecryptionError();
        return openSecret(hit.key, prepared);
      }
    } catch (err) {
      // Carries owner and provider so the failure can be logged and shown (never the secret).
      if (err instanceof DecryptionError) throw new UnreadableKeyError(owner, provider);
      throw err;
    }
    return this.loadDataKey(this.deps.db, owner, prepared.dataKeyId, (key) => openSecret(key, prepared)).catch((err: unknown) => {
      throw err instanceof DecryptionError ? new UnreadableKeyError(owner, provider) : err;
    });
  }

  /**
   * Encrypts a webhook endpoint's signing secret under the owner's data key, inside the
   * caller's transaction. The associated data names the endpoint (`webhook:<id>` where a
   * provider key names its provider), so the ciphertext opens only as that endpoint's
   * secret: never as a provider key, another endpoint's secret or another owner's.
   */
  async encryptWebhookSecret(trx: Trx, owner: Owner, endpointId: string, secret: string): Promise<string> {
    const id = await this.dataKeyIdFor(trx, owner);
    return this.withDataKey(trx, owner, id, (key) => encryptSecret(key, id, secret, webhookContext(owner, endpointId)));
  }

  /** Decrypts a webhook endpoint's signing secret; DecryptionError on any mismatch. */
  async decryptWebhookSecret(owner: Owner, endpointId: string, ciphertext: string): Promise<string> {
    const { dataKeyId } = parseCiphertext(ciphertext);
    return this.withDataKey(this.deps.db, owner, dataKeyId, (key) => decryptSecret(key, ciphertext, webhookContext(owner, endpointId)));
  }

  /** Drops every cached data key (tests, rotation). */
  clearCache(): void {
    this.cache.clear();
    this.prepared.clear();
  }

  /**
   * The ciphertext parsed, decoded and with its associated data, from a memo keyed by the
   * ciphertext (the same stored string is decrypted at every resolve; parsing it, decoding
   * its base64 and building its AAD showed in the profiles: docs/benchmarks.md). Nothing
   * secret is kept: the sealed bytes are the stored ciphertext's. An entry is used only for the same owner,
   * provider and location it was made for.
   */
  private prepare(owner: Owner, provider: ProviderName, ciphertext: string, location: string | null): PreparedSecret {
    const context = `${owner.type}\0${owner.id}\0${provider}\0${location === null ? '\u0001' : location}`;
    const memo = this.prepared.get(ciphertext);
    if (memo && memo.context === context) return memo.secret;
    const secret = prepareSecret(ciphertext, { ownerType: owner.type, ownerId: owner.id, provider, location });
    if (this.prepared.size >= PREPARED_MEMO_MAX) this.prepared.clear();
    this.prepared.set(ciphertext, { context, secret });
    return secret;
  }

  /** The id of the owner's data key, created (inside `trx`) on first use. */
  private async dataKeyIdFor(trx: Trx, owner: Owner): Promise<string> {
    const repo = new VaultRepo(trx);
    const existing = await repo.currentDataKeyId(owner);
    if (existing) return existing;
    const id = uuidv7(this.clock());
    const key = generateDataKey();
    const now = nowIso(this.clock);
    const wrapped = wrapDataKey(this.deps.masterKey, key, { ownerType: owner.type, ownerId: owner.id, dataKeyId: id });
    key.fill(0);
    // A caller without the owner lock may race another creator: the unique
    // (owner, version) constraint keeps one, and we use whichever won.
    await repo.insertDataKeyIfAbsent({ id, owner_type: owner.type, owner_id: owner.id, version: 1, wrapped_key: wrapped, master_key_id: this.masterKeyId, created_at: now, updated_at: now });
    const created = await repo.currentDataKeyId(owner);
    if (!created) throw new Error('data key could not be created');
    return created;
  }

  /**
   * Calls `use` with the owner's unwrapped data key `dataKeyId`, synchronously (so the
   * cached buffer cannot be zeroed by an eviction while in use). A key read through a
   * transaction is cached only after that transaction commits.
   */
  private async withDataKey<T>(db: Db | Trx, owner: Owner, dataKeyId: string, use: (key: Buffer) => T): Promise<T> {
    const ok = ownerKey(owner);
    const hit = this.cache.get(dataKeyId);
    if (hit) {
      if (hit.owner !== ok) throw new DecryptionError();
      return use(hit.key);
    }
    return this.loadDataKey(db, owner, dataKeyId, use);
  }

  /** withDataKey after a cache miss: reads and unwraps the data key, caches it once committed. */
  private async loadDataKey<T>(db: Db | Trx, owner: Owner, dataKeyId: string, use: (key: Buffer) => T): Promise<T> {
    const ok = ownerKey(owner);
    // Scoped by owner: another owner's data key answers like a missing one.
    const row = await new VaultRepo(db).findDataKey(dataKeyId, owner);
    if (!row) throw new DecryptionError();
    const key = this.unwrap(row.wrapped_key, row.master_key_id, { ownerType: owner.type, ownerId: owner.id, dataKeyId });
    try {
      return use(key);
    } finally {
      // The cache gets its own copy (zeroed when it leaves the cache); this one is zeroed now.
      const cached: CachedDataKey = { key: Buffer.from(key), owner: ok };
      key.fill(0);
      afterCommit(() => this.cache.set(dataKeyId, cached));
    }
  }

  private unwrap(wrapped: string, wrappedBy: string, ctx: { ownerType: string; ownerId: string; dataKeyId: string }): Buffer {
    if (wrappedBy === this.masterKeyId) return unwrapDataKey(this.deps.masterKey, wrapped, ctx);
    if (this.deps.masterKeyPrevious && wrappedBy === this.previousId) return unwrapDataKey(this.deps.masterKeyPrevious, wrapped, ctx);
    throw new DecryptionError('the data key is wrapped by a master key that is not configured');
  }

  /**
   * Startup check: proves `masterKey` (or, during a rotation, `previous`) is the key this
   * database was encrypted with. Stores a check value in `meta` on first start. Throws
   * MasterKeyMismatchError with an operator-readable message otherwise.
   */
  static async verifyMasterKey(db: Db, masterKey: Buffer, previous?: Buffer): Promise<MasterKeyStatus> {
    const currentId = masterKeyId(masterKey);
    const previousId = previous ? masterKeyId(previous) : undefined;
    const repo = new VaultRepo(db);
    const read = async (): Promise<StoredCheck | undefined> => {
      const value = await repo.readMeta(MASTER_KEY_CHECK_META);
      if (value === undefined) return undefined;
      try {
        const parsed = JSON.parse(value) as StoredCheck;
        if (typeof parsed.check === 'string' && typeof parsed.master_key_id === 'string') return parsed;
      } catch {
        /* fall through */
      }
      throw new MasterKeyMismatchError(`the master key check value in the database (meta ${MASTER_KEY_CHECK_META}) is corrupt`);
    };

    let stored = await read();
    if (!stored) {
      // First start (or a database from before the check existed): any existing data
      // key must open with one of the configured keys before we vouch for the key.
      const sample = await repo.sampleDataKey();
      if (sample) {
        const ctx = { ownerType: sample.owner_type, ownerId: sample.owner_id, dataKeyId: sample.id };
        const opens = (k: Buffer) => {
          try {
            unwrapDataKey(k, sample.wrapped_key, ctx).fill(0);
            return true;
          } catch {
            return false;
          }
        };
        if (!opens(masterKey) && !(previous && opens(previous))) throw new MasterKeyMismatchError();
      }
      const value: StoredCheck = { v: 1, master_key_id: currentId, check: makeMasterKeyCheck(masterKey) };
      await repo.insertMetaIfAbsent(MASTER_KEY_CHECK_META, JSON.stringify(value));
      stored = await read();
      if (!stored) throw new Error('could not store the master key check value');
    }

    let rotationPending = false;
    if (!verifyMasterKeyCheck(masterKey, stored.check)) {
      if (previous && verifyMasterKeyCheck(previous, stored.check)) rotationPending = true;
      else if (previous) {
        throw new MasterKeyMismatchError(
          'neither NEO_MASTER_KEY nor NEO_MASTER_KEY_PREVIOUS matches the key this database was encrypted with',
        );
      } else throw new MasterKeyMismatchError();
    }
    // Every data key (and every signing key of the OIDC issuer) must be wrapped by a configured master key.
    const ids = [...(await repo.dataKeyMasterIds()), ...(await repo.signingKeyMasterIds())];
    const known = new Set([currentId, ...(previousId ? [previousId] : [])]);
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length) {
      throw new MasterKeyMismatchError(
        `some data keys are wrapped by a master key that is not configured (master key id ${unknown.join(', ')}); set it as NEO_MASTER_KEY_PREVIOUS`,
      );
    }
    if (ids.some((id) => id !== currentId)) rotationPending = true;
    return { masterKeyId: currentId, rotationPending };
  }

  /** Replaces the stored master key check value (after every data key was rewrapped). */
  static async writeMasterKeyCheck(db: Db | Trx, masterKey: Buffer): Promise<void> {
    const value: StoredCheck = { v: 1, master_key_id: masterKeyId(masterKey), check: makeMasterKeyCheck(masterKey) };
    await new VaultRepo(db).upsertMeta(MASTER_KEY_CHECK_META, JSON.stringify(value));
  }
}
