// convShape: TF.js's padding arithmetic in the addon's terms, and null for what must stay on cpu.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convShape, type ConvParams } from './conv_shape.js';

const nhwc = (strides: number, pad: ConvParams['pad']): ConvParams => ({ strides, pad, dataFormat: 'NHWC', dilations: 1 });

describe('convShape', () => {
  it("pads 'same' with stride 2 on an even size only at the bottom/right, as TF does", () => {
    // n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, top, left, bottom, right
    assert.deepEqual([...convShape([2, 32, 32, 3], [3, 3, 3, 8], nhwc(2, 'same'))!], [2, 32, 32, 3, 16, 16, 8, 3, 3, 2, 2, 0, 0, 1, 1]);
    assert.deepEqual([...convShape([1, 7, 8, 3], [3, 3, 3, 8], nhwc(2, 'same'))!], [1, 7, 8, 3, 4, 4, 8, 3, 3, 2, 2, 1, 0, 1, 1]);
  });

  it("drops the rows 'valid' cannot reach", () => {
    assert.deepEqual([...convShape([1, 7, 7, 3], [2, 2, 3, 4], nhwc(2, 'valid'))!], [1, 7, 7, 3, 3, 3, 4, 2, 2, 2, 2, 0, 0, 0, 0]);
  });

  it('takes explicit padding as given', () => {
    const pad: ConvParams['pad'] = [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ];
    assert.deepEqual([...convShape([3, 7, 8, 3], [3, 3, 3, 13], nhwc(2, pad))!], [3, 7, 8, 3, 4, 4, 13, 3, 3, 2, 2, 1, 2, 2, 0]);
  });

  it('is null for what the native kernels leave to cpu', () => {
    assert.equal(convShape([1, 3, 8, 8], [3, 3, 3, 4], { ...nhwc(1, 'same'), dataFormat: 'NCHW' }), null);
    assert.equal(convShape([1, 8, 8, 3], [3, 3, 3, 4], { ...nhwc(1, 'same'), dilations: [2, 2] }), null);
    // (8 - 3 + 2) / 2 + 1 = 4.5: 'ceil' says 5, oneDNN would compute 4.
    assert.equal(convShape([1, 8, 8, 3], [3, 3, 3, 4], { ...nhwc(2, 1), dimRoundingMode: 'ceil' }), null);
    assert.equal(convShape([1, 8, 8, 3], [3, 3, 5, 4], nhwc(1, 'same')), null); // channel mismatch: cpu throws TF.js's error
    assert.equal(convShape([1, 2, 2, 3], [3, 3, 3, 4], nhwc(1, 'valid')), null); // no output
  });
});
