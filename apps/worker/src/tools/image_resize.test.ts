// Resizing: weights sum to one, area averaging is the exact block mean for integer factors and
// weighs fractional overlaps, bilinear uses half-pixel centres, and each axis picks its own filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisTaps, resizeRgb } from './image_resize.js';

/** `[h, w, 3]` with channel values from `f(y, x, c)`. */
function image(width: number, height: number, f: (y: number, x: number, c: number) => number): Float32Array {
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = f(y, x, c);
  return out;
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);

describe('axisTaps', () => {
  it('gives weights summing to 1 for shrinking, enlarging and equal sizes', () => {
    for (const [src, dst] of [
      [100, 32],
      [33, 32],
      [32, 32],
      [7, 32],
      [1, 32],
      [32, 1],
      [500, 3],
    ] as const) {
      axisTaps(src, dst).forEach((taps, i) => {
        close(
          taps.reduce((s, t) => s + t.weight, 0),
          1,
          `${src}->${dst} output ${i}`,
        );
        assert.ok(
          taps.every((t) => t.index >= 0 && t.index < src && t.weight > 0),
          `${src}->${dst} output ${i} taps in range`,
        );
      });
    }
  });

  it('averages areas when shrinking: 3 -> 2 splits the middle pixel', () => {
    assert.deepEqual(
      axisTaps(3, 2).map((taps) => taps.map((t) => [t.index, Number(t.weight.toFixed(6))])),
      [
        [
          [0, 0.666667],
          [1, 0.333333],
        ],
        [
          [1, 0.333333],
          [2, 0.666667],
        ],
      ],
    );
  });

  it('interpolates with half-pixel centres when enlarging: 2 -> 4', () => {
    // Output centres 0.5, 1.5, 2.5, 3.5 map to source coordinates -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    assert.deepEqual(
      axisTaps(2, 4).map((taps) => taps.map((t) => [t.index, t.weight])),
      [
        [[0, 1]],
        [
          [0, 0.75],
          [1, 0.25],
        ],
        [
          [0, 0.25],
          [1, 0.75],
        ],
        [[1, 1]],
      ],
    );
  });

  it('refuses sizes that are not positive integers', () => {
    assert.throws(() => axisTaps(0, 32), {
      name: 'RangeError',
      message: '`srcLen` and `dstLen` passed to `axisTaps` must be positive integers, but got 0 and 32',
    });
  });
});

describe('resizeRgb', () => {
  it('shrinks 64x64 to 32x32 as the mean of each 2x2 block', () => {
    const src = image(64, 64, (y, x, c) => (y * 7 + x * 13 + c * 50) % 256);
    const out = resizeRgb(src, 64, 64, 32, 32);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const at = (yy: number, xx: number) => src[(yy * 64 + xx) * 3 + c]!;
          const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          close(out[(y * 32 + x) * 3 + c]!, mean, `(${y}, ${x}, ${c})`);
        }
      }
    }
  });

  it('keeps a constant image constant at any size, and copies at the same size', () => {
    for (const [w, h] of [
      [37, 53],
      [5, 300],
      [32, 32],
      [1, 1],
    ] as const) {
      const out = resizeRgb(
        image(w, h, (_y, _x, c) => [200, 100, 7][c]!),
        w,
        h,
        32,
        32,
      );
      out.forEach((v, i) => close(v, [200, 100, 7][i % 3]!, `${w}x${h} value ${i}`));
    }
    const src = image(32, 32, (y, x, c) => y + x + c);
    assert.deepEqual([...resizeRgb(src, 32, 32, 32, 32)], [...src]);
  });

  it('picks the filter per axis: 8 wide x 2 high to 4 x 4', () => {
    // Horizontally 8 -> 4 averages pairs of columns; vertically 2 -> 4 interpolates between the rows.
    const src = image(8, 2, (y, x) => (y === 0 ? x : 100 + x));
    const out = resizeRgb(src, 8, 2, 4, 4);
    const at = (y: number, x: number) => out[(y * 4 + x) * 3]!;
    close(at(0, 0), 0.5, 'top row, first pair');
    close(at(0, 3), 6.5, 'top row, last pair');
    close(at(1, 0), 0.75 * 0.5 + 0.25 * 100.5, 'second row: 3/4 of row 0');
    close(at(3, 3), 106.5, 'bottom row');
  });

  it('refuses a pixel buffer of the wrong length', () => {
    assert.throws(() => resizeRgb(new Uint8Array(10), 2, 2, 32, 32), {
      name: 'RangeError',
      message: '`rgb` passed to `resizeRgb` must hold 2x2x3 = 12 values, but holds 10',
    });
  });
});
