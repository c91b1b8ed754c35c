// The addon's element-wise, concat/split and matmul kernels against tfjs-backend-cpu:
// - Add, Sub, Multiply, RealDiv: equal shapes, `[n, h, w, c] op [c]` and `[c] op [n, h, w, c]`,
//   scalars on either side, `[1, 1, 1, c]` against `[n, h, w, c]`, sizes 1, 7, 13 and above 2^15
//   elements (the OpenMP path), with NaN, ±Infinity, ±0 and division by zero mixed in: bit-exact
//   (IEEE float ops, correctly rounded both ways), and the native path counted per call; a
//   non-trailing broadcast (`[n, 1, 1, c]` op `[n, h, w, c]`) and int32 inputs fall back to the cpu
//   kernel (no native call) with cpu's values; inputs that are views (a contiguous slice); and the
//   gradients of all four through tf.grads.
// - Relu and Step (alpha 0 and not) with NaN, ±0, ±Infinity and negatives, and the ReLU gradient
//   (Step). Relu(-0) is compared as a zero of either sign: the addon keeps -0, cpu's Math.max gives +0.
// - Concat along axes 3, 1 and 0 (with zero-size parts), SplitV (tf.split with sizes, a 0 size, a
//   -1 size, and a split count) along axes 3 and 1, and the gradient of concat (a SplitV), with the
//   addon's copyBlock calls counted.
// - BatchMatMul: 2-D and 3-D, the four transpose combinations, batch broadcast ([1, m, k] x
//   [b, k, n], [b, m, k] x [1, k, n], [m, k] x [b, k, n]), the output shape for mixed-rank batch
//   dims, an empty batch, the fallback for other batch dims and int32, and the gradients of tf.matMul.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { loadNativeAddon } from './native_addon.js';
import { ONEDNN_BACKEND, registerOneDnnBackend } from './onednn_backend.js';
import { assertClose, seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

const { addon } = loadNativeAddon();

// Native calls, counted on the addon object the kernels call through (its properties are writable).
const COUNTED = ['binaryOp', 'relu', 'step', 'copyBlock', 'batchMatMul'] as const;
type Counted = (typeof COUNTED)[number];
const calls: Record<Counted, number> = { binaryOp: 0, relu: 0, step: 0, copyBlock: 0, batchMatMul: 0 };
for (const name of COUNTED) {
  if (addon === null) break;
  const original = addon[name].bind(addon) as (...a: unknown[]) => void;
  (addon as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
    calls[name]++;
    original(...a);
  };
}

/** A tensor's shape, dtype and values, read back (tensors do not outlive a backend switch here). */
interface Read {
  shape: number[];
  dtype: tf.DataType;
  values: ArrayLike<number>;
}

const read = (t: tf.Tensor): Read => ({ shape: t.shape, dtype: t.dtype, values: t.dataSync() as ArrayLike<number> });

/** `f`'s outputs read back, in a tidy. */
function tidyRead(f: () => tf.Tensor | tf.Tensor[]): Read[] {
  let reads: Read[] = [];
  tf.tidy(() => {
    const out = f();
    reads = (Array.isArray(out) ? out : [out]).map(read);
  });
  return reads;
}

/**
 * Runs `f` on 'cpu' and then on 'onednn' (each in a tidy), returning both results and the native
 * calls the 'onednn' run made.
 */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ want: Read[]; got: Read[]; native: Record<Counted, number> }> {
  await tf.setBackend('cpu');
  const want = tidyRead(f);
  await tf.setBackend(ONEDNN_BACKEND);
  const before = { ...calls };
  const got = tidyRead(f);
  const native = Object.fromEntries(COUNTED.map((n) => [n, calls[n] - before[n]])) as Record<Counted, number>;
  return { want, got, native };
}

/**
 * Asserts the same values element by element: NaN matches NaN, and zeros must have the same sign
 * unless `anyZeroSign`.
 */
function assertSameValues(got: ArrayLike<number>, want: ArrayLike<number>, what: string, anyZeroSign = false): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const gotValue = got[i]!;
    const wantValue = want[i]!;
    const same = Number.isNaN(wantValue) ? Number.isNaN(gotValue) : anyZeroSign ? gotValue === wantValue : Object.is(gotValue, wantValue);
    if (!same)
      assert.fail(
        `${what}: element ${i} is ${Object.is(gotValue, -0) ? '-0' : gotValue}, expected ${Object.is(wantValue, -0) ? '-0' : wantValue}`,
      );
  }
}

function assertSameReads(got: Read[], want: Read[], what: string, anyZeroSign = false): void {
  assert.equal(got.length, want.length, `${what}: outputs`);
  got.forEach((gotRead, i) => {
    assert.deepEqual(gotRead.shape, want[i]!.shape, `${what}: output ${i} shape`);
    assert.equal(gotRead.dtype, want[i]!.dtype, `${what}: output ${i} dtype`);
    assertSameValues(gotRead.values, want[i]!.values, `${what}: output ${i}`, anyZeroSign);
  });
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Seeded values with IEEE specials sprinkled in (NaN, ±Infinity, ±0), more so in divisors (`zeros`). */
function values(shape: readonly number[], seed: number, zeros = false): Float32Array {
  const v = seeded(sizeOf(shape), seed);
  const specials = zeros ? [0, -0, 0, NaN, Infinity] : [NaN, Infinity, -Infinity, 0, -0];
  for (let i = seed % 5, j = 0; i < v.length; i += 11, j++) v[i] = specials[j % specials.length]!;
  return v;
}

type BinaryFn = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
const BINARY: [string, string, BinaryFn][] = [
  ['Add', 'add', (a, b) => tf.add(a, b)],
  ['Sub', 'sub', (a, b) => tf.sub(a, b)],
  ['Multiply', 'mul', (a, b) => tf.mul(a, b)],
  ['RealDiv', 'div', (a, b) => tf.div(a, b)],
];

/** Operand shapes that broadcast as a trailing repeat: the native path. */
const NATIVE_SHAPES: [number[], number[]][] = [
  [[1], [1]],
  [[7], [7]],
  [
    [13, 13],
    [13, 13],
  ],
  [
    [2, 3, 3, 13],
    [2, 3, 3, 13],
  ],
  [
    [3, 17, 19, 37],
    [3, 17, 19, 37],
  ], // 35,853 elements: above 2^15, the OpenMP loops
  [[2, 3, 3, 13], [13]],
  [[13], [2, 3, 3, 13]],
  [[3, 17, 19, 37], [37]],
  [[37], [3, 17, 19, 37]],
  [
    [3, 17, 19, 37],
    [19, 37],
  ],
  [[2, 3, 3, 1], [1]],
  [[5, 7], [7]],
  [[], [2, 3, 3, 13]],
  [[2, 3, 3, 13], []],
  [[], [3, 17, 19, 37]],
  [[3, 17, 19, 37], []],
  [[], [7]],
  [[], []],
  [[1], [7]],
  [
    [1, 1, 1, 13],
    [2, 3, 3, 13],
  ],
  [
    [2, 3, 3, 13],
    [1, 1, 1, 13],
  ],
  [
    [1, 1, 1, 37],
    [3, 17, 19, 37],
  ],
  [
    [3, 17, 19, 37],
    [1, 1, 1, 37],
  ],
];

/** Broadcasts that are not a trailing repeat: the cpu kernel. */
const FALLBACK_SHAPES: [number[], number[]][] = [
  [
    [2, 1, 1, 13],
    [2, 3, 3, 13],
  ],
  [
    [2, 3, 3, 13],
    [2, 1, 1, 13],
  ],
  [
    [3, 1, 1, 37],
    [3, 17, 19, 37],
  ],
  [
    [3, 1],
    [1, 4],
  ],
  [[2, 3, 3, 1], [13]],
];

const shapes = (a: number[], b: number[]): string => `${JSON.stringify(a)} op ${JSON.stringify(b)}`;

// Not skipped without the addon: requireAddon fails loudly.
describe('oneDNN addon element-wise, concat/split and matmul kernels', () => {
  before(() => requireAddon());
  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    await tf.setBackend(ONEDNN_BACKEND);
  });

  describe('Add, Sub, Multiply, RealDiv', () => {
    for (const [kernel, , op] of BINARY) {
      it(`${kernel} matches cpu bit for bit on trailing broadcasts, natively (${NATIVE_SHAPES.length} shape pairs)`, async () => {
        for (const [as, bs] of NATIVE_SHAPES) {
          const { want, got, native } = await onBoth(() =>
            op(tf.tensor(values(as, 1), as), tf.tensor(values(bs, 2, kernel === 'RealDiv'), bs)),
          );
          assert.equal(native.binaryOp, 1, `${kernel} ${shapes(as, bs)}: native calls`);
          assertSameReads(got, want, `${kernel} ${shapes(as, bs)}`);
        }
      });

      it(`${kernel} falls back to the cpu kernel for other broadcasts and int32, with cpu's values`, async () => {
        for (const [as, bs] of FALLBACK_SHAPES) {
          const { want, got, native } = await onBoth(() =>
            op(tf.tensor(values(as, 3), as), tf.tensor(values(bs, 4, kernel === 'RealDiv'), bs)),
          );
          assert.equal(native.binaryOp, 0, `${kernel} ${shapes(as, bs)}: no native call`);
          assertSameReads(got, want, `${kernel} ${shapes(as, bs)}`);
        }
        // int32 through the kernel itself (tf.div of two int32 tensors runs FloorDiv, not RealDiv).
        for (const [as, bs] of [
          [
            [2, 3, 3, 13],
            [2, 3, 3, 13],
          ],
          [[2, 3, 3, 13], [13]],
        ] as [number[], number[]][]) {
          const int = (s: number[], seed: number): tf.Tensor =>
            tf.tensor(
              Int32Array.from(seeded(sizeOf(s), seed), (v) => Math.round(v * 10) || 1),
              s,
              'int32',
            );
          const { want, got, native } = await onBoth(() => tf.engine().runKernel(kernel, { a: int(as, 5), b: int(bs, 6) }) as tf.Tensor);
          assert.equal(native.binaryOp, 0, `int32 ${kernel} ${shapes(as, bs)}: no native call`);
          assertSameReads(got, want, `int32 ${kernel} ${shapes(as, bs)}`);
        }
      });
    }

    it('reads inputs that are views into a larger buffer (a contiguous slice) from their offset', async () => {
      for (const [kernel, , op] of BINARY) {
        const { want, got, native } = await onBoth(() => {
          const x = tf.tensor(values([4, 3, 5, 13], 7), [4, 3, 5, 13]);
          const y = tf.tensor(values([5, 3, 5, 13], 8, true), [5, 3, 5, 13]);
          const a = tf.slice(x, [1], [2]); // rows 1..2 of x: a subarray view
          const b = tf.slice(y, [3], [2]);
          return [op(a, b), op(a, tf.slice(tf.tensor1d(values([20], 9, true)), [7], [13]))];
        });
        assert.equal(native.binaryOp, 2, `${kernel}: native calls`);
        assertSameReads(got, want, `${kernel} on views`);
      }
    });

    it('the gradients of add, sub, mul and div through tf.grads match cpu', async () => {
      const pairs: [number[], number[]][] = [
        [
          [2, 3, 3, 13],
          [2, 3, 3, 13],
        ],
        [[2, 3, 3, 13], [13]],
        [[13], [2, 3, 3, 13]],
        [[], [3, 17, 19, 37]],
        [[3, 17, 19, 37], [37]],
      ];
      for (const [kernel, , op] of BINARY) {
        for (const [as, bs] of pairs) {
          const { want, got, native } = await onBoth(() => {
            const a = tf.tensor(seeded(sizeOf(as), 11), as);
            // Divisors kept away from zero: the value checks are exact, the gradient ones relative.
            const b = tf.tensor(
              seeded(sizeOf(bs), 12).map((v) => (v < 0 ? v - 0.5 : v + 0.5)),
              bs,
            );
            const outShape = tf.backend_util.assertAndGetBroadcastShape(as, bs);
            const r = tf.tensor(seeded(sizeOf(outShape), 13), outShape);
            return tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(op(x, y), r)))([a, b]);
          });
          assert.ok(native.binaryOp >= 2, `${kernel} ${shapes(as, bs)}: native calls ${native.binaryOp}`);
          assert.equal(got.length, 2);
          got.forEach((gotRead, i) => {
            assert.deepEqual(gotRead.shape, want[i]!.shape, `d${i} ${kernel} ${shapes(as, bs)}: shape`);
            assertClose(gotRead.values, want[i]!.values, `d${i} ${kernel} ${shapes(as, bs)}`, 1e-6);
          });
        }
      }
    });
  });

  describe('Relu and Step', () => {
    const special = (shape: number[]): tf.Tensor => {
      const v = seeded(sizeOf(shape), 21);
      const specials = [NaN, 0, -0, -1, -1e-30, 1e-30, Infinity, -Infinity, -1e-45, 3];
      for (let i = 0; i < v.length; i += 3) v[i] = specials[(i / 3) % specials.length]!;
      return tf.tensor(v, shape);
    };
    const SHAPES = [[1], [7], [13, 13], [3, 17, 19, 37]];

    it('relu matches cpu (NaN stays NaN; -0 may stay -0), natively', async () => {
      for (const shape of SHAPES) {
        const { want, got, native } = await onBoth(() => tf.relu(special(shape)));
        assert.equal(native.relu, 1, `relu [${shape}]: native calls`);
        assertSameReads(got, want, `relu [${shape}]`, true);
        // Every output is a zero, NaN, or the input itself.
        for (const v of got[0]!.values as Float32Array) assert.ok(!(v < 0), `relu [${shape}]: negative output ${v}`);
      }
    });

    it('step matches cpu for alpha 0, 0.3 and -2 (NaN stays NaN, ±0 gives alpha), natively', async () => {
      for (const shape of SHAPES) {
        for (const alpha of [0, 0.3, -2]) {
          const { want, got, native } = await onBoth(() => tf.step(special(shape), alpha));
          assert.equal(native.step, 1, `step [${shape}] alpha ${alpha}: native calls`);
          assertSameReads(got, want, `step [${shape}] alpha ${alpha}`);
        }
      }
    });

    it("relu's gradient (Step) matches cpu", async () => {
      for (const shape of SHAPES) {
        const { want, got, native } = await onBoth(() => {
          const x = special(shape);
          const r = tf.tensor(seeded(x.size, 22), shape);
          return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), r)))(x);
        });
        assert.equal(native.relu, 1, `relu grad [${shape}]: relu calls`);
        assert.equal(native.step, 1, `relu grad [${shape}]: step calls`);
        assertSameReads(got, want, `relu grad [${shape}]`);
      }
    });

    it('relu and step read inputs that are views (a contiguous slice) from their offset', async () => {
      const { want, got, native } = await onBoth(() => {
        const v = tf.slice(special([5, 3, 17, 19, 37]), [2], [2]);
        return [tf.relu(v), tf.step(v, 0.25)];
      });
      assert.equal(native.relu + native.step, 2, 'native calls');
      assertSameReads(got, want, 'relu, step on a view', true);
    });

    it('int32 relu and step fall back to the cpu kernel', async () => {
      const { want, got, native } = await onBoth(() => {
        const x = tf.tensor([-3, 0, 2, -1, 5], [5], 'int32');
        return [tf.relu(x), tf.step(x, 0.5)];
      });
      assert.equal(native.relu + native.step, 0, 'no native call');
      assertSameReads(got, want, 'int32 relu, step');
    });
  });

  describe('Concat and SplitV', () => {
    const CONCATS: { parts: number[][]; axis: number }[] = [
      {
        parts: [
          [2, 3, 3, 5],
          [2, 3, 3, 7],
          [2, 3, 3, 1],
        ],
        axis: 3,
      },
      {
        parts: [
          [2, 3, 3, 5],
          [2, 3, 3, 0],
          [2, 3, 3, 7],
        ],
        axis: 3,
      },
      {
        parts: [
          [2, 3, 3, 5],
          [2, 3, 3, 7],
        ],
        axis: -1,
      },
      {
        parts: [
          [3, 17, 19, 37],
          [3, 17, 19, 11],
          [3, 17, 19, 1],
        ],
        axis: 3,
      }, // above 2^15: OpenMP copies
      {
        parts: [
          [2, 4, 3],
          [2, 0, 3],
          [2, 5, 3],
          [2, 1, 3],
        ],
        axis: 1,
      },
      {
        parts: [
          [2, 4, 3, 5],
          [2, 9, 3, 5],
        ],
        axis: 1,
      },
      {
        parts: [
          [3, 4],
          [0, 4],
          [2, 4],
        ],
        axis: 0,
      },
      {
        parts: [
          [1, 3, 3, 5],
          [2, 3, 3, 5],
        ],
        axis: 0,
      },
      { parts: [[7], [13], [1]], axis: 0 },
    ];
    const label = (c: { parts: number[][]; axis: number }): string => `${c.parts.map((p) => `[${p}]`).join(' + ')} axis ${c.axis}`;
    const nonEmpty = (parts: number[][]): number => parts.filter((p) => sizeOf(p) > 0).length;

    it(`concat matches cpu exactly with one copyBlock per non-empty part (${CONCATS.length} cases)`, async () => {
      for (const c of CONCATS) {
        const { want, got, native } = await onBoth(() =>
          tf.concat(
            c.parts.map((s, i) => tf.tensor(seeded(sizeOf(s), 30 + i), s)),
            c.axis,
          ),
        );
        assert.equal(native.copyBlock, nonEmpty(c.parts), `${label(c)}: copyBlock calls`);
        assertSameReads(got, want, label(c));
      }
    });

    it('concat of views (contiguous slices) reads them from their offsets', async () => {
      const { want, got, native } = await onBoth(() => {
        const x = tf.tensor(seeded(6 * 3 * 5, 40), [6, 3, 5]);
        return tf.concat([tf.slice(x, [1], [2]), tf.slice(x, [4], [2]), tf.slice(x, [0], [2])], 2);
      });
      assert.equal(native.copyBlock, 3);
      assertSameReads(got, want, 'concat of views');
    });

    it('concat falls back to the cpu kernel for one non-empty part, and for int32', async () => {
      const cases: [string, () => tf.Tensor][] = [
        ['one non-empty part', () => tf.concat([tf.tensor(seeded(2 * 3 * 5, 41), [2, 3, 5]), tf.zeros([2, 3, 0])], 2)],
        ['int32', () => tf.concat([tf.tensor([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor([5, 6], [2, 1], 'int32')], 1)],
      ];
      for (const [what, f] of cases) {
        const { want, got, native } = await onBoth(f);
        assert.equal(native.copyBlock, 0, `${what}: no copyBlock`);
        assertSameReads(got, want, what);
      }
    });

    const SPLITS: { shape: number[]; sizes: number[] | number; axis: number }[] = [
      { shape: [2, 3, 3, 10], sizes: [2, 0, 5, 3], axis: 3 },
      { shape: [2, 3, 3, 10], sizes: [2, -1, 3], axis: 3 },
      { shape: [2, 3, 3, 10], sizes: [0, -1, 0], axis: -1 },
      { shape: [2, 3, 3, 12], sizes: 3, axis: 3 },
      { shape: [3, 17, 19, 49], sizes: [37, 11, 1], axis: 3 }, // above 2^15
      { shape: [2, 7, 3], sizes: [3, -1, 0], axis: 1 },
      { shape: [2, 7, 3, 5], sizes: [1, 0, 4, 2], axis: 1 },
      { shape: [2, 8, 3], sizes: 4, axis: 1 },
      { shape: [5, 4], sizes: [2, 0, 3], axis: 0 },
    ];

    it(`split (SplitV) matches cpu exactly with one copyBlock per output (${SPLITS.length} cases)`, async () => {
      for (const s of SPLITS) {
        const what = `split [${s.shape}] by ${JSON.stringify(s.sizes)} axis ${s.axis}`;
        const { want, got, native } = await onBoth(() => tf.split(tf.tensor(seeded(sizeOf(s.shape), 50), s.shape), s.sizes, s.axis));
        assert.equal(native.copyBlock, got.length, `${what}: copyBlock calls`);
        assertSameReads(got, want, what);
      }
    });

    it('the gradient of concat (a SplitV, zero-size parts included) matches cpu', async () => {
      for (const c of CONCATS) {
        const { want, got, native } = await onBoth(() => {
          const xs = c.parts.map((s, i) => tf.tensor(seeded(sizeOf(s), 60 + i), s));
          const outShape = c.parts[0]!.map((d, i) =>
            i === (c.axis + c.parts[0]!.length) % c.parts[0]!.length ? c.parts.reduce((a, p) => a + p[i]!, 0) : d,
          );
          const r = tf.tensor(seeded(sizeOf(outShape), 70), outShape);
          return tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(tf.concat(ys, c.axis), r)))(xs);
        });
        // The forward concat copies each non-empty part; the gradient's SplitV makes every part.
        assert.equal(native.copyBlock, nonEmpty(c.parts) + c.parts.length, `grad ${label(c)}: copyBlock calls`);
        assertSameReads(got, want, `grad ${label(c)}`);
      }
    });
  });

  describe('BatchMatMul', () => {
    interface MatMulCase {
      a: number[];
      b: number[];
      ta: boolean;
      tb: boolean;
    }
    /** Shapes of a and b for out [...batch, m, n] with inner size k, stored transposed per flag. */
    const shapesFor = (batchA: number[], batchB: number[], m: number, k: number, n: number, ta: boolean, tb: boolean): MatMulCase => ({
      a: [...batchA, ...(ta ? [k, m] : [m, k])],
      b: [...batchB, ...(tb ? [n, k] : [k, n])],
      ta,
      tb,
    });
    const FLAGS: [boolean, boolean][] = [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ];
    const CASES: MatMulCase[] = [];
    for (const [ta, tb] of FLAGS) {
      CASES.push(shapesFor([], [], 5, 7, 3, ta, tb));
      CASES.push(shapesFor([], [], 1, 1, 1, ta, tb));
      CASES.push(shapesFor([], [], 64, 300, 129, ta, tb));
      CASES.push(shapesFor([4], [4], 5, 7, 3, ta, tb));
      CASES.push(shapesFor([2, 3], [2, 3], 6, 13, 1, ta, tb));
      CASES.push(shapesFor([1], [4], 5, 7, 3, ta, tb));
      CASES.push(shapesFor([4], [1], 5, 7, 3, ta, tb));
      CASES.push(shapesFor([], [4], 5, 7, 3, ta, tb));
      CASES.push(shapesFor([4], [], 5, 7, 3, ta, tb));
    }
    const label = (c: MatMulCase): string => `[${c.a}]${c.ta ? 'ᵀ' : ''} x [${c.b}]${c.tb ? 'ᵀ' : ''}`;
    const operands = (c: MatMulCase): [tf.Tensor, tf.Tensor] => [
      tf.tensor(seeded(sizeOf(c.a), 80), c.a),
      tf.tensor(seeded(sizeOf(c.b), 81), c.b),
    ];

    it(`matMul matches cpu with one sgemm call (${CASES.length} cases: 2-D, 3-D, 4-D, batch broadcast, all transposes)`, async () => {
      for (const c of CASES) {
        const { want, got, native } = await onBoth(() => {
          const [a, b] = operands(c);
          return tf.matMul(a, b, c.ta, c.tb);
        });
        assert.equal(native.batchMatMul, 1, `${label(c)}: native calls`);
        assert.deepEqual(got[0]!.shape, want[0]!.shape, `${label(c)}: shape`);
        assertClose(got[0]!.values, want[0]!.values, label(c), 1e-5);
      }
    });

    it('matMul with mixed-rank batch dims gives the broadcast output shape, as cpu does', async () => {
      // The outer dims of the output are the broadcast of both outer shapes: [1] with [] is [1].
      const mixed: MatMulCase[] = [
        shapesFor([1], [], 4, 5, 3, false, false),
        shapesFor([1, 1], [1], 4, 5, 3, false, false),
        shapesFor([4], [1, 1], 4, 5, 3, false, false),
        shapesFor([1, 1], [3], 4, 5, 3, false, false),
      ];
      const failures: string[] = [];
      for (const c of mixed) {
        const { want, got } = await onBoth(() => {
          const [a, b] = operands(c);
          return tf.matMul(a, b, c.ta, c.tb);
        });
        if (JSON.stringify(got[0]!.shape) !== JSON.stringify(want[0]!.shape)) {
          failures.push(`${label(c)}: got [${got[0]!.shape}], cpu [${want[0]!.shape}]`);
          continue;
        }
        assertClose(got[0]!.values, want[0]!.values, label(c), 1e-5);
      }
      assert.deepEqual(failures, [], 'output shapes differ from cpu');
    });

    it('matMul with an empty batch ([0, m, k] x [0, k, n]) gives an empty [0, m, n], as cpu does', async () => {
      const empty = (): tf.Tensor => tf.matMul(tf.zeros([0, 2, 3]), tf.zeros([0, 3, 4]));
      await tf.setBackend('cpu');
      const want = tidyRead(empty);
      await tf.setBackend(ONEDNN_BACKEND);
      assert.deepEqual(want[0]!.shape, [0, 2, 4]);
      assertSameReads(tidyRead(empty), want, 'empty batch');
    });

    it('matMul falls back to the cpu kernel for other batch dims and int32', async () => {
      const cases: [string, () => tf.Tensor][] = [
        [
          '[2, 3] batch x [3] batch',
          () => tf.matMul(tf.tensor(seeded(2 * 3 * 4 * 5, 82), [2, 3, 4, 5]), tf.tensor(seeded(3 * 5 * 2, 83), [3, 5, 2])),
        ],
        ['int32', () => tf.matMul(tf.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), tf.tensor([1, -1, 2, 0, 3, 1], [3, 2], 'int32'))],
      ];
      for (const [what, f] of cases) {
        const { want, got, native } = await onBoth(f);
        assert.equal(native.batchMatMul, 0, `${what}: no native call`);
        assertSameReads(got, want, what);
      }
    });

    it('the gradients of matMul match cpu (2-D and 3-D, all transposes)', async () => {
      const gradCases = CASES.filter((c) => c.a.length === c.b.length && (c.a.length === 2 || c.a[0] === c.b[0]) && sizeOf(c.a) < 10_000);
      for (const c of gradCases) {
        const { want, got, native } = await onBoth(() => {
          const [a, b] = operands(c);
          const y = tf.matMul(a, b, c.ta, c.tb);
          const r = tf.tensor(seeded(y.size, 84), y.shape);
          return tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, w, c.ta, c.tb), r)))([a, b]);
        });
        // The first matMul above, tf.grads' own forward, and one per gradient.
        assert.equal(native.batchMatMul, 4, `grad ${label(c)}: native calls`);
        got.forEach((gotRead, i) => {
          assert.deepEqual(gotRead.shape, want[i]!.shape, `d${i} ${label(c)}: shape`);
          assertClose(gotRead.values, want[i]!.values, `d${i} ${label(c)}`, 1e-5);
        });
      }
    });
  });
});
