import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateApiKey, maskApiKey } from './apikeys.service.ts';

describe('generateApiKey', () => {
  it('is neo_sk_ and 32 characters of [A-Za-z0-9]', () => {
    for (let i = 0; i < 200; i++) assert.match(generateApiKey(), /^neo_sk_[A-Za-z0-9]{32}$/);
  });

  it('rejects bytes ≥ 248 so that every character is equally likely', () => {
    // 248..255 would map to A..H a second time (modulo bias): they must be skipped.
    const feed = [248, 255, 0, 61, 62, 247];
    let call = 0;
    const random = (n: number) => {
      call++;
      return Buffer.from(Array.from({ length: n }, (_, i) => (call === 1 ? feed[i % feed.length]! : 1)));
    };
    const key = generateApiKey(random);
    // From the first 48 bytes: 0→A, 61→9, 62→A, 247→9 repeating (the 248 and 255 dropped).
    assert.equal(key.slice(7, 15), 'A9A9A9A9');
    assert.equal(key.length, 39);
  });

  it('masks as neo_sk_… and the last 4', () => {
    assert.equal(maskApiKey('AbCd'), 'neo_sk_…AbCd');
  });
});
