// Tests of the fp16 / bfloat16 conversions against numpy's float16 cast and hand-checked
// bfloat16 bit patterns, plus an exhaustive round trip over all 65536 fp16 values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bfloat16BitsFromFloat32Bits,
  bfloat16BitsToFloat32,
  float16BitsFromFloat32Bits,
  float16BitsFromFloat32BitsGeneral,
  float16BitsToFloat32,
  float16Table32,
  float32Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './half_float.js';

// [value, numpy float32→float16 bits, bfloat16 bits (round to nearest even)].
// fp16 column from `np.float32(v).astype(np.float16).view(np.uint16)` (numpy 2.4).
const VECTORS: ReadonlyArray<readonly [number, number, number]> = [
  [0.0, 0x0000, 0x0000],
  [-0.0, 0x8000, 0x8000],
  [1.0, 0x3c00, 0x3f80],
  [-2.0, 0xc000, 0xc000],
  [65504.0, 0x7bff, 0x4780], // largest fp16
  [65519.99, 0x7bff, 0x4780], // just below the rounding boundary to Infinity
  [65520.0, 0x7c00, 0x4780], // exactly halfway to 65536: ties to even overflow to Infinity
  [-70000.0, 0xfc00, 0xc789],
  [2 ** -24, 0x0001, 0x3380], // 2^-24, smallest fp16 subnormal
  [2 ** -25, 0x0000, 0x3300], // 2^-25: halfway, ties to even (0)
  [2.980232536792755e-8, 0x0001, 0x3300], // just above halfway rounds up
  [6.103515625e-5, 0x0400, 0x3880], // 2^-14, smallest fp16 normal
  [6.1005353927612305e-5, 0x0400, 0x3880], // largest subnormal rounding up into the normals
  [1.0009765625, 0x3c01, 0x3f80], // 1 + 2^-10
  [1.00048828125, 0x3c00, 0x3f80], // 1 + 2^-11: tie, stays even
  [1.00146484375, 0x3c02, 0x3f80], // 1 + 3·2^-11: tie, rounds up to even
  [3.14159265, 0x4248, 0x4049],
  [1e-8, 0x0000, 0x322c],
  [-1e-5, 0x80a8, 0xb728],
  [Infinity, 0x7c00, 0x7f80],
  [-Infinity, 0xfc00, 0xff80],
  [0.1, 0x2e66, 0x3dcd],
  [6.1e-5, 0x03ff, 0x3880],
];

const hex = (bits: number): string => `0x${bits.toString(16).padStart(4, '0')}`;

describe('float32ToFloat16Bits', () => {
  for (const [value, half] of VECTORS) {
    it(`rounds ${value} to ${hex(half)} like numpy`, () => {
      assert.equal(hex(float32ToFloat16Bits(value)), hex(half));
    });
  }

  it('keeps NaN a quiet NaN, with its sign', () => {
    assert.equal(hex(float32ToFloat16Bits(NaN) & 0x7e00), '0x7e00');
    assert.equal(hex(float16BitsFromFloat32Bits(0xff800001)), '0xfe00');
  });
});

describe('float16BitsToFloat32', () => {
  it('inverts the conversion for every one of the 65536 fp16 bit patterns', () => {
    const table = float16Table32();
    for (let half = 0; half < 0x10000; half += 1) {
      const value = float16BitsToFloat32(half);
      const isNaN = (half & 0x7c00) === 0x7c00 && (half & 0x3ff) !== 0;
      if (isNaN) {
        assert.ok(Number.isNaN(value), `${hex(half)} should be NaN`);
        assert.ok(Number.isNaN(table[half]!));
        continue;
      }
      assert.equal(float32ToFloat16Bits(value), half, `${hex(half)} → ${value} should convert back`);
      assert.ok(Object.is(table[half], value), `table[${hex(half)}] should be ${value}`);
    }
  });

  it('decodes the extremes', () => {
    assert.equal(float16BitsToFloat32(0x7bff), 65504);
    assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
    assert.equal(float16BitsToFloat32(0xfc00), -Infinity);
    assert.ok(Object.is(float16BitsToFloat32(0x8000), -0));
  });
});

describe('float32ToBfloat16Bits', () => {
  for (const [value, , bf16] of VECTORS) {
    it(`rounds ${value} to ${hex(bf16)}`, () => {
      assert.equal(hex(float32ToBfloat16Bits(value)), hex(bf16));
    });
  }

  it('rounds ties to even on the 16 dropped bits', () => {
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0x3f808000)), '0x3f80'); // tie, even stays
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0x3f818000)), '0x3f82'); // tie, odd rounds up
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0x3f808001)), '0x3f81'); // above the tie
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0x7f7fffff)), '0x7f80'); // max float rounds to Infinity
  });

  it('keeps NaN a NaN, quieting a signalling one', () => {
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0x7f800001)), '0x7fc0');
    assert.equal(hex(bfloat16BitsFromFloat32Bits(0xffc00000)), '0xffc0');
    assert.ok(Number.isNaN(bfloat16BitsToFloat32(0x7fc0)));
  });

  it('is exact for values that fit in 8 mantissa bits', () => {
    for (const value of [1, -1.5, 2 ** 100, 3.125, -(2 ** -120)]) {
      assert.equal(bfloat16BitsToFloat32(float32ToBfloat16Bits(value)), value);
      assert.equal(float32ToBfloat16Bits(value), float32Bits(value) >>> 16);
    }
  });
});

describe('float16BitsFromFloat32Bits fast path', () => {
  it('agrees with the general conversion on every exponent, both signs, and every rounding case', () => {
    // For each of the 256 exponents and both signs: mantissas around every rounding boundary of
    // the 13 dropped bits (ties, one below, one above, with the kept bit odd and even), the
    // extremes, and a strided sweep. The fast path's range edges (2^-14, 65520) are among them.
    const mantissas: number[] = [0, 1, 0x7fffff, 0x7fe000, 0x7ff000, 0x7fefff, 0x7ff001];
    for (const kept of [0, 1, 2, 3, 0x3fe, 0x3ff]) for (const d of [-1, 0, 1]) mantissas.push((kept << 13) + 0x1000 + d);
    for (let m = 0; m < 0x800000; m += 4099) mantissas.push(m);
    let checked = 0;
    for (let exponent = 0; exponent < 256; exponent += 1) {
      for (const sign of [0, 0x80000000]) {
        for (const m of mantissas) {
          if (m < 0 || m > 0x7fffff) continue;
          const bits = (sign | (exponent << 23) | m) >>> 0;
          const fast = float16BitsFromFloat32Bits(bits);
          const general = float16BitsFromFloat32BitsGeneral(bits);
          if (fast !== general) assert.fail(`bits 0x${bits.toString(16)}: fast 0x${fast.toString(16)}, general 0x${general.toString(16)}`);
          checked += 1;
        }
      }
    }
    assert.ok(checked > 500_000, `checked ${checked} patterns`);
  });
});
