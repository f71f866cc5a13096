import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  DecryptionError,
  decryptSecret,
  encryptSecret,
  generateDataKey,
  isOutdatedCiphertext,
  makeMasterKeyCheck,
  masterKeyId,
  rewrapDataKey,
  seal,
  unwrapDataKey,
  verifyMasterKeyCheck,
  wrapDataKey,
} from './envelope.ts';

const ctx = { ownerType: 'user', ownerId: 'u-1', provider: 'openai', location: null };
const dk = { ownerType: 'user', ownerId: 'u-1', dataKeyId: 'dk-1' };

describe('envelope primitives', () => {
  it('round trips a secret and never repeats an IV', () => {
    const key = generateDataKey();
    const a = encryptSecret(key, 'dk-1', 'sk-secret-value', ctx);
    const b = encryptSecret(key, 'dk-1', 'sk-secret-value', ctx);
    assert.notEqual(a, b);
    assert.match(a, /^v2\.dk-1\.[A-Za-z0-9_-]+$/);
    assert.ok(!a.includes('sk-secret'));
    assert.equal(decryptSecret(key, a, ctx), 'sk-secret-value');
    assert.equal(decryptSecret(key, b, ctx), 'sk-secret-value');
  });

  it('refuses tampered ciphertexts, wrong keys and any other owner or provider', () => {
    const key = generateDataKey();
    const c = encryptSecret(key, 'dk-1', 'sk-secret-value', ctx);
    const [v, id, body] = c.split('.') as [string, string, string];
    const raw = Buffer.from(body, 'base64url');
    for (const i of [0, 12, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[i] = t[i]! ^ 1;
      assert.throws(() => decryptSecret(key, `${v}.${id}.${t.toString('base64url')}`, ctx), DecryptionError);
    }
    assert.throws(() => decryptSecret(key, `${v}.${id}.${raw.subarray(0, 20).toString('base64url')}`, ctx), DecryptionError);
    assert.throws(() => decryptSecret(key, `v1.${id}.${body}`, ctx), DecryptionError, 'the version is bound');
    assert.throws(() => decryptSecret(key, `v3.${id}.${body}`, ctx), DecryptionError);
    assert.throws(() => decryptSecret(key, `${v}.dk-2.${body}`, ctx), DecryptionError, 'data key id is bound');
    assert.throws(() => decryptSecret(key, 'garbage', ctx), DecryptionError);
    assert.throws(() => decryptSecret(generateDataKey(), c, ctx), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, ownerId: 'u-2' }), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, ownerType: 'team' }), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, provider: 'anthropic' }), DecryptionError);
  });

  it('binds the location (region, Azure endpoint): any other value, or null for a string, does not decrypt', () => {
    const key = generateDataKey();
    const az = { ownerType: 'team', ownerId: 't-1', provider: 'azure-foundry', location: 'https://res.openai.azure.com' };
    const c = encryptSecret(key, 'dk-1', 'azure-key', az);
    assert.equal(decryptSecret(key, c, az), 'azure-key');
    for (const location of ['https://attacker.openai.azure.com', 'https://res.openai.azure.com/', 'HTTPS://RES.OPENAI.AZURE.COM', '', '-', null]) {
      assert.throws(() => decryptSecret(key, c, { ...az, location }), DecryptionError, JSON.stringify(location));
    }
    const none = encryptSecret(key, 'dk-1', 'k', ctx);
    assert.throws(() => decryptSecret(key, none, { ...ctx, location: '' }), DecryptionError, 'null differs from the empty string');
    assert.throws(() => decryptSecret(key, none, { ...ctx, location: '-' }), DecryptionError);
  });

  it('still reads the v1 format (location not bound) and reports it as outdated', () => {
    const key = generateDataKey();
    const aad = Buffer.from(['neo-byok/provider-key/v1', 'user', 'u-1', 'openai', 'dk-1'].join('\0'), 'utf8');
    const v1 = `v1.dk-1.${seal(key, Buffer.from('sk-old', 'utf8'), aad).toString('base64url')}`;
    assert.equal(decryptSecret(key, v1, ctx), 'sk-old');
    assert.equal(decryptSecret(key, v1, { ...ctx, location: 'anything' }), 'sk-old', 'v1 never bound a location');
    assert.throws(() => decryptSecret(key, v1, { ...ctx, ownerId: 'u-2' }), DecryptionError);
    assert.equal(isOutdatedCiphertext(v1), true);
    assert.equal(isOutdatedCiphertext(encryptSecret(key, 'dk-1', 'sk-new', ctx)), false);
  });

  it('wraps data keys bound to their row; rewraps to a new master key', () => {
    const m1 = randomBytes(32);
    const m2 = randomBytes(32);
    const key = generateDataKey();
    const w = wrapDataKey(m1, key, dk);
    assert.ok(unwrapDataKey(m1, w, dk).equals(key));
    assert.throws(() => unwrapDataKey(m2, w, dk), DecryptionError);
    assert.throws(() => unwrapDataKey(m1, w, { ...dk, ownerId: 'u-2' }), DecryptionError);
    assert.throws(() => unwrapDataKey(m1, w, { ...dk, dataKeyId: 'dk-9' }), DecryptionError);
    const w2 = rewrapDataKey(w, dk, m1, m2);
    assert.ok(unwrapDataKey(m2, w2, dk).equals(key));
    assert.throws(() => unwrapDataKey(m1, w2, dk), DecryptionError);
  });

  it('master key ids and check values', () => {
    const m1 = randomBytes(32);
    const m2 = randomBytes(32);
    assert.match(masterKeyId(m1), /^[0-9a-f]{16}$/);
    assert.notEqual(masterKeyId(m1), masterKeyId(m2));
    const check = makeMasterKeyCheck(m1);
    assert.equal(verifyMasterKeyCheck(m1, check), true);
    assert.equal(verifyMasterKeyCheck(m2, check), false);
    assert.equal(verifyMasterKeyCheck(m1, 'not base64 at all'), false);
  });
});
