// The oneDNN convolution kernels against tfjs-backend-cpu: forward values, and dx/dW through
// tf.grads of the cpu conv, over batch 1 and 3, 1x1 to 7x7 filters, stride 1 and 2, 'same' and
// 'valid', 3/13/64 channels and 1/7/32 pixel sizes; then FusedConv2D, explicit padding, and the
// cases that must fall back to the cpu kernel.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { loadNativeAddon } from './native_addon.js';
import { ONEDNN_BACKEND, registerOneDnnBackend } from './onednn_backend.js';
import { assertClose, seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

interface ConvCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: Pad;
}

const label = (c: ConvCase): string => `n${c.n} ${c.h}x${c.w}x${c.cin} ${c.k}x${c.k}->${c.cout} s${c.stride} ${JSON.stringify(c.pad)}`;

/** Every pixel size x filter x stride x padding TF.js accepts, rotating batch and channels. */
function grid(): ConvCase[] {
  const cases: ConvCase[] = [];
  let i = 0;
  for (const size of [1, 7, 32]) {
    for (const k of [1, 3, 5, 7]) {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          if (pad === 'valid' && k > size) continue; // no output: TF.js rejects it too
          // 64 channels with a 5x5/7x7 filter at 32x32 makes the cpu reference slow, not the test stronger.
          const channels = size === 32 && k >= 5 ? [3, 13] : [3, 13, 64];
          const cin = channels[i % channels.length]!;
          const cout = channels[(i + 1) % channels.length]!;
          cases.push({ n: i % 2 === 0 ? 1 : 3, h: size, w: size, cin, cout, k, stride, pad });
          i++;
        }
      }
    }
  }
  // Non-square, odd and even: TF's uneven 'same' padding differs per axis.
  cases.push({ n: 3, h: 8, w: 7, cin: 13, cout: 3, k: 3, stride: 2, pad: 'same' });
  cases.push({ n: 1, h: 9, w: 6, cin: 3, cout: 13, k: 5, stride: 2, pad: 'same' });
  cases.push({ n: 3, h: 6, w: 9, cin: 13, cout: 13, k: 3, stride: 2, pad: 'valid' });
  // Explicit, asymmetric padding.
  cases.push({
    n: 3,
    h: 7,
    w: 8,
    cin: 3,
    cout: 13,
    k: 3,
    stride: 2,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  });
  cases.push({
    n: 1,
    h: 6,
    w: 5,
    cin: 13,
    cout: 3,
    k: 3,
    stride: 1,
    pad: [
      [0, 0],
      [3, 1],
      [0, 4],
      [0, 0],
    ],
  }); // wider than the filter
  return cases;
}

const CASES = grid();

/** y = conv2d(x, W) (or fused with a bias and `fused` activation), and dx, dW of sum(y * r), on the current backend. */
function run(c: ConvCase, fused?: 'relu' | 'linear'): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(c.n * c.h * c.w * c.cin, 1), [c.n, c.h, c.w, c.cin]);
    const filter = tf.tensor4d(seeded(c.k * c.k * c.cin * c.cout, 2), [c.k, c.k, c.cin, c.cout]);
    const bias = tf.tensor1d(seeded(c.cout, 4));
    const conv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
      fused !== undefined
        ? tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: c.stride, pad: c.pad, bias, activation: fused })
        : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
    const y = conv(x, filter);
    const r = tf.tensor(seeded(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([x, filter]) as [tf.Tensor, tf.Tensor];
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

const { addon } = loadNativeAddon();

// Native convolution calls, counted on the addon object the kernels call through: a convolution
// primitive, or the sgemm that 1x1 stride-1 unpadded convolutions run as.
let calls = 0;
for (const name of ['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeights', 'batchMatMul'] as const) {
  if (addon === null) break;
  const original = addon[name].bind(addon) as (...a: unknown[]) => void;
  (addon as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
    calls++;
    original(...a);
  };
}

/** Native convolution calls made so far on this thread. */
function nativeCalls(): number {
  return calls;
}

// Not skipped without the addon: requireAddon fails loudly.
describe('oneDNN convolution kernels', () => {
  before(() => requireAddon());
  const reference = new Map<string, ReturnType<typeof run>>();
  const fusedReference = new Map<string, ReturnType<typeof run>>();
  const FUSED = CASES.filter((c) => c.h === 7 || c.h === 8);

  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    await tf.setBackend('cpu');
    for (const c of CASES) reference.set(label(c), run(c));
    for (const c of FUSED) fusedReference.set(label(c), run(c, 'relu'));
    for (const c of FUSED.slice(0, 4)) fusedReference.set(`linear ${label(c)}`, run(c, 'linear'));
    await tf.setBackend(ONEDNN_BACKEND);
  });

  it(`conv2d, dx and dW match the cpu backend (${CASES.length} shapes)`, () => {
    for (const c of CASES) {
      const calls = nativeCalls();
      const got = run(c);
      // y, then tf.grads' own forward, dx and dW: all four native (a silent fallback to the cpu
      // kernel would pass the value checks).
      assert.equal(nativeCalls() - calls, 4, `${label(c)}: native calls`);
      const want = reference.get(label(c))!;
      assertClose(got.y, want.y, `y ${label(c)}`);
      assertClose(got.dx, want.dx, `dx ${label(c)}`);
      assertClose(got.dw, want.dw, `dW ${label(c)}`);
    }
  });

  it(`fused conv2d + bias + ReLU or linear, and its gradients, match the cpu backend (${FUSED.length} shapes)`, () => {
    const runs = [
      ...FUSED.map((c) => [c, 'relu', label(c)] as const),
      ...FUSED.slice(0, 4).map((c) => [c, 'linear', `linear ${label(c)}`] as const),
    ];
    for (const [c, activation, key] of runs) {
      const calls = nativeCalls();
      const got = run(c, activation);
      assert.equal(nativeCalls() - calls, 4, `fused ${key}: native calls`);
      const want = fusedReference.get(key)!;
      assertClose(got.y, want.y, `fused y ${key}`);
      assertClose(got.dx, want.dx, `fused dx ${key}`);
      assertClose(got.dw, want.dw, `fused dW ${key}`);
    }
  });

  it('a repeated shape reuses its cached primitives', () => {
    const c = CASES[20]!;
    run(c);
    const before = addon!.cacheStats();
    run(c);
    const after = addon!.cacheStats();
    assert.equal(after.hits - before.hits, 4);
    assert.equal(after.misses, before.misses);
  });

  describe('falls back to the cpu kernel', () => {
    const x = (): tf.Tensor4D => tf.tensor4d(seeded(2 * 9 * 9 * 3, 5), [2, 9, 9, 3]);
    const w = (): tf.Tensor4D => tf.tensor4d(seeded(3 * 3 * 3 * 4, 6), [3, 3, 3, 4]);
    const cases: [string, () => tf.Tensor][] = [
      ['NCHW', () => tf.conv2d(tf.transpose(x(), [0, 3, 1, 2]), w(), 1, 'same', 'NCHW')],
      ['dilation 2', () => tf.conv2d(x(), w(), 1, 'same', 'NHWC', 2)],
      // (8 - 3 + 2 * 1) / 2 + 1 = 4.5: 'ceil' gives 5 rows, oneDNN's formula 4.
      ["rounding 'ceil' that oneDNN's floor would not give", () => tf.conv2d(tf.slice(x(), 0, [2, 8, 8, 3]), w(), 2, 1, 'NHWC', 1, 'ceil')],
      [
        'a leakyrelu activation',
        () => tf.fused.conv2d({ x: x(), filter: w(), strides: 1, pad: 'same', activation: 'leakyrelu', leakyreluAlpha: 0.1 }),
      ],
      ['a broadcast bias', () => tf.fused.conv2d({ x: x(), filter: w(), strides: 1, pad: 'same', bias: tf.scalar(0.5) })],
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
