import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonStrings } from './json.ts';

describe('jsonStrings', () => {
  it('the strings of a JSON array; undefined for text that is not JSON or not an array', () => {
    assert.deepEqual(jsonStrings('["a","b"]'), ['a', 'b']);
    assert.deepEqual(jsonStrings('[]'), []);
    assert.deepEqual(jsonStrings('["a",1,null,{"b":2},"c"]'), ['a', 'c']);
    for (const bad of ['', '[', 'not json', '{"a":1}', '"a"', '1', 'null']) assert.equal(jsonStrings(bad), undefined, bad);
  });
});
