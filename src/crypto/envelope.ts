/**
 * Envelope encryption primitives (AES-256-GCM, 12-byte random IV, 16-byte tag).
 *
 * Small, pure functions so that master-key rotation can rewrap data keys without the
 * vault: the master key wraps one data key per owner; the data key encrypts provider
 * secrets. Invariants are listed in ./README.md.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * Prefix of every provider-key ciphertext written now; bump it when the format changes.
 * v2 binds the key's location (region or endpoint) into the AAD; v1 (owner, provider and
 * data key only) is still read, and rewritten as v2 by the next save or a rotation.
 */
export const CIPHERTEXT_VERSION = 'v2';
const READABLE_VERSIONS = new Set(['v1', 'v2']);

/** Thrown for any ciphertext that does not authenticate: never a wrong plaintext. */
export class DecryptionError extends Error {
  constructor(message = 'the ciphertext could not be decrypted') {
    super(message);
    this.name = 'DecryptionError';
  }
}

/** Identifies a master key without revealing it: the first 16 hex characters of its SHA-256. */
export function masterKeyId(masterKey: Buffer): string {
  return createHash('sha256').update(masterKey).digest('hex').slice(0, 16);
}

/** AES-256-GCM seal: returns iv ‖ ciphertext ‖ tag. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** AES-256-GCM open of iv ‖ ciphertext ‖ tag; throws DecryptionError when it does not authenticate. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES || sealed.length < IV_BYTES + TAG_BYTES) throw new DecryptionError();
  try {
    const iv = sealed.subarray(0, IV_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const body = sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

/** Where a data key belongs; bound into the wrapping's associated data. */
export interface DataKeyContext {
  ownerType: string;
  ownerId: string;
  dataKeyId: string;
}

function dataKeyAad(c: DataKeyContext): Buffer {
  return Buffer.from(['neo-byok/data-key/v1', c.ownerType, c.ownerId, c.dataKeyId].join('\0'), 'utf8');
}

/** A fresh random 32-byte data key. */
export function generateDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Wraps a data key with a master key; the result (base64) is what `data_keys.wrapped_key` stores. */
export function wrapDataKey(masterKey: Buffer, dataKey: Buffer, ctx: DataKeyContext): string {
  return seal(masterKey, dataKey, dataKeyAad(ctx)).toString('base64');
}

/** Unwraps `data_keys.wrapped_key`; throws DecryptionError for a wrong master key or a moved row. */
export function unwrapDataKey(masterKey: Buffer, wrapped: string, ctx: DataKeyContext): Buffer {
  const key = open(masterKey, Buffer.from(wrapped, 'base64'), dataKeyAad(ctx));
  if (key.length !== KEY_BYTES) throw new DecryptionError();
  return key;
}

/** Rewraps a data key from one master key to another (master-key rotation). */
export function rewrapDataKey(wrapped: string, ctx: DataKeyContext, from: Buffer, to: Buffer): string {
  const key = unwrapDataKey(from, wrapped, ctx);
  try {
    return wrapDataKey(to, key, ctx);
  } finally {
    key.fill(0);
  }
}

function signingKeyAad(kid: string): Buffer {
  return Buffer.from(['neo-byok/oidc-key/v1', kid].join('\0'), 'utf8');
}

/** Seals the OIDC issuer's private key (PKCS#8 PEM) under the master key, bound to its kid: `oidc_signing_keys.private_key`. */
export function sealSigningKey(masterKey: Buffer, pkcs8Pem: string, kid: string): string {
  return seal(masterKey, Buffer.from(pkcs8Pem, 'utf8'), signingKeyAad(kid)).toString('base64');
}

/** Opens `oidc_signing_keys.private_key`; DecryptionError for a wrong master key or a row moved to another kid. */
export function openSigningKey(masterKey: Buffer, sealed: string, kid: string): string {
  return open(masterKey, Buffer.from(sealed, 'base64'), signingKeyAad(kid)).toString('utf8');
}

/** Reseals a signing key from one master key to another (master-key rotation). */
export function resealSigningKey(sealed: string, kid: string, from: Buffer, to: Buffer): string {
  return sealSigningKey(to, openSigningKey(from, sealed, kid), kid);
}

/**
 * Where a provider secret belongs; bound into its associated data: owner type, owner id,
 * provider and (v2) the stored location, i.e. the region or, for Azure, the endpoint
 * the runtime sends the key to. A location changed in the database does not decrypt.
 */
export interface SecretContext {
  ownerType: string;
  ownerId: string;
  provider: string;
  /** The stored (normalized) `provider_keys.location`, null for key-only providers. */
  location: string | null;
}

function secretAad(version: string, c: SecretContext, dataKeyId: string): Buffer {
  if (version === 'v1') return Buffer.from(['neo-byok/provider-key/v1', c.ownerType, c.ownerId, c.provider, dataKeyId].join('\0'), 'utf8');
  // The location is the last field (no earlier field contains NUL), and null differs from any string.
  const location = c.location === null ? '-' : `=${c.location}`;
  return Buffer.from(['neo-byok/provider-key/v2', c.ownerType, c.ownerId, c.provider, dataKeyId, location].join('\0'), 'utf8');
}

/** Encrypts a provider secret: `v2.<data key id>.<base64url(iv ‖ ciphertext ‖ tag)>`. */
export function encryptSecret(dataKey: Buffer, dataKeyId: string, plaintext: string, ctx: SecretContext): string {
  const sealed = seal(dataKey, Buffer.from(plaintext, 'utf8'), secretAad(CIPHERTEXT_VERSION, ctx, dataKeyId));
  return `${CIPHERTEXT_VERSION}.${dataKeyId}.${sealed.toString('base64url')}`;
}

/** Splits a ciphertext into its version, data key id and sealed bytes; DecryptionError when malformed. */
export function parseCiphertext(ciphertext: string): { version: string; dataKeyId: string; sealed: Buffer } {
  const parts = ciphertext.split('.');
  if (parts.length !== 3 || !READABLE_VERSIONS.has(parts[0]!) || !parts[1] || !parts[2]) {
    throw new DecryptionError('the ciphertext format is not recognized');
  }
  if (!/^[A-Za-z0-9_-]+$/.test(parts[2])) throw new DecryptionError('the ciphertext format is not recognized');
  return { version: parts[0]!, dataKeyId: parts[1], sealed: Buffer.from(parts[2], 'base64url') };
}

/** True when a stored ciphertext is of an older format (rewrite it as the current one). */
export function isOutdatedCiphertext(ciphertext: string): boolean {
  return !ciphertext.startsWith(`${CIPHERTEXT_VERSION}.`);
}

/** Decrypts a provider secret (any readable version); throws DecryptionError on any tampering or AAD mismatch. */
export function decryptSecret(dataKey: Buffer, ciphertext: string, ctx: SecretContext): string {
  return openSecret(dataKey, prepareSecret(ciphertext, ctx));
}

/**
 * A stored ciphertext made ready for decryption in a context: its data key id, sealed
 * bytes and associated data. Holds nothing secret (the vault keeps these per ciphertext,
 * so that a resolve neither parses nor decodes the same string again).
 */
export interface PreparedSecret {
  readonly dataKeyId: string;
  readonly sealed: Buffer;
  readonly aad: Buffer;
}

/** Parses a ciphertext and builds its associated data for `ctx`; DecryptionError when malformed. */
export function prepareSecret(ciphertext: string, ctx: SecretContext): PreparedSecret {
  const { version, dataKeyId, sealed } = parseCiphertext(ciphertext);
  return { dataKeyId, sealed, aad: secretAad(version, ctx, dataKeyId) };
}

/** Decrypts a prepared secret with its data key; DecryptionError on any tampering or AAD mismatch. */
export function openSecret(dataKey: Buffer, p: PreparedSecret): string {
  return open(dataKey, p.sealed, p.aad).toString('utf8');
}

const CHECK_PLAINTEXT = Buffer.from('neo-byok master key check v1', 'utf8');
const CHECK_AAD = Buffer.from('neo-byok/master-key-check/v1', 'utf8');

/** A check value proving possession of a master key (stored in `meta`). */
export function makeMasterKeyCheck(masterKey: Buffer): string {
  return seal(masterKey, CHECK_PLAINTEXT, CHECK_AAD).toString('base64');
}

/** True when `check` was made by this master key. */
export function verifyMasterKeyCheck(masterKey: Buffer, check: string): boolean {
  try {
    return open(masterKey, Buffer.from(check, 'base64'), CHECK_AAD).equals(CHECK_PLAINTEXT);
  } catch {
    return false;
  }
}
