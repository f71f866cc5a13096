import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UUID_RE, uuidv7 } from './ids.ts';

describe('uuidv7', () => {
  it('RFC 9562 layout: the 48-bit millisecond timestamp first, version 7, variant 10', () => {
    const now = Date.UTC(2026, 10, 30, 21, 30, 0, 123);
    for (let i = 0; i < 200; i++) {
      const id = uuidv7(now);
      assert.match(id, UUID_RE);
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now);
      assert.equal(id[14], '7');
      assert.match(id[19]!, /[89ab]/);
    }
    assert.equal(uuidv7(1).slice(0, 13), '00000000-0001');
  });

  it('every id of a millisecond sorts after every id of the one before, across a carry of the hex digits', () => {
    // 0x0000ffffffff → 0x000100000000: the carry crosses the first dash of the layout.
    for (const t of [1_800_000_000_000, 0xffff_ffff, 0xffff_ffff_fff]) {
      const before = Array.from({ length: 20 }, () => uuidv7(t));
      const after = Array.from({ length: 20 }, () => uuidv7(t + 1));
      for (const [ids, ms] of [[before, t], [after, t + 1]] as const) {
        for (const id of ids) assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), ms);
      }
      assert.ok(before.toSorted().at(-1)! < after.toSorted()[0]!, `ids of ${t} sort before those of ${t + 1}`);
    }
  });
});
