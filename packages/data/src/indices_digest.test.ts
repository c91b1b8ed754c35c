import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DataArgumentError } from './errors.js';
import { indicesDigest } from './indices_digest.js';

test('digest is SHA-256 of uint32 little-endian indices', () => {
  const expected = createHash('sha256')
    .update(Buffer.from([1, 0, 0, 0, 0, 1, 0, 0]))
    .digest('hex');
  assert.equal(indicesDigest(Int32Array.from([1, 256])), expected);
  assert.match(indicesDigest([]), /^[0-9a-f]{64}$/);
  assert.notEqual(indicesDigest([1, 2]), indicesDigest([2, 1]));
});

test('a negative index is refused, naming it', () => {
  assert.throws(
    () => indicesDigest([3, -1]),
    (e: unknown) =>
      e instanceof DataArgumentError &&
      e.code === 'DATA_INVALID_ARGUMENT' &&
      /`indices\[1\]` passed to `indicesDigest` must be an integer in \[0, 4294967295\], but got -1/.test(e.message),
  );
});
