// The addon loader (a reason, never a throw, when the addon cannot load) and the addon's own
// surface: what it reports, its thread and cache controls, and the errors for bad arguments.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, before } from 'node:test';
import { explainLoadError, loadAddonAt, loadNativeAddon } from './native_addon.js';
import { requireAddon } from './testing/require_addon.js';

describe('loadAddonAt', () => {
  const dir = mkdtempSync(join(tmpdir(), 'native-cpu-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says how to build the addon when it is missing', () => {
    const path = join(dir, 'absent.node');
    const load = loadAddonAt(path);
    assert.equal(load.addon, null);
    assert.equal(
      load.reason,
      `the oneDNN addon is not built (${path} is missing): install libdnnl-dev and run \`npm run build:native -w @gnet/native-cpu\``,
    );
  });

  it('reports a file that is not a loadable addon', () => {
    const path = join(dir, 'garbage.node');
    writeFileSync(path, 'not an ELF file');
    const load = loadAddonAt(path);
    assert.equal(load.addon, null);
    assert.match(load.reason!, /^the oneDNN addon failed to load: /);
  });

  it('names the package to install when libdnnl is absent', () => {
    // The message dlopen gives when libdnnl.so.2 is not on the loader path.
    const err = Object.assign(new Error('libdnnl.so.2: cannot open shared object file: No such file or directory'), {
      code: 'ERR_DLOPEN_FAILED',
    });
    assert.equal(
      explainLoadError(err, '/x/onednn_addon.node'),
      'oneDNN is not installed (libdnnl.so.2: cannot open shared object file: No such file or directory): install libdnnl2 (Debian: apt-get install libdnnl2)',
    );
  });
});

const { addon } = loadNativeAddon();

// Not skipped without the addon: requireAddon fails loudly.
describe('the oneDNN addon', () => {
  before(() => requireAddon());
  const a = addon!;
  // x [1, 4, 4, 2] * filter [3, 3, 2, 3], 'same': y [1, 4, 4, 3].
  const shape = Int32Array.of(1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1);
  const x = new Float32Array(32).fill(1);
  const filter = new Float32Array(54).fill(1);

  it('is loaded once per thread', () => {
    assert.equal(loadNativeAddon().addon, a);
  });

  it("reports oneDNN's version, ISA, runtime and threads", () => {
    const info = a.info();
    assert.match(info.version, /^\d+\.\d+\.\d+$/);
    assert.match(info.isa, /^(sse41|avx|avx2|avx2_vnni|avx512_\w+)$/);
    assert.ok(['omp', 'tbb', 'seq', 'threadpool'].includes(info.cpuRuntime), info.cpuRuntime);
    assert.ok(info.maxThreads >= (info.cpuRuntime === 'omp' ? 1 : 0));
  });

  it(
    'sets the OpenMP thread count, with primitives made for the new count',
    { skip: a.info().cpuRuntime !== 'omp' && 'oneDNN is not on OpenMP here' },
    () => {
      const before = a.info().maxThreads;
      const y = new Float32Array(48);
      try {
        a.setNumThreads(2);
        a.conv2dForward(shape, x, filter, null, false, y);
        assert.equal(a.setNumThreads(1), 1);
        assert.equal(a.info().maxThreads, 1);
        // oneDNN splits a JIT kernel's work for the thread count at creation: a new primitive.
        const misses = a.cacheStats().misses;
        a.conv2dForward(shape, x, filter, null, false, y);
        assert.equal(a.cacheStats().misses, misses + 1);
      } finally {
        a.setNumThreads(before);
      }
      assert.throws(() => a.setNumThreads(0), {
        code: 'ONEDNN_BAD_ARGUMENT',
        message: '`threads` passed to setNumThreads must be a positive integer',
      });
    },
  );

  it('computes a convolution in place', () => {
    const y = new Float32Array(48);
    a.conv2dForward(shape, x, filter, null, false, y);
    // A corner sees 2x2 pixels of 2 channels of ones; an edge 2x3; the middle 3x3.
    assert.deepEqual([y[0], y[3], y[15], y[5 * 3]], [8, 12, 18, 18]);
    const biased = new Float32Array(48);
    a.conv2dForward(shape, x, filter, Float32Array.of(-10, -20, 0), true, biased);
    assert.deepEqual([...biased.subarray(0, 3)], [0, 0, 8]); // relu(8 - 10), relu(8 - 20), 8
  });

  it('rejects arrays of the wrong length or type, and inconsistent shapes', () => {
    assert.throws(() => a.conv2dForward(shape, x, filter, null, false, new Float32Array(3)), {
      name: 'Error',
      code: 'ONEDNN_BAD_ARGUMENT',
      message: '`y` passed to conv2dForward must have 48 elements, but got 3',
    });
    assert.throws(() => a.conv2dBackwardData(shape, new Float32Array(48), new Float64Array(54) as never, new Float32Array(32)), {
      code: 'ONEDNN_BAD_ARGUMENT',
      message: '`filter` passed to conv2dBackwardData must be a Float32Array',
    });
    const wrongOut = Int32Array.of(1, 4, 4, 2, 5, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1);
    assert.throws(() => a.conv2dForward(wrongOut, x, filter, null, false, new Float32Array(60)), {
      code: 'ONEDNN_BAD_ARGUMENT',
      message: 'conv shape [n=1, 4x4x2] * [3x3] stride 1x1 pads t1 l1 b1 r1 does not give the output 5x4x3',
    });
    assert.throws(() => (a.conv2dBackwardWeights as (...args: unknown[]) => void)(shape, x), {
      code: 'ONEDNN_BAD_ARGUMENT',
      message: 'conv2dBackwardWeights takes 4 arguments, but got 2',
    });
  });

  it('keeps at most the cache capacity of primitives, least recently used out first', () => {
    const before = a.cacheStats();
    try {
      a.setCacheCapacity(2);
      assert.equal(a.cacheStats().size, 2);
      const y = new Float32Array(48);
      const dw = new Float32Array(54);
      a.conv2dForward(shape, x, filter, null, false, y); // entry 1
      a.conv2dBackwardWeights(shape, x, y, dw); // entry 2
      a.conv2dForward(shape, x, filter, null, true, y); // entry 3 (ReLU): evicts entry 1
      const s = a.cacheStats();
      assert.equal(s.size, 2);
      a.conv2dBackwardWeights(shape, x, y, dw); // still cached
      assert.equal(a.cacheStats().hits, s.hits + 1);
      a.conv2dForward(shape, x, filter, null, false, y); // was evicted
      assert.equal(a.cacheStats().misses, s.misses + 1);
    } finally {
      a.setCacheCapacity(before.capacity);
    }
  });

  describe('pooling', () => {
    // x [1, 3, 3, 1] = 1..9, 2x2 windows, stride 1, 'same' (TF pads 0 top/left, 1 bottom/right): y [1, 3, 3, 1].
    const pool = Int32Array.of(1, 3, 3, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1);
    const px = Float32Array.from({ length: 9 }, (_, i) => i + 1);

    it('computes max and padding-excluding average pools in place', () => {
      const y = new Float32Array(9);
      a.pool2dForward(pool, true, px, y);
      assert.deepEqual([...y], [5, 6, 6, 8, 9, 9, 8, 9, 9]);
      a.pool2dForward(pool, false, px, y);
      assert.deepEqual([...y], [3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9]); // the last column and row average fewer elements
    });

    it("sends each dy to its window's first maximum, and averages back over input elements only", () => {
      const dx = new Float32Array(9);
      a.maxPool2dBackward(pool, new Float32Array(9).fill(-1), new Float32Array(9).fill(1), dx);
      // All equal: every window's first element, its top-left, takes the whole dy.
      assert.deepEqual([...dx], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
      a.avgPool2dBackward(pool, new Float32Array(9).fill(1), dx);
      // dx[0] is in one window of 4; dx[8] in windows of 4, 2, 2 and 1 elements.
      assert.equal(dx[0], 1 / 4);
      assert.equal(dx[8], 1 / 4 + 1 / 2 + 1 / 2 + 1);
    });

    it('rejects arrays of the wrong length, inconsistent shapes, and pads as wide as the window', () => {
      assert.throws(() => a.pool2dForward(pool, true, px, new Float32Array(4)), {
        code: 'ONEDNN_BAD_ARGUMENT',
        message: '`y` passed to pool2dForward must have 9 elements, but got 4',
      });
      assert.throws(() => a.pool2dForward(Int32Array.of(1, 3, 3, 1, 4, 3, 2, 2, 1, 1, 0, 0, 1, 1), true, px, new Float32Array(12)), {
        code: 'ONEDNN_BAD_ARGUMENT',
        message:
          'pool shape [n=1, 3x3x1] window 2x2 stride 1x1 pads t0 l0 b1 r1 does not give the output 4x3 (or a pad is not smaller than the window)',
      });
      assert.throws(
        () => a.avgPool2dBackward(Int32Array.of(1, 3, 3, 1, 5, 3, 2, 2, 1, 1, 2, 0, 1, 1), new Float32Array(15), new Float32Array(9)),
        {
          code: 'ONEDNN_BAD_ARGUMENT',
          message:
            'pool shape [n=1, 3x3x1] window 2x2 stride 1x1 pads t2 l0 b1 r1 does not give the output 5x3 (or a pad is not smaller than the window)',
        },
      );
      assert.throws(() => (a.maxPool2dBackward as (...args: unknown[]) => void)(pool, px), {
        code: 'ONEDNN_BAD_ARGUMENT',
        message: 'maxPool2dBackward takes 4 arguments, but got 2',
      });
    });

    it('caches its primitives apart from the convolutions, within the same capacity', () => {
      const before = a.poolCacheStats();
      const convs = a.cacheStats();
      const y = new Float32Array(9);
      a.pool2dForward(pool, true, px, y);
      a.pool2dForward(pool, true, px, y);
      assert.equal(a.poolCacheStats().hits + a.poolCacheStats().misses, before.hits + before.misses + 2);
      assert.deepEqual(a.cacheStats(), convs);
      try {
        a.setCacheCapacity(1);
        assert.equal(a.poolCacheStats().size, 1);
        assert.equal(a.poolCacheStats().capacity, 1);
      } finally {
        a.setCacheCapacity(before.capacity);
      }
    });
  });
});
