/**
 * The service as an OpenID Connect issuer (issue 18, docs/keyless-cloud.md).
 *
 * With NEO_OIDC_ISSUER set, the service signs short-lived RS256 JWTs for an owner
 * (`sub` = `neo:team:<id>` / `neo:user:<id>`) and presents them to a cloud's token
 * exchange (AWS STS, Google STS, Microsoft Entra), which fetches this issuer's discovery
 * document and JWKS to verify them. The tokens never leave the service through its API.
 *
 * Signing keys live in the database (`oidc_signing_keys`), the private key sealed by the
 * master key, so every instance that shares the database and NEO_MASTER_KEY signs with
 * the same key and serves the same JWKS; on the embedded SQLite default the key is thus
 * kept in the data directory, under the master key of its secrets.json. The first key is
 * generated on first use. `neo-byok admin oidc rotate-key` makes a new signing key,
 * published at once and signing from PUBLISH_AHEAD_MS on (the previous key signs until
 * then), and keeps the previous public key in the JWKS for a grace period after that, so
 * tokens it signed still verify.
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import { isUniqueViolation, nowIso, withTransaction, type Db } from '../../db/index.ts';
import { masterKeyId, openSigningKey, sealSigningKey } from '../../crypto/envelope.ts';
import { AppError } from '../../errors/index.ts';
import type { CacheBus, CacheCounts, ManagedCache } from '../../lib/bus.ts';
import { SigningKeysRepo, type SigningKeyRow } from './oidc.repo.ts';

export type OidcOwner = { type: 'user' | 'team'; id: string };

export const OIDC_ALG = 'RS256';
/** Lifetime of a minted token: short, as the issue asks (≤ 10 min), long enough for one exchange. */
export const OIDC_TOKEN_TTL_S = 300;
/** Where a retired key stays in the JWKS after a rotation, by default. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3_600_000;
/** The shortest grace: longer than a token lives, plus clock skew and the clouds' JWKS caches. */
export const MIN_ROTATION_GRACE_MS = 15 * 60_000;
export const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;
/**
 * After a rotation the new key is in the JWKS at once but signs only this much later: the
 * JWKS is served with `max-age=300` (oidc.routes.ts) and instances reload the key set
 * every 30 s, so a cloud that keeps the JWKS it fetched knows the new key before any
 * token names it. Until then the key it replaced keeps signing.
 */
export const PUBLISH_AHEAD_MS = 6 * 60_000;
/** Path of the JWKS, relative to the issuer URL (named in the discovery document). */
export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** How long an instance keeps the key set in memory before reading it again (another instance may have rotated). */
const KEYSET_TTL_MS = 30_000;

/** The `sub` of an owner's tokens: what a cloud's trust condition names. */
export function oidcSubject(owner: OidcOwner): string {
  return `neo:${owner.type}:${owner.id}`;
}

/** The answer for any keyless operation while NEO_OIDC_ISSUER is not set. */
export function issuerNotConfigured(): AppError {
  return new AppError(
    'oidc_issuer_not_configured',
    'keyless cloud connections need NEO_OIDC_ISSUER: set it to the public https URL of this service (e.g. https://byok.example.com) so that clouds can fetch its OpenID Connect discovery document; see docs/keyless-cloud.md',
  );
}

/** The discovery document (OpenID Connect Discovery 1.0, the fields the clouds read). */
export interface OidcDiscovery {
  issuer: string;
  jwks_uri: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
  claims_supported: string[];
}

export interface PublicJwk {
  kty: 'RSA';
  kid: string;
  use: 'sig';
  alg: typeof OIDC_ALG;
  n: string;
  e: string;
}

interface Signer {
  kid: string;
  key: CryptoKey;
  /** From when it signs: PUBLISH_AHEAD_MS after the rotation that made it; at once for a first key. */
  signsFromMs: number;
}

interface KeySet {
  loadedAt: number;
  /** The newest key (it signs from its signsFromMs on). */
  active: Signer | null;
  /**
   * The keys that sign now or later, newest first: those whose signs_from is still ahead
   * and the newest one whose signs_from has passed. Two rotations within PUBLISH_AHEAD_MS
   * leave two keys ahead; the key signing before both signs until the older one's time.
   */
  signers: Signer[];
  /** Every key still published, with when it leaves the JWKS (null: the active key). */
  published: { jwk: PublicJwk; removeAfter: number | null }[];
}

export interface OidcIssuerDeps {
  db: Db;
  /** NEO_OIDC_ISSUER (validated by config); undefined turns the issuer off. */
  issuer?: string;
  masterKey: Buffer;
  masterKeyPrevious?: Buffer;
  /** Registered with the bus so that a change another process commits (SQLite's data_version) reloads the keys. */
  bus?: CacheBus;
  clock?: () => number;
}

/** The issuer's signing key could not be opened (wrong master key, tampered row). Never shown to API callers. */
export class OidcKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcKeyError';
  }
}

export class OidcIssuer implements ManagedCache {
  readonly name = 'oidc_keys';
  readonly counts: CacheCounts = { hits: 0, misses: 0, loads: 0, invalidations: 0 };
  private readonly clock: () => number;
  private keySet: KeySet | null = null;
  private loading: Promise<KeySet> | null = null;

  constructor(private readonly deps: OidcIssuerDeps) {
    this.clock = deps.clock ?? Date.now;
    deps.bus?.register(this);
  }

  /** NEO_OIDC_ISSUER, or undefined when keyless connections are off. */
  issuer(): string | undefined {
    return this.deps.issuer;
  }

  /** The issuer URL; AppError `oidc_issuer_not_configured` (400) when it is not set. */
  requireIssuer(): string {
    if (!this.deps.issuer) throw issuerNotConfigured();
    return this.deps.issuer;
  }

  jwksUri(): string {
    return `${this.requireIssuer()}${JWKS_PATH}`;
  }

  discovery(): OidcDiscovery {
    const issuer = this.requireIssuer();
    return {
      issuer,
      jwks_uri: `${issuer}${JWKS_PATH}`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [OIDC_ALG],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti'],
    };
  }

  /** The public keys a verifier may meet: the signing key and the retired ones still in their grace period. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    this.requireIssuer();
    const set = await this.current(true);
    const now = this.clock();
    return { keys: set.published.filter((k) => k.removeAfter === null || k.removeAfter > now).map((k) => k.jwk) };
  }

  /**
   * Signs a token for an owner and one audience: RS256 with the active key's `kid`,
   * `iss` = NEO_OIDC_ISSUER, `sub` = neo:<type>:<id>, `aud`, `iat` = `nbf`,
   * `exp` = iat + 5 min, a random `jti`. For the cloud exchanges only: never returned
   * to an API caller, never logged.
   */
  async mintToken(owner: OidcOwner, audience: string): Promise<string> {
    const issuer = this.requireIssuer();
    if (owner.type !== 'user' && owner.type !== 'team') throw new Error('owner type must be user or team');
    if (typeof owner.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(owner.id)) throw new Error('owner id must be an id');
    if (typeof audience !== 'string' || audience.length === 0 || audience.length > 512) throw new Error('audience must be a non-empty string');
    const set = await this.current(true);
    const now = this.clock();
    // The newest key whose time has come; the active one when none other opened (one that no longer opens is not used).
    const signer = set.signers.find((k) => k.signsFromMs <= now) ?? set.active!;
    const iat = Math.floor(now / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: OIDC_ALG, kid: signer.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(oidcSubject(owner))
      .setAudience(audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + OIDC_TOKEN_TTL_S)
      .setJti(randomUUID())
      .sign(signer.key);
  }

  /**
   * Rotates the signing key now (the CLI's `admin oidc rotate-key` does the same on the
   * database): a new key is published at once and signs from PUBLISH_AHEAD_MS on; the
   * previous public key stays in the JWKS for `graceMs` after it stops signing.
   */
  async rotate(graceMs = DEFAULT_ROTATION_GRACE_MS): Promise<RotateResult> {
    const result = await rotateOidcKey({ db: this.deps.db, masterKey: this.deps.masterKey, clock: this.clock, graceMs });
    this.clear();
    return result;
  }

  // ManagedCache: the bus empties this on (re)subscription and when SQLite's data_version moves.
  get size(): number {
    return this.keySet ? 1 : 0;
  }

  clear(): void {
    if (this.keySet) this.counts.invalidations += 1;
    this.keySet = null;
    this.loading = null;
  }

  /** The key set, read at most every 30 s; with `ensure`, the first key is generated when there is none. */
  private async current(ensure: boolean): Promise<KeySet> {
    const cached = this.keySet;
    if (cached && this.clock() - cached.loadedAt < KEYSET_TTL_MS && cached.active) {
      this.counts.hits += 1;
      return cached;
    }
    this.counts.misses += 1;
    const flight =
      this.loading ??
      (this.loading = (async () => {
        try {
          this.counts.loads += 1;
          let set = await this.load();
          if (!set.active && ensure) {
            await createFirstKey(this.deps.db, this.deps.masterKey, this.clock);
            set = await this.load();
          }
          if (!set.active) throw new OidcKeyError('the OIDC issuer has no active signing key');
          this.keySet = set;
          return set;
        } finally {
          this.loading = null;
        }
      })());
    return flight;
  }

  private async load(): Promise<KeySet> {
    const rows = await new SigningKeysRepo(this.deps.db).all();
    const now = this.clock();
    const activeRow = rows.find((r) => r.active === 1);
    // A rotation retires the key it replaces at the new key's created_at: a key with such a
    // predecessor signs PUBLISH_AHEAD_MS after it was made, a first key at once.
    const signsFrom = (r: SigningKeyRow) => signsFromMs(Date.parse(r.created_at), rows.some((o) => o !== r && o.retired_at === r.created_at));
    const stillPublished = (r: SigningKeyRow) => r.active === 1 || r.remove_after === null || Date.parse(r.remove_after) > now;
    const candidates = rows
      .filter((r) => r !== activeRow && stillPublished(r))
      .map((r) => ({ row: r, from: signsFrom(r) }))
      .sort((a, b) => b.from - a.from);
    const active = activeRow ? { kid: activeRow.kid, key: await this.openPrivateKey(activeRow), signsFromMs: signsFrom(activeRow) } : null;
    // Newest first: the active key is the newest, the candidates are sorted.
    const signers: Signer[] = active ? [active] : [];
    // Every key whose time is ahead, then the newest published key whose time has come that
    // still opens (one that no longer opens is skipped for the next older one).
    if (!active || active.signsFromMs > now) {
      for (const c of candidates) {
        const key = await this.openPrivateKey(c.row).catch(() => null);
        if (key) signers.push({ kid: c.row.kid, key, signsFromMs: c.from });
        if (key && c.from <= now) break;
      }
    }
    return {
      loadedAt: now,
      active,
      signers,
      published: rows.map((r) => ({
        jwk: publicJwk(r),
        removeAfter: r.active === 1 || r.remove_after === null ? null : Date.parse(r.remove_after),
      })),
    };
  }

  private async openPrivateKey(row: SigningKeyRow): Promise<CryptoKey> {
    const keys = [this.deps.masterKey, ...(this.deps.masterKeyPrevious ? [this.deps.masterKeyPrevious] : [])];
    const master = keys.find((k) => masterKeyId(k) === row.master_key_id);
    if (!master) {
      throw new OidcKeyError(`the OIDC signing key ${row.kid} is sealed by master key ${row.master_key_id}, which is neither NEO_MASTER_KEY nor NEO_MASTER_KEY_PREVIOUS`);
    }
    let pem: string;
    try {
      pem = openSigningKey(master, row.private_key, row.kid);
    } catch {
      throw new OidcKeyError(`the OIDC signing key ${row.kid} does not open with its master key`);
    }
    return importPKCS8(pem, OIDC_ALG);
  }
}

/** When a key made at `createdAtMs` starts signing: PUBLISH_AHEAD_MS later if it replaced a key, at once otherwise. */
function signsFromMs(createdAtMs: number, replacedKey: boolean): number {
  return replacedKey ? createdAtMs + PUBLISH_AHEAD_MS : createdAtMs;
}

function publicJwk(row: SigningKeyRow): PublicJwk {
  const jwk = JSON.parse(row.public_jwk) as { n: string; e: string };
  return { kty: 'RSA', kid: row.kid, use: 'sig', alg: OIDC_ALG, n: jwk.n, e: jwk.e };
}

interface NewKey {
  kid: string;
  publicJwk: string;
  sealed: string;
  masterKeyId: string;
}

/** A fresh RS256 key pair (2048-bit), its kid (RFC 7638 thumbprint) and the private key sealed by the master key. */
export async function generateSigningKey(masterKey: Buffer): Promise<NewKey> {
  const { publicKey, privateKey } = await generateKeyPair(OIDC_ALG, { modulusLength: 2048, extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n!, e: jwk.e! }, 'sha256');
  const pem = await exportPKCS8(privateKey);
  const sealed = sealSigningKey(masterKey, pem, kid);
  return { kid, publicJwk: JSON.stringify({ kty: 'RSA', n: jwk.n, e: jwk.e }), sealed, masterKeyId: masterKeyId(masterKey) };
}

/** Creates the first signing key unless one is active; two instances racing keep one (the unique `active`). */
async function createFirstKey(db: Db, masterKey: Buffer, clock: () => number): Promise<void> {
  const k = await generateSigningKey(masterKey);
  await new SigningKeysRepo(db).insertIfAbsent({ kid: k.kid, alg: OIDC_ALG, public_jwk: k.publicJwk, private_key: k.sealed, master_key_id: k.masterKeyId, active: 1, created_at: nowIso(clock), retired_at: null, remove_after: null });
}

export interface RotateResult {
  /** The new signing key, published now. */
  kid: string;
  /** When it starts signing (PUBLISH_AHEAD_MS from now); the key it replaced signs until then. */
  signs_from: string;
  /** The key it replaced, published until `remove_after` (`graceMs` after signs_from); null when there was none. */
  previous: { kid: string; remove_after: string } | null;
  /** Retired keys whose grace had ended, deleted now. */
  removed: string[];
}

/** Makes a new signing key active (signing from PUBLISH_AHEAD_MS on) and retires the current one, published for `graceMs` after that (the CLI and OidcIssuer.rotate). */
export async function rotateOidcKey(opts: { db: Db; masterKey: Buffer; clock?: () => number; graceMs?: number }): Promise<RotateResult> {
  const clock = opts.clock ?? Date.now;
  const graceMs = opts.graceMs ?? DEFAULT_ROTATION_GRACE_MS;
  if (!(graceMs >= MIN_ROTATION_GRACE_MS && graceMs <= MAX_ROTATION_GRACE_MS)) {
    throw new RangeError(`the grace period must be between ${MIN_ROTATION_GRACE_MS / 60_000} minutes and ${MAX_ROTATION_GRACE_MS / 86_400_000} days`);
  }
  // Generated outside the transaction: RSA key generation takes a while.
  const k = await generateSigningKey(opts.masterKey);
  try {
    return await rotateWith(opts.db, k, clock, graceMs);
  } catch (err) {
    // Two rotations at once (PostgreSQL): the second one's new key collides with the first's on the one active row.
    if (isUniqueViolation(err)) throw new RotationConflictError();
    throw err;
  }
}

/** Another rotation (or the first key's creation) committed meanwhile; running the command again rotates once more. */
export class RotationConflictError extends Error {
  constructor() {
    super('another rotation of the OIDC signing key ran at the same time and won; check the JWKS, and run the command again if you still want a new key');
    this.name = 'RotationConflictError';
  }
}

async function rotateWith(db: Db, k: NewKey, clock: () => number, graceMs: number): Promise<RotateResult> {
  return withTransaction(db, async (trx) => {
    const now = clock();
    const at = nowIso(() => now);
    const keys = new SigningKeysRepo(trx);
    const current = await keys.activeKid();
    const from = signsFromMs(now, current !== undefined);
    const signsFrom = new Date(from).toISOString();
    const removeAfter = new Date(from + graceMs).toISOString();
    if (current !== undefined) await keys.retire(current, at, removeAfter);
    await keys.insert({ kid: k.kid, alg: OIDC_ALG, public_jwk: k.publicJwk, private_key: k.sealed, master_key_id: k.masterKeyId, active: 1, created_at: at, retired_at: null, remove_after: null });
    const removed = await keys.removeExpired(at);
    return { kid: k.kid, signs_from: signsFrom, previous: current !== undefined ? { kid: current, remove_after: removeAfter } : null, removed };
  });
}
