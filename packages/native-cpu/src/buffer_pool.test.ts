// BufferPool (buffer_pool.ts) on its own: arrays below the pooled minimum are plain and never
// recycled, lengths round up to size classes, release-then-take hands back the same buffer (for
// any length of its class), the capacity drops what does not fit, a
// second registration or a view marks a buffer shared (never reused), isRecyclable, clear. Then on
// the 'onednn' backend: a disposed kernel output's buffer serves the next same-size output;
// dataSync()/data() of a pooled tensor is a copy that later reuse does not touch; a slice (a view),
// a reshape (a second handle) and a tensor moved to the cpu backend keep their values while the
// pool recycles; and a relu/add/concat/split/matMul loop in tf.tidy leaks no tensor and, once
// warm, allocates no new buffer.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BufferPool, sizeClass } from './buffer_pool.js';
import { ONEDNN_BACKEND, OneDnnBackend, registerOneDnnBackend } from './onednn_backend.js';
import { seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

/** buffer_pool.ts's POOLED_MIN (not exported): arrays shorter than this are left to the GC. */
const MIN = 16 * 1024;
const BYTES = MIN * Float32Array.BYTES_PER_ELEMENT;

describe('BufferPool', () => {
  it('hands out plain arrays below the pooled minimum, pooled ones from it on', () => {
    const pool = new BufferPool(1 << 30);
    const small = pool.take(MIN - 1);
    assert.ok(small instanceof Float32Array);
    assert.equal(small.length, MIN - 1);
    assert.equal(pool.isRecyclable(small), false);
    assert.equal(pool.stats.allocated, 0);
    pool.release(small);
    assert.equal(pool.stats.returned, 0);
    assert.equal(pool.heldBytes, 0);

    const big = pool.take(MIN);
    assert.equal(big.length, MIN);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, BYTES); // its own buffer: reusing it frees no one else's
    assert.equal(pool.isRecyclable(big), true);
    assert.equal(pool.stats.allocated, 1);
  });

  it('rounds lengths up to four classes per power of two', () => {
    assert.equal(sizeClass(MIN), MIN);
    assert.equal(sizeClass(MIN + 1), MIN * 1.25);
    assert.equal(sizeClass(MIN * 1.25), MIN * 1.25);
    assert.equal(sizeClass(MIN * 1.75 + 1), MIN * 2);
    assert.equal(sizeClass(6_291_456), 6_291_456); // 32x32x32x192: 1.5 * 2^22
    for (const n of [MIN + 1, 99_999, 1_234_567, 6_291_457]) {
      assert.ok(sizeClass(n) >= n && sizeClass(n) <= 1.25 * n, `class of ${n}: ${sizeClass(n)}`);
    }
  });

  it('release then take of a length in the same class reuses the same buffer', () => {
    const pool = new BufferPool(1 << 30);
    const a = pool.take(MIN + 7);
    assert.equal(a.length, MIN + 7);
    assert.equal(a.buffer.byteLength, sizeClass(MIN + 7) * 4);
    pool.noteStored(a);
    pool.release(a);
    assert.equal(pool.stats.returned, 1);
    assert.equal(pool.heldBytes, a.buffer.byteLength);
    assert.equal(pool.isRecyclable(a), false, 'not recyclable while it waits in the pool');
    assert.notEqual(pool.take(MIN * 2).buffer, a.buffer, 'another class gets another buffer');
    const b = pool.take(MIN + 100);
    assert.equal(b.buffer, a.buffer);
    assert.equal(b.length, MIN + 100);
    assert.equal(pool.stats.reused, 1);
    assert.equal(pool.heldBytes, 0);
    assert.equal(pool.isRecyclable(b), true);
    assert.equal(pool.isRecyclable(a), false, 'the old view is not the owner any more');
    assert.notEqual(pool.take(MIN + 7).buffer, a.buffer, 'handed out once only');
  });

  it('releasing the same array twice pools it once', () => {
    const pool = new BufferPool(1 << 30);
    const a = pool.take(MIN);
    pool.release(a);
    pool.release(a);
    assert.equal(pool.stats.returned, 1);
    assert.equal(pool.heldBytes, BYTES);
    assert.equal(pool.take(MIN).buffer, a.buffer);
    assert.notEqual(pool.take(MIN).buffer, a.buffer);
  });

  it('drops what does not fit in its capacity', () => {
    const pool = new BufferPool(1.5 * BYTES);
    const [a, b] = [pool.take(MIN), pool.take(MIN)];
    pool.release(a);
    pool.release(b);
    assert.equal(pool.stats.returned, 1);
    assert.equal(pool.stats.dropped, 1);
    assert.equal(pool.heldBytes, BYTES);
    assert.equal(pool.take(MIN).buffer, a.buffer);
    assert.notEqual(pool.take(MIN).buffer, b.buffer, 'b went to the GC');

    const none = new BufferPool(0);
    none.release(none.take(MIN));
    assert.equal(none.stats.dropped, 1);
    assert.equal(none.heldBytes, 0);
  });

  it('a second registration marks the buffer shared: never reused', () => {
    const pool = new BufferPool(1 << 30);
    const a = pool.take(MIN);
    pool.noteStored(a);
    assert.equal(pool.isRecyclable(a), true, 'one registration is the normal case');
    assert.equal(pool.stats.shared, 0);
    pool.noteStored(a);
    assert.equal(pool.stats.shared, 1);
    assert.equal(pool.isRecyclable(a), false);
    pool.release(a);
    assert.equal(pool.stats.returned, 0);
    assert.equal(pool.heldBytes, 0);
    assert.notEqual(pool.take(MIN).buffer, a.buffer);
  });

  it('a view of a pooled buffer marks it shared, whole-length views too', () => {
    for (const view of [
      (a: Float32Array) => a.subarray(5, 100),
      (a: Float32Array) => a.subarray(0),
      (a: Float32Array) => new Float32Array(a.buffer),
    ]) {
      const pool = new BufferPool(1 << 30);
      const a = pool.take(MIN);
      pool.noteStored(a);
      const v = view(a);
      pool.noteStored(v);
      assert.equal(pool.stats.shared, 1);
      assert.equal(pool.isRecyclable(a), false);
      assert.equal(pool.isRecyclable(v), false);
      pool.release(v);
      pool.release(a);
      assert.equal(pool.stats.returned, 0);
      assert.notEqual(pool.take(MIN).buffer, a.buffer);
    }
    // A view stored before the array itself.
    const pool = new BufferPool(1 << 30);
    const a = pool.take(MIN);
    pool.noteStored(a.subarray(1));
    assert.equal(pool.isRecyclable(a), false);
  });

  it('ignores arrays it did not hand out, and non-views', () => {
    const pool = new BufferPool(1 << 30);
    const foreign = new Float32Array(MIN);
    pool.noteStored(foreign);
    pool.noteStored(foreign);
    pool.noteStored(['a', 'b']);
    pool.noteStored(null);
    assert.equal(pool.stats.shared, 0);
    assert.equal(pool.isRecyclable(foreign), false);
    assert.equal(pool.isRecyclable(new Int32Array(MIN)), false);
    assert.equal(pool.isRecyclable(undefined), false);
    pool.release(foreign);
    assert.equal(pool.stats.returned, 0);
    assert.notEqual(pool.take(MIN), foreign);
  });

  it('clear drops every pooled buffer', () => {
    const pool = new BufferPool(1 << 30);
    const a = pool.take(MIN);
    pool.release(a);
    pool.clear();
    assert.equal(pool.heldBytes, 0);
    assert.notEqual(pool.take(MIN).buffer, a.buffer);
    assert.equal(pool.stats.allocated, 2);
  });
});

// Not skipped without the addon: requireAddon fails loudly.
describe("the 'onednn' backend's buffer pool", () => {
  let backend: OneDnnBackend;
  const SHAPE = [64, 64, 64]; // 262,144 elements: pooled
  const x = (seed: number): tf.Tensor =>
    tf.tensor(
      seeded(
        SHAPE.reduce((a, b) => a * b),
        seed,
      ),
      SHAPE,
    );
  /** The backend's own storage of `t` (what the kernels read and the pool recycles). */
  const storage = (t: tf.Tensor): Float32Array => backend.data.get(t.dataId)!.values as Float32Array;

  before(() => requireAddon());
  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    await tf.setBackend(ONEDNN_BACKEND);
    const b = tf.backend();
    assert.ok(b instanceof OneDnnBackend);
    backend = b;
  });

  it('a disposed kernel output serves the next output of its size', () => {
    const input = x(1);
    const y = tf.relu(input);
    const values = storage(y);
    assert.equal(backend.pool.isRecyclable(values), true);
    y.dispose();
    const { reused, returned } = backend.pool.stats;
    assert.ok(returned > 0);
    const y2 = tf.relu(input);
    assert.equal(backend.pool.stats.reused, reused + 1);
    assert.equal(storage(y2).buffer, values.buffer);
    tf.dispose([input, y2]);
  });

  it('dataSync() and data() of a pooled tensor are copies that later reuse does not touch', async () => {
    const input = x(2);
    const y = tf.relu(input);
    const values = storage(y);
    const synced = y.dataSync() as Float32Array;
    const read = (await y.data()) as Float32Array;
    assert.notEqual(synced, values);
    assert.notEqual(synced.buffer, values.buffer);
    assert.notEqual(read.buffer, values.buffer);
    const want = Float32Array.from(values);
    y.dispose();
    const negated = tf.neg(input);
    const z = tf.relu(negated); // other values, into y's buffer
    assert.equal(storage(z).buffer, values.buffer, "z reuses y's buffer");
    assert.deepEqual(synced, want);
    assert.deepEqual(read, want);
    tf.dispose([input, negated, z]);
  });

  it('a slice (a view of the buffer) keeps its values after the original is disposed', () => {
    const input = x(3);
    const y = tf.relu(input);
    const values = storage(y);
    const { shared } = backend.pool.stats;
    const s = tf.slice(y, [0], [32]); // contiguous: cpu's Slice returns a subarray view
    assert.equal(storage(s).buffer, values.buffer, 'the slice is a view into y');
    assert.equal(backend.pool.stats.shared, shared + 1, 'the view marks the buffer shared');
    const want = Float32Array.from(s.dataSync());
    const { returned } = backend.pool.stats;
    y.dispose();
    assert.equal(backend.pool.stats.returned, returned, "y's shared buffer is not pooled");
    const others = [1, 2, 3, 4].map((i) => tf.relu(tf.mul(input, -i)));
    for (const other of others) assert.notEqual(storage(other).buffer, values.buffer);
    assert.deepEqual(s.dataSync(), want);
    s.dispose();
    assert.equal(backend.pool.stats.returned, returned, 'nor when its view goes');
    tf.dispose([input, ...others]);
  });

  it('a reshape (a second handle on the same data) keeps the buffer until both are disposed', () => {
    const input = x(4);
    const y = tf.relu(input);
    const values = storage(y);
    const r = tf.reshape(y, [64 * 64, 64]);
    const want = Float32Array.from(values);
    const { returned } = backend.pool.stats;
    y.dispose();
    assert.equal(backend.pool.stats.returned, returned);
    const z = tf.relu(tf.neg(input));
    assert.notEqual(storage(z).buffer, values.buffer);
    assert.deepEqual(r.dataSync(), want);
    r.dispose();
    assert.equal(backend.pool.stats.returned, returned + 1);
    tf.dispose([input, z]);
  });

  it('a tensor moved to the cpu backend keeps its values when its old buffer is reused', async () => {
    const input = x(5);
    const y = tf.relu(input);
    const values = storage(y);
    const want = Float32Array.from(values);
    await tf.setBackend('cpu');
    try {
      tf.add(y, 1).dispose(); // moves y's data to cpu, disposing it here
    } finally {
      await tf.setBackend(ONEDNN_BACKEND);
    }
    const z = tf.relu(tf.neg(input));
    assert.equal(storage(z).buffer, values.buffer, "z reuses y's old buffer");
    assert.deepEqual(y.dataSync(), want);
    tf.dispose([input, y, z]);
  });

  it('a relu/add/concat/split/matMul loop in tf.tidy leaks no tensor and, once warm, allocates nothing', () => {
    const a = tf.tensor(seeded(4 * 64 * 64, 6), [4, 64, 64]); // 16,384 elements: just pooled
    const b = tf.tensor(seeded(64, 7), [64]);
    const w = tf.tensor(seeded(64 * 64, 8), [64, 64]);
    const step = (): void => {
      tf.tidy(() => {
        const h = tf.relu(tf.add(a, b));
        const c = tf.concat([h, tf.mul(h, 2), tf.sub(h, a)], 2);
        const [p, q] = tf.split(c, [64, -1], 2) as [tf.Tensor, tf.Tensor];
        const m = tf.matMul(tf.reshape(p, [4 * 64, 64]), w);
        tf.sum(tf.div(tf.add(m, tf.reshape(p, [4 * 64, 64])), 3)).dataSync();
        tf.sum(q).dataSync();
      });
    };
    step();
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const allocated = backend.pool.stats.allocated;
    for (let i = 0; i < 50; i++) {
      step();
      assert.equal(tf.memory().numTensors, tensors, `iteration ${i}: tensors`);
      assert.equal(tf.memory().numBytes, bytes, `iteration ${i}: bytes`);
    }
    assert.equal(backend.pool.stats.allocated, allocated, 'every pooled output reused a buffer');
    tf.dispose([a, b, w]);
  });
});
