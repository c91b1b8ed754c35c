// poolShape: TF.js's pooling padding arithmetic in the addon's terms, and null for what must stay on cpu.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poolShape } from './pool_shape.js';

describe('poolShape', () => {
  it("pads 'same' as TF does: stride 1 on both sides, stride 2 on an even size only at the bottom/right", () => {
    // n, h, w, c, oh, ow, kh, kw, sh, sw, top, left, bottom, right
    assert.deepEqual([...poolShape([2, 8, 8, 3], { filterSize: 3, strides: 1, pad: 'same' })!], [2, 8, 8, 3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(
      [...poolShape([2, 32, 32, 3], { filterSize: 3, strides: 2, pad: 'same' })!],
      [2, 32, 32, 3, 16, 16, 3, 3, 2, 2, 0, 0, 1, 1],
    );
    assert.deepEqual([...poolShape([1, 7, 8, 5], { filterSize: 2, strides: 2, pad: 'same' })!], [1, 7, 8, 5, 4, 4, 2, 2, 2, 2, 0, 0, 1, 0]);
  });

  it("drops the rows 'valid' cannot reach, and takes non-square windows and strides", () => {
    assert.deepEqual(
      [...poolShape([1, 7, 7, 3], { filterSize: 2, strides: 2, pad: 'valid' })!],
      [1, 7, 7, 3, 3, 3, 2, 2, 2, 2, 0, 0, 0, 0],
    );
    assert.deepEqual(
      [...poolShape([1, 8, 6, 3], { filterSize: [8, 6], strides: [8, 6], pad: 'valid' })!],
      [1, 8, 6, 3, 1, 1, 8, 6, 8, 6, 0, 0, 0, 0],
    );
  });

  it('is null for what the native kernels leave to cpu', () => {
    // (8 - 3 + 2) / 2 + 1 = 4.5: 'ceil' says 5, oneDNN would compute 4.
    assert.equal(poolShape([1, 8, 8, 3], { filterSize: 3, strides: 2, pad: 1, dimRoundingMode: 'ceil' }), null);
    // A pad as wide as the window: the edge windows hold padding only.
    assert.equal(poolShape([1, 8, 8, 3], { filterSize: 2, strides: 1, pad: 2 }), null);
    assert.equal(poolShape([1, 2, 2, 3], { filterSize: 3, strides: 1, pad: 'valid' }), null); // no output
    assert.equal(poolShape([8, 8, 3], { filterSize: 3, strides: 1, pad: 'same' }), null); // not 4-D
  });
});
