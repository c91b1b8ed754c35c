// The native fp16 codec against @gnet/protocol's JS conversion, bit for bit: every fp16 decoded,
// every float32 exponent with the rounding cases around each fp16 step, NaNs and infinities,
// odd lengths (the vector loops' tails), unaligned frames, and accumulation. Ranks with and
// without the addon must agree exactly, so equal bits are the whole contract.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { loadNativeAddon, nativeFloat16Codec } from '@gnet/native-cpu';
import {
  float16BitsFromFloat32BitsGeneral,
  float16Table32,
  getFloat16Codec,
  readFloats,
  setFloat16Codec,
  writeFloats,
  type Float16Codec,
} from '@gnet/protocol';
import { useNativeFloat16Codec } from './wire_codec.js';

/** The codec, or a failure that says what to install: CI has libdnnl-dev, so this must not skip. */
function requireCodec(): Float16Codec {
  const { codec, reason } = nativeFloat16Codec();
  if (codec === null)
    throw new Error(`no native fp16 codec (${reason}); install libdnnl-dev and run npm run build:native -w @gnet/native-cpu`);
  return codec;
}

/** float32 bit patterns that exercise every conversion path. */
function specialBits(): Uint32Array {
  const bits: number[] = [0, 0x7f800000, 0x7fc00000, 0x7f800001, 0x7fffffff, 0x7fa00000, 0x00000001, 0x007fffff];
  for (let exponent = 0; exponent < 256; exponent += 1) {
    // Around the fp16 rounding boundary (13 dropped bits) and at the extremes of the mantissa.
    for (const mantissa of [0, 1, 0xfff, 0x1000, 0x1001, 0x2fff, 0x3000, 0x3001, 0x7fe000, 0x7ff000, 0x7fefff, 0x7fffff]) {
      bits.push((exponent << 23) | mantissa);
    }
  }
  // Every sign.
  const all = bits.flatMap((b) => [b >>> 0, (b | 0x80000000) >>> 0]);
  return Uint32Array.from(all);
}

function randomFloats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    // Gradient-like magnitudes from 2^-30 to 2^10, both signs.
    out[i] = (state / 2 ** 32 - 0.5) * 2 ** ((state % 40) - 30);
  }
  return out;
}

describe('native fp16 codec', () => {
  afterEach(() => setFloat16Codec(null));

  it('encodes like float16BitsFromFloat32BitsGeneral on every exponent, rounding case, NaN and infinity', () => {
    const codec = requireCodec();
    const bits = specialBits();
    const src = new Float32Array(bits.buffer);
    const dst = new Uint8Array(2 * src.length);
    codec.encode(src, dst);
    const got = new Uint16Array(dst.buffer);
    for (let i = 0; i < bits.length; i += 1) {
      const want = float16BitsFromFloat32BitsGeneral(bits[i]!);
      if (got[i] !== want)
        assert.fail(`float32 bits 0x${bits[i]!.toString(16)}: native 0x${got[i]!.toString(16)}, JS 0x${want.toString(16)}`);
    }
  });

  it('decodes all 65536 fp16 values like the JS table, and adds them when accumulating', () => {
    const codec = requireCodec();
    const halves = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    const src = new Uint8Array(halves.buffer);
    const table = float16Table32();
    const out = new Float32Array(0x10000);
    codec.decode(src, out, false);
    for (let h = 0; h < 0x10000; h += 1) {
      if (Number.isNaN(table[h]!)) assert.ok(Number.isNaN(out[h]!), `fp16 0x${h.toString(16)} must decode to NaN`);
      else if (!Object.is(out[h], table[h])) assert.fail(`fp16 0x${h.toString(16)}: native ${out[h]}, JS ${table[h]}`);
    }
    const base = randomFloats(0x10000, 7);
    const sum = Float32Array.from(base);
    codec.decode(src, sum, true);
    for (let h = 0; h < 0x10000; h += 1) {
      const want = Math.fround(base[h]! + table[h]!);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(sum[h]!));
      else if (!Object.is(sum[h], want)) assert.fail(`accumulating fp16 0x${h.toString(16)} onto ${base[h]}: native ${sum[h]}, JS ${want}`);
    }
  });

  it('gives writeFloats / readFloats the same bytes and sums as the JS loops, at odd lengths and unaligned offsets', () => {
    const codec = requireCodec();
    for (const count of [256, 257, 263, 1000, 4099]) {
      for (const offset of [0, 1, 3]) {
        const src = randomFloats(count, count + offset);
        const viaJs = new Uint8Array(offset + 2 * count);
        const viaNative = new Uint8Array(offset + 2 * count);
        setFloat16Codec(null);
        writeFloats(src, 'float16', viaJs, offset);
        setFloat16Codec(codec);
        writeFloats(src, 'float16', viaNative, offset);
        assert.deepEqual(viaNative, viaJs, `encode of ${count} floats at byte offset ${offset}`);
        const accJs = randomFloats(count, 99);
        const accNative = Float32Array.from(accJs);
        setFloat16Codec(null);
        readFloats(viaJs.subarray(offset), 'float16', accJs, true);
        setFloat16Codec(codec);
        readFloats(viaNative.subarray(offset), 'float16', accNative, true);
        assert.deepEqual(accNative, accJs, `decode-and-add of ${count} floats at byte offset ${offset}`);
      }
    }
  });

  it('refuses a destination or source of the wrong size, naming it, instead of writing past a frame', () => {
    const { addon } = loadNativeAddon();
    assert.ok(addon !== null);
    assert.throws(() => addon.float16Encode(new Float32Array(10), new Uint8Array(19)), {
      code: 'ONEDNN_BAD_ARGUMENT',
      message: '`dst` passed to float16Encode must have 20 bytes (2 per element), but has 19',
    });
    assert.throws(() => addon.float16Decode(new Uint8Array(21), new Float32Array(10), true), {
      code: 'ONEDNN_BAD_ARGUMENT',
      message: '`src` passed to float16Decode must have 20 bytes (2 per element), but has 21',
    });
    assert.throws(() => addon.float16Encode(new Float32Array(2), new Uint16Array(2) as unknown as Uint8Array), {
      message: '`dst` passed to float16Encode must be a Uint8Array',
    });
  });

  it('is what the worker turns on at start-up', () => {
    assert.equal(getFloat16Codec(), null);
    assert.deepEqual(useNativeFloat16Codec(), { codec: 'native' });
    assert.notEqual(getFloat16Codec(), null);
  });
});
