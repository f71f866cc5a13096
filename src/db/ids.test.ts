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

  it('ids of later milliseconds sort after earlier ones; ids of one millisecond differ', () => {
    const a = uuidv7(1_800_000_000_000);
    const b = uuidv7(1_800_000_000_001);
    assert.ok(a < b);
    const same = new Set(Array.from({ length: 1000 }, () => uuidv7(1_800_000_000_000)));
    assert.equal(same.size, 1000);
  });
});
