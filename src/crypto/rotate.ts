/**
 * Master-key rotation: rewraps every data key (`data_keys.wrapped_key`) under a new
 * master key, in batches, without touching provider-key ciphertexts (they are sealed
 * by the data keys, which do not change). See docs/security.md "Rotating the master key".
 *
 * - Online: servers run with NEO_MASTER_KEY=<new> and NEO_MASTER_KEY_PREVIOUS=<old>
 *   meanwhile; the vault unwraps each data key with the key its `master_key_id` names.
 * - Resumable and idempotent per row: a row already under the new key is skipped, and a
 *   row is only updated if it is still exactly what was read (a concurrent writer wins).
 *   Every batch commits on its own, so an interrupted run loses at most one batch.
 * - Complete only when no row is left under another key: then the master key check
 *   value in `meta` is replaced, so a server started with the new key alone accepts
 *   the database.
 */
import { withTransaction, type Db } from '../db/index.ts';
import { nowIso } from '../db/index.ts';
import { isStoredEndpoint } from '../providers/azure-foundry/index.ts';
import {
  CIPHERTEXT_VERSION,
  DecryptionError,
  decryptSecret,
  encryptSecret,
  masterKeyId,
  resealSigningKey,
  rewrapDataKey,
  unwrapDataKey,
  verifyMasterKeyCheck,
} from './envelope.ts';
import { KeyVault, MASTER_KEY_CHECK_META } from './vault.ts';
import { VaultRepo } from './vault.repo.ts';

export const DEFAULT_BATCH_SIZE = 500;

/** A precondition that makes rotation unsafe (wrong keys, unknown wrapping keys). */
export class RotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RotationError';
  }
}

export interface RotateProgress {
  /** Data keys in the database. */
  total: number;
  /** Data keys under the new master key now. */
  done: number;
  /** Rewrapped by this run so far. */
  rewrapped: number;
  failed: number;
}

export interface RotateOptions {
  db: Db;
  newKey: Buffer;
  /** Keys that may have wrapped existing data keys (the configured current and previous). */
  oldKeys: Buffer[];
  batchSize?: number;
  /** Stop after this many batches (an operator's partial run; resumable). */
  maxBatches?: number;
  onProgress?: (p: RotateProgress) => void;
  clock?: () => number;
  /** NEO_AZURE_ALLOWED_HOSTS (tests only): Azure endpoints the rewrap pass accepts beside Azure's own. */
  azureAllowedHosts?: readonly string[];
}

export interface RotationFailure {
  data_key_id: string;
  owner_type: string;
  owner_id: string;
  reason: string;
}

export interface RotateResult {
  master_key_id: string;
  total: number;
  /** Under the new key before this run started (skipped). */
  already_rotated: number;
  rewrapped: number;
  failed: RotationFailure[];
  /** Rows still under another key after this run. */
  remaining: number;
  /** Every data key is under the new key and the check value was replaced. */
  complete: boolean;
  check_updated: boolean;
  /** Provider-key ciphertexts of an older format rewritten in the current one (location bound). */
  ciphertexts_upgraded: number;
  /** Older-format ciphertexts that could not be rewritten (tampered rows); they stay as they are. */
  ciphertexts_failed: CiphertextFailure[];
  /** OIDC issuer signing keys resealed under the new master key. */
  signing_keys_resealed: number;
  /** kids of signing keys that did not open (tampered rows); replace them with `admin oidc rotate-key`. */
  signing_keys_failed: string[];
}

export interface CiphertextFailure {
  provider_key_id: string;
  owner_type: string;
  owner_id: string;
  provider: string;
  reason: string;
}

/**
 * Reseals the OIDC issuer's signing keys (src/modules/oidc/issuer.ts) under the new master
 * key: a handful of rows, one transaction. A row that does not open is reported (and
 * keeps the rotation incomplete); `admin oidc rotate-key` replaces such a key.
 */
async function resealSigningKeys(db: Db, keys: Map<string, Buffer>, newKey: Buffer, newId: string): Promise<{ resealed: number; failed: string[] }> {
  const rows = await new VaultRepo(db).signingKeysNotUnder(newId);
  const updates: { kid: string; from: string; to: string }[] = [];
  const failed: string[] = [];
  for (const r of rows) {
    const from = keys.get(r.master_key_id);
    try {
      if (!from) throw new DecryptionError();
      updates.push({ kid: r.kid, from: r.private_key, to: resealSigningKey(r.private_key, r.kid, from, newKey) });
    } catch {
      failed.push(r.kid);
    }
  }
  const resealed = await withTransaction(db, async (trx) => {
    const repo = new VaultRepo(trx);
    let n = 0;
    for (const u of updates) n += await repo.resealSigningKey(u, newId);
    return n;
  });
  return { resealed, failed };
}

/** Checks that the given keys can open this database before anything is written. */
async function preflight(db: Db, keys: Map<string, Buffer>): Promise<void> {
  const repo = new VaultRepo(db);
  const meta = await repo.readMeta(MASTER_KEY_CHECK_META);
  if (meta !== undefined) {
    let check = '';
    try {
      check = (JSON.parse(meta) as { check?: string }).check ?? '';
    } catch {
      throw new RotationError(`the master key check value (meta ${MASTER_KEY_CHECK_META}) is corrupt`);
    }
    if (![...keys.values()].some((k) => verifyMasterKeyCheck(k, check))) {
      throw new RotationError(
        'none of the keys (NEO_MASTER_KEY, NEO_MASTER_KEY_PREVIOUS, --new-key) is the master key this database was encrypted with',
      );
    }
  }
  const unknown = (await repo.dataKeyMasterIds()).filter((id) => !keys.has(id));
  if (unknown.length) {
    throw new RotationError(
      `some data keys are wrapped by a master key that is not configured (master key id ${unknown.join(', ')}); set it as NEO_MASTER_KEY_PREVIOUS`,
    );
  }
  const unknownSigning = (await repo.signingKeyMasterIds()).filter((id) => !keys.has(id));
  if (unknownSigning.length) {
    throw new RotationError(
      `the OIDC issuer's signing keys are sealed by a master key that is not configured (master key id ${unknownSigning.join(', ')}); set it as NEO_MASTER_KEY_PREVIOUS`,
    );
  }
}

/** Rewraps every data key under `newKey`; see the module comment for the guarantees. */
export async function rotateMasterKey(opts: RotateOptions): Promise<RotateResult> {
  const { db, newKey } = opts;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const newId = masterKeyId(newKey);
  const keys = new Map<string, Buffer>();
  for (const k of opts.oldKeys) keys.set(masterKeyId(k), k);
  keys.set(newId, newKey);
  await preflight(db, keys);
  const repo = new VaultRepo(db);

  const total = await repo.countDataKeys();
  const pendingAtStart = await repo.countDataKeys(newId);
  const progress: RotateProgress = { total, done: total - pendingAtStart, rewrapped: 0, failed: 0 };
  opts.onProgress?.({ ...progress });

  const failed: RotationFailure[] = [];
  const failedIds = new Set<string>();
  let batches = 0;
  let stoppedEarly = false;
  // Passes over the table in id order; another pass picks up rows a misconfigured
  // server wrapped under an old key meanwhile. A pass that changes nothing ends it.
  for (let pass = 0; pass < 3 && !stoppedEarly; pass++) {
    let cursor = '';
    let changedThisPass = 0;
    for (;;) {
      if (opts.maxBatches !== undefined && batches >= opts.maxBatches) {
        stoppedEarly = true;
        break;
      }
      const rows = await repo.dataKeysNotUnder(newId, cursor, batchSize);
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1]!.id;
      batches += 1;

      // Rewrap outside the transaction (CPU only); the write lock is held just for the updates.
      const updates: { id: string; from: string; fromWrapped: string; wrapped: string }[] = [];
      for (const row of rows) {
        if (failedIds.has(row.id)) continue;
        const from = keys.get(row.master_key_id);
        try {
          if (!from) throw new DecryptionError('wrapped by an unknown master key');
          const wrapped = rewrapDataKey(row.wrapped_key, { ownerType: row.owner_type, ownerId: row.owner_id, dataKeyId: row.id }, from, newKey);
          updates.push({ id: row.id, from: row.master_key_id, fromWrapped: row.wrapped_key, wrapped });
        } catch (err) {
          failedIds.add(row.id);
          failed.push({
            data_key_id: row.id,
            owner_type: row.owner_type,
            owner_id: row.owner_id,
            reason: err instanceof DecryptionError ? 'the wrapped data key does not authenticate (tampered or moved row)' : 'rewrap failed',
          });
        }
      }
      const now = nowIso(opts.clock);
      const applied = await withTransaction(db, async (trx) => {
        const inTrx = new VaultRepo(trx);
        let n = 0;
        for (const u of updates) n += await inTrx.rewrapDataKey(u, newId, now);
        return n;
      });
      changedThisPass += applied;
      progress.rewrapped += applied;
      progress.done += applied;
      progress.failed = failed.length;
      opts.onProgress?.({ ...progress });
    }
    if (stoppedEarly || changedThisPass === 0) break;
  }

  const upgrade = stoppedEarly ? { upgraded: 0, failed: [] } : await upgradeCiphertexts(db, keys, batchSize, opts.azureAllowedHosts ?? []);
  const signing = stoppedEarly ? { resealed: 0, failed: [] } : await resealSigningKeys(db, keys, newKey, newId);

  // Data keys and OIDC signing keys still under another master key.
  const remaining = (await repo.countDataKeys(newId)) + (await repo.countSigningKeysNotUnder(newId));
  const finalTotal = await repo.countDataKeys();
  let checkUpdated = false;
  if (remaining === 0 && failed.length === 0 && signing.failed.length === 0) {
    const meta = await repo.readMeta(MASTER_KEY_CHECK_META);
    let current = false;
    try {
      current = meta !== undefined ? verifyMasterKeyCheck(newKey, (JSON.parse(meta) as { check?: string }).check ?? '') : false;
    } catch {
      current = false;
    }
    if (!current) {
      await KeyVault.writeMasterKeyCheck(db, newKey);
      checkUpdated = true;
    }
  }
  return {
    master_key_id: newId,
    total: finalTotal,
    already_rotated: total - pendingAtStart,
    rewrapped: progress.rewrapped,
    failed,
    remaining,
    complete: remaining === 0 && failed.length === 0 && signing.failed.length === 0,
    check_updated: checkUpdated,
    ciphertexts_upgraded: upgrade.upgraded,
    ciphertexts_failed: upgrade.failed,
    signing_keys_resealed: signing.resealed,
    signing_keys_failed: signing.failed,
  };
}

/**
 * The rewrap pass over provider keys: every ciphertext of an older format (v1: the
 * location was not bound) is decrypted and sealed again in the current format, binding
 * the stored location. A v1 row cannot prove its location was not changed, so an Azure
 * endpoint must still pass the Azure host rules here (else the row is reported, not
 * rewritten). A row saved meanwhile is left to the save (the update names the old value).
 */
async function upgradeCiphertexts(
  db: Db,
  keys: Map<string, Buffer>,
  batchSize: number,
  azureAllowedHosts: readonly string[],
): Promise<{ upgraded: number; failed: CiphertextFailure[] }> {
  const repo = new VaultRepo(db);
  let upgraded = 0;
  const failed: CiphertextFailure[] = [];
  let cursor = '';
  for (;;) {
    const rows = await repo.oldFormatCiphertexts(`${CIPHERTEXT_VERSION}.`, cursor, batchSize);
    if (rows.length === 0) break;
    cursor = rows[rows.length - 1]!.id;
    const updates: { id: string; from: string; to: string }[] = [];
    for (const row of rows) {
      const ctx = { ownerType: row.owner_type, ownerId: row.owner_id, provider: row.provider, location: row.location };
      const fail = (reason: string) =>
        failed.push({ provider_key_id: row.id, owner_type: row.owner_type, owner_id: row.owner_id, provider: row.provider, reason });
      if (row.provider === 'azure-foundry' && !isStoredEndpoint(row.location, azureAllowedHosts)) {
        fail('the stored Azure endpoint fails the Azure host rules (altered row?); replace the key');
        continue;
      }
      const master = keys.get(row.master_key_id);
      let dataKey: Buffer | undefined;
      try {
        if (!master) throw new DecryptionError();
        dataKey = unwrapDataKey(master, row.wrapped_key, { ownerType: row.owner_type, ownerId: row.owner_id, dataKeyId: row.data_key_id });
        const plaintext = decryptSecret(dataKey, row.ciphertext, ctx);
        updates.push({ id: row.id, from: row.ciphertext, to: encryptSecret(dataKey, row.data_key_id, plaintext, ctx) });
      } catch (err) {
        fail(err instanceof DecryptionError ? 'the ciphertext does not authenticate (tampered or moved row); replace the key' : 'rewrite failed');
      } finally {
        dataKey?.fill(0);
      }
    }
    upgraded += await withTransaction(db, async (trx) => {
      const inTrx = new VaultRepo(trx);
      let n = 0;
      for (const u of updates) n += await inTrx.replaceCiphertext(u);
      return n;
    });
  }
  return { upgraded, failed };
}
