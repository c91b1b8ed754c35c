// The oneDNN pooling kernels against tfjs-backend-cpu: MaxPool and AvgPool values, and their
// gradients through tf.grad, over batch 1 and 3, 1/3/13/64 channels, 1/2/7/8/32 pixel sizes,
// 1x1 to 3x3 windows, stride 1 and 2, 'same' and 'valid'; max pooling on inputs full of ties and
// on all-negative inputs (the gradient must go to each window's first maximum, as TF's); the
// average-pool gradient with padding against a float64 reference (see pool_kernels.ts for why not
// against cpu there); and the cases that must fall back to the cpu kernel.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { loadNativeAddon } from './native_addon.js';
import { ONEDNN_BACKEND, registerOneDnnBackend } from './onednn_backend.js';
import { poolShape } from './pool_shape.js';
import { assertClose, seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

interface PoolCase {
  n: number;
  h: number;
  w: number;
  c: number;
  k: number;
  stride: number;
  pad: 'same' | 'valid' | number;
}

type Kind = 'max' | 'avg';
/** How x is filled: seeded normals, normals rounded to halves (many ties), or all below zero. */
type Data = 'normal' | 'ties' | 'negative';

const label = (c: PoolCase): string => `n${c.n} ${c.h}x${c.w}x${c.c} ${c.k}x${c.k} s${c.stride} ${JSON.stringify(c.pad)}`;

/** Every pixel size x window x stride x padding TF.js accepts, rotating batch and channels. */
function grid(): PoolCase[] {
  const cases: PoolCase[] = [];
  const channels = [1, 3, 13, 64];
  let i = 0;
  for (const size of [1, 2, 7, 8, 32]) {
    for (const k of [1, 2, 3]) {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          if (pad === 'valid' && k > size) continue; // no output: TF.js rejects it too
          const c = size === 32 ? channels[i % 3]! : channels[i % 4]!; // 32x32x64 is slow on the cpu reference
          cases.push({ n: i % 2 === 0 ? 1 : 3, h: size, w: size, c, k, stride, pad });
          i++;
        }
      }
    }
  }
  // GoogLeNet's: 3x3/1 'same' in every inception block, 3x3/2 'same' between stages.
  cases.push({ n: 3, h: 16, w: 16, c: 64, k: 3, stride: 1, pad: 'same' });
  cases.push({ n: 3, h: 16, w: 16, c: 13, k: 3, stride: 2, pad: 'same' });
  // Non-square, odd and even: TF's uneven 'same' padding differs per axis; a numeric pad.
  cases.push({ n: 3, h: 8, w: 7, c: 13, k: 3, stride: 2, pad: 'same' });
  cases.push({ n: 1, h: 9, w: 6, c: 3, k: 2, stride: 2, pad: 'same' });
  cases.push({ n: 3, h: 7, w: 8, c: 3, k: 3, stride: 2, pad: 1 });
  return cases;
}

const CASES = grid();

/**
 * Max-pool dx tolerance: where windows overlap, several dy add up in one dx in another order than
 * cpu's (1 ulp apart); one dy routed to another element of its window would be off by a whole dy.
 */
const ROUTED = 1e-6;

function input(c: PoolCase, data: Data): tf.Tensor4D {
  const v = seeded(c.n * c.h * c.w * c.c, 1);
  if (data === 'ties') for (let i = 0; i < v.length; i++) v[i] = Math.round(v[i]! * 2) / 2;
  if (data === 'negative') for (let i = 0; i < v.length; i++) v[i] = -Math.abs(v[i]!) - 1;
  return tf.tensor4d(v, [c.n, c.h, c.w, c.c]);
}

/** y = pool(x), and dx of sum(y * r), on the current backend. */
function run(c: PoolCase, kind: Kind, data: Data = 'normal'): { y: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const pool = (a: tf.Tensor): tf.Tensor4D =>
      kind === 'max' ? tf.maxPool(a as tf.Tensor4D, c.k, c.stride, c.pad) : tf.avgPool(a as tf.Tensor4D, c.k, c.stride, c.pad);
    const x = input(c, data);
    const y = pool(x);
    const r = tf.tensor(seeded(y.size, 3), y.shape);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pool(a), r)))(x);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

/**
 * The true gradient of a padding-excluding average pool, in float64: each dy shared equally by
 * the input elements of its window. TF's AvgPoolGrad; tfjs-backend-cpu divides by kh * kw instead.
 */
function avgPoolGradReference(c: PoolCase): Float64Array {
  const s = poolShape([c.n, c.h, c.w, c.c], { filterSize: c.k, strides: c.stride, pad: c.pad })!;
  const [n, h, w, ch, oh, ow, kh, kw, sh, sw, top, left] = s;
  const r = seeded(n! * oh! * ow! * ch!, 3);
  const dx = new Float64Array(n! * h! * w! * ch!);
  for (let b = 0; b < n!; b++) {
    for (let y = 0; y < oh!; y++) {
      for (let x = 0; x < ow!; x++) {
        const r0 = Math.max(0, y * sh! - top!);
        const r1 = Math.min(h!, y * sh! - top! + kh!);
        const c0 = Math.max(0, x * sw! - left!);
        const c1 = Math.min(w!, x * sw! - left! + kw!);
        const count = (r1 - r0) * (c1 - c0);
        for (let d = 0; d < ch!; d++) {
          const share = r[((b * oh! + y) * ow! + x) * ch! + d]! / count;
          for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) dx[((b * h! + i) * w! + j) * ch! + d]! += share;
        }
      }
    }
  }
  return dx;
}

/** Whether some window of `c` reaches into padding (then cpu's AvgPoolGrad is not the gradient). */
function padded(c: PoolCase): boolean {
  const s = poolShape([c.n, c.h, c.w, c.c], { filterSize: c.k, strides: c.stride, pad: c.pad })!;
  return s.subarray(10).some((p) => p > 0);
}

/** Native pooling calls made so far on this thread (cache hits + misses). */
function nativeCalls(): number {
  const stats = loadNativeAddon().addon!.poolCacheStats();
  return stats.hits + stats.misses;
}

const { addon } = loadNativeAddon();

// Not skipped without the addon: requireAddon fails loudly.
describe('oneDNN pooling kernels', () => {
  before(() => requireAddon());
  const reference = new Map<string, ReturnType<typeof run>>();
  const TIE_CASES = CASES.filter((c) => c.h === 7 || c.h === 8);
  const DATA: Data[] = ['ties', 'negative'];

  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    await tf.setBackend('cpu');
    for (const c of CASES) {
      for (const kind of ['max', 'avg'] as const) reference.set(`${kind} ${label(c)}`, run(c, kind));
    }
    for (const c of TIE_CASES) for (const data of DATA) reference.set(`max ${data} ${label(c)}`, run(c, 'max', data));
    await tf.setBackend(ONEDNN_BACKEND);
  });

  it(`maxPool and its gradient match the cpu backend (${CASES.length} shapes)`, () => {
    for (const c of CASES) {
      const calls = nativeCalls();
      const got = run(c, 'max');
      // y, then tf.grad's own forward and MaxPoolGrad: all three native.
      assert.equal(nativeCalls() - calls, 3, `${label(c)}: native calls`);
      const want = reference.get(`max ${label(c)}`)!;
      assertClose(got.y, want.y, `max y ${label(c)}`, 0);
      assertClose(got.dx, want.dx, `max dx ${label(c)}`, ROUTED);
    }
  });

  it(`maxPool's gradient goes to each window's first maximum, with ties and all-negative inputs (${TIE_CASES.length * DATA.length} runs)`, () => {
    for (const c of TIE_CASES) {
      for (const data of DATA) {
        const calls = nativeCalls();
        const got = run(c, 'max', data);
        assert.equal(nativeCalls() - calls, 3, `${data} ${label(c)}: native calls`);
        const want = reference.get(`max ${data} ${label(c)}`)!;
        assertClose(got.y, want.y, `max ${data} y ${label(c)}`, 0);
        assertClose(got.dx, want.dx, `max ${data} dx ${label(c)}`, ROUTED);
      }
    }
  });

  it(`avgPool matches the cpu backend, and so does its gradient where no window is padded (${CASES.length} shapes)`, () => {
    for (const c of CASES) {
      const calls = nativeCalls();
      const got = run(c, 'avg');
      assert.equal(nativeCalls() - calls, 3, `${label(c)}: native calls`);
      const want = reference.get(`avg ${label(c)}`)!;
      assertClose(got.y, want.y, `avg y ${label(c)}`);
      assertClose(got.dx, padded(c) ? avgPoolGradReference(c) : want.dx, `avg dx ${label(c)}`);
    }
  });

  it("avgPool's gradient with padding divides by the window's input elements, where cpu divides by kh * kw", async () => {
    const grad = (): Float32Array =>
      tf.tidy(
        () =>
          tf
            .grad((a: tf.Tensor) => tf.sum(tf.avgPool(a as tf.Tensor4D, 3, 1, 'same')))(tf.ones([1, 3, 3, 1]))
            .dataSync() as Float32Array,
      );
    const dx = grad();
    // dx of sum(avgPool(ones)): each window gives 1 / (its input elements) to each of them.
    const want = (() => {
      const out = new Float64Array(9);
      for (let y = 0; y < 3; y++) {
        for (let x = 0; x < 3; x++) {
          const r0 = Math.max(0, y - 1),
            r1 = Math.min(3, y + 2),
            c0 = Math.max(0, x - 1),
            c1 = Math.min(3, x + 2);
          for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) out[i * 3 + j]! += 1 / ((r1 - r0) * (c1 - c0));
        }
      }
      return out;
    })();
    assertClose(dx, want, 'dx');
    // The centre is in all 9 windows: 4 corner ones of 4 elements, 4 edge ones of 6, the middle of 9.
    assert.ok(Math.abs(dx[4]! - (4 / 4 + 4 / 6 + 1 / 9)) < 1e-6, `centre ${dx[4]}`);
    // cpu's AvgPoolGrad gives it 9 * 1 / (3 * 3) = 1; should tfjs fix that, compare with cpu here.
    await tf.setBackend('cpu');
    const cpu = grad();
    await tf.setBackend(ONEDNN_BACKEND);
    assert.equal(cpu[4], 1);
  });

  it('a repeated shape reuses its cached primitives', () => {
    const c = CASES[20]!;
    run(c, 'max');
    const before = addon!.poolCacheStats();
    run(c, 'max');
    const after = addon!.poolCacheStats();
    assert.equal(after.hits - before.hits, 3);
    assert.equal(after.misses, before.misses);
  });

  describe('falls back to the cpu kernel', () => {
    const x = (): tf.Tensor4D => tf.tensor4d(seeded(2 * 8 * 8 * 3, 5), [2, 8, 8, 3]);
    const cases: [string, () => tf.Tensor][] = [
      // (8 - 3 + 2 * 1) / 2 + 1 = 4.5: 'ceil' gives 5 rows, oneDNN's formula 4.
      ["max: rounding 'ceil' that oneDNN's floor would not give", () => tf.maxPool(x(), 3, 2, 1, 'ceil')],
      ["avg: rounding 'ceil' that oneDNN's floor would not give", () => tf.avgPool(x(), 3, 2, 1, 'ceil')],
      ['max: int32 input', () => tf.maxPool(tf.cast(tf.mul(x(), 10), 'int32') as tf.Tensor4D, 3, 1, 'same')],
    ];
    for (const [what, op] of cases) {
      it(what, async () => {
        await tf.setBackend('cpu');
        const want = tf.tidy(() => op().dataSync());
        await tf.setBackend(ONEDNN_BACKEND);
        const calls = nativeCalls();
        const got = tf.tidy(() => op().dataSync());
        assert.equal(nativeCalls(), calls, 'no native call');
        assertClose(got, want, what, 0);
      });
    }
  });
});
