import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  DecryptionError,
  decryptSecret,
  encryptSecret,
  generateDataKey,
  makeMasterKeyCheck,
  masterKeyId,
  rewrapDataKey,
  unwrapDataKey,
  verifyMasterKeyCheck,
  wrapDataKey,
} from './envelope.ts';

const ctx = { ownerType: 'user', ownerId: 'u-1', provider: 'openai' };
const dk = { ownerType: 'user', ownerId: 'u-1', dataKeyId: 'dk-1' };

describe('envelope primitives', () => {
  it('round trips a secret and never repeats an IV', () => {
    const key = generateDataKey();
    const a = encryptSecret(key, 'dk-1', 'sk-secret-value', ctx);
    const b = encryptSecret(key, 'dk-1', 'sk-secret-value', ctx);
    assert.notEqual(a, b);
    assert.match(a, /^v1\.dk-1\.[A-Za-z0-9_-]+$/);
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
    assert.throws(() => decryptSecret(key, `v2.${id}.${body}`, ctx), DecryptionError);
    assert.throws(() => decryptSecret(key, `${v}.dk-2.${body}`, ctx), DecryptionError, 'data key id is bound');
    assert.throws(() => decryptSecret(key, 'garbage', ctx), DecryptionError);
    assert.throws(() => decryptSecret(generateDataKey(), c, ctx), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, ownerId: 'u-2' }), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, ownerType: 'team' }), DecryptionError);
    assert.throws(() => decryptSecret(key, c, { ...ctx, provider: 'anthropic' }), DecryptionError);
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
