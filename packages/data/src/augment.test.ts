// Tests of makeBatch / labelsOf on real CIFAR-10 test images: normalisation, flip, crop, cutout,
// determinism from the rng state, and argument errors.
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { BATCH_IMAGE_FLOATS, CIFAR10_MEAN, CIFAR10_STD, labelsOf, makeBatch } from './augment.js';
import { readCifar10, type CifarSet } from './cifar10_reader.js';
import { Rng } from './rng.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides).
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));
let set: CifarSet;
before(async () => {
  set = await readCifar10(REAL_DIR, 'test');
});

/** Raw byte of image `i`, channel c, at (y, x) from the planar layout. */
const raw = (i: number, c: number, y: number, x: number): number => set.images[i * 3072 + c * 1024 + y * 32 + x]!;
/** Output float of batch image b, at (y, x), channel c from the NHWC layout. */
const at = (out: Float32Array, b: number, y: number, x: number, c: number): number => out[b * BATCH_IMAGE_FLOATS + (y * 32 + x) * 3 + c]!;
const norm = (v: number, c: number): number => Math.fround((v / 255 - CIFAR10_MEAN[c]!) / CIFAR10_STD[c]!);

test('without augmentation each value is (x / 255 - mean) / std, in NHWC order', () => {
  const indices = [0, 3, 9999];
  const out = makeBatch(set, indices, new Float32Array(3 * BATCH_IMAGE_FLOATS), { augment: null });
  for (const [b, i] of indices.entries()) {
    for (const [y, x] of [
      [0, 0],
      [0, 31],
      [13, 7],
      [31, 0],
      [31, 31],
    ] as const) {
      for (let c = 0; c < 3; c++) assert.equal(at(out, b, y, x, c), norm(raw(i, c, y, x), c), `image ${i} (${y},${x}) c${c}`);
    }
  }
  // Exact by construction: every float of image 0 comes from its byte.
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) assert.equal(out[p * 3 + c], norm(set.images[c * 1024 + p]!, c));
  // The value range of normalised bytes: 0 -> -mean/std, 255 -> (1-mean)/std.
  assert.ok(out.every((v) => v >= -2 && v <= 2.2));
});

test('a larger buffer serves a short batch; labelsOf gathers int32 labels', () => {
  const buffer = new Float32Array(4 * BATCH_IMAGE_FLOATS).fill(7);
  const view = makeBatch(set, Int32Array.from([1, 2]), buffer, { augment: null });
  assert.equal(view.length, 2 * BATCH_IMAGE_FLOATS);
  assert.equal(view.buffer, buffer.buffer);
  assert.equal(buffer[2 * BATCH_IMAGE_FLOATS], 7, 'floats past the batch are untouched');
  const labels = labelsOf(set, [0, 1, 2, 3], new Int32Array(6));
  assert.deepEqual([...labels], [3, 8, 8, 0]);
});

test('flip only: each image is either unchanged or mirrored left-right, and both occur', () => {
  const n = 64;
  const indices = Array.from({ length: n }, (_, k) => k);
  const plain = makeBatch(set, indices, new Float32Array(n * BATCH_IMAGE_FLOATS), { augment: null });
  const out = makeBatch(set, indices, new Float32Array(n * BATCH_IMAGE_FLOATS), {
    augment: { crop: 0, flip: true, cutout: 0 },
    rng: new Rng(3),
  });
  let flipped = 0;
  for (let b = 0; b < n; b++) {
    const img = out.subarray(b * BATCH_IMAGE_FLOATS, (b + 1) * BATCH_IMAGE_FLOATS);
    const same = img.every((v, k) => v === plain[b * BATCH_IMAGE_FLOATS + k]);
    let mirrored = true;
    for (let y = 0; y < 32 && mirrored; y++) {
      for (let x = 0; x < 32 && mirrored; x++) {
        for (let c = 0; c < 3; c++) if (at(out, b, y, x, c) !== at(plain, b, y, 31 - x, c)) mirrored = false;
      }
    }
    assert.ok(same !== mirrored, `image ${b} must be exactly one of unchanged / mirrored`);
    if (mirrored) flipped++;
  }
  assert.ok(flipped > 16 && flipped < 48, `${flipped} of ${n} flipped`);
});

test('crop only: each image is the original shifted by (dy, dx) in [-4, 4]^2 with zero-pixel padding', () => {
  const n = 32;
  const indices = Array.from({ length: n }, (_, k) => 100 + k);
  const out = makeBatch(set, indices, new Float32Array(n * BATCH_IMAGE_FLOATS), {
    augment: { crop: 4, flip: false, cutout: 0 },
    rng: new Rng(11),
  });
  const shifts = new Set<string>();
  for (const [b, i] of indices.entries()) {
    let found: string | null = null;
    for (let dy = -4; dy <= 4 && found === null; dy++) {
      for (let dx = -4; dx <= 4 && found === null; dx++) {
        let ok = true;
        for (let y = 0; y < 32 && ok; y++) {
          for (let x = 0; x < 32 && ok; x++) {
            const sy = y + dy;
            const sx = x + dx;
            const inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
            for (let c = 0; c < 3; c++) {
              // Padding is raw 0, normalised: -mean/std.
              const want = inside ? norm(raw(i, c, sy, sx), c) : norm(0, c);
              if (at(out, b, y, x, c) !== want) ok = false;
            }
          }
        }
        if (ok) found = `${dy},${dx}`;
      }
    }
    assert.ok(found !== null, `image ${i} is no shift of the original`);
    shifts.add(found);
  }
  assert.ok(shifts.size > 5, `only shifts ${[...shifts].join(' ')}`);
});

test('cutout zeroes one square of side <= L per image; the rest is untouched', () => {
  const n = 16;
  const indices = Array.from({ length: n }, (_, k) => k);
  const plain = makeBatch(set, indices, new Float32Array(n * BATCH_IMAGE_FLOATS), { augment: null });
  const out = makeBatch(set, indices, new Float32Array(n * BATCH_IMAGE_FLOATS), {
    augment: { crop: 0, flip: false, cutout: 8 },
    rng: new Rng(5),
  });
  for (let b = 0; b < n; b++) {
    let minY = 32,
      maxY = -1,
      minX = 32,
      maxX = -1,
      zeroed = 0;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const changed = [0, 1, 2].some((c) => at(out, b, y, x, c) !== at(plain, b, y, x, c));
        const zero = [0, 1, 2].every((c) => at(out, b, y, x, c) === 0);
        if (changed || (zero && [0, 1, 2].some((c) => at(plain, b, y, x, c) !== 0))) {
          assert.ok(zero, `image ${b} (${y},${x}) changed but is not zero`);
        }
        if (changed) {
          zeroed++;
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
        }
      }
    }
    assert.ok(zeroed > 0, `image ${b} has no cutout`);
    assert.ok(maxY - minY < 8 && maxX - minX < 8, `image ${b} cutout spans too much`);
  }
});

test('the output depends only on the rng state: same state, same batch; state saved mid-way resumes', () => {
  const augment = { crop: 4, flip: true, cutout: 16 };
  const indices = [5, 6, 7, 8];
  const a = new Rng(99);
  const b = Rng.fromState(a.getState());
  const x1 = makeBatch(set, indices, new Float32Array(4 * BATCH_IMAGE_FLOATS), { augment, rng: a });
  const x2 = makeBatch(set, indices, new Float32Array(4 * BATCH_IMAGE_FLOATS), { augment, rng: b });
  assert.deepEqual(x1, x2);
  const state = a.getState();
  const next1 = makeBatch(set, indices, new Float32Array(4 * BATCH_IMAGE_FLOATS), { augment, rng: a });
  const next2 = makeBatch(set, indices, new Float32Array(4 * BATCH_IMAGE_FLOATS), { augment, rng: Rng.fromState(state) });
  assert.deepEqual(next1, next2);
  assert.notDeepEqual(next1, x1, 'the next batch draws new augmentations');
});

test('bad arguments are DataArgumentErrors naming the argument', () => {
  const out = new Float32Array(BATCH_IMAGE_FLOATS);
  assert.throws(() => makeBatch(set, [0, 1], out, { augment: null }), {
    name: 'DataArgumentError',
    code: 'DATA_INVALID_ARGUMENT',
    argument: 'out',
    message: '`out` passed to `makeBatch` must be a Float32Array of at least 6144 elements for 2 images, but got 3072',
  });
  assert.throws(() => makeBatch(set, [10_000], out, { augment: null }), {
    argument: 'indices[0]',
    message: '`indices[0]` passed to `makeBatch` must be an integer in [0, 10000), but got 10000',
  });
  assert.throws(() => makeBatch(set, [0], out, { augment: { crop: 4, flip: true, cutout: 0 } }), {
    argument: 'rng',
    message: '`rng` passed to `makeBatch` must be an Rng when `augment` is set, but got undefined',
  });
  assert.throws(() => makeBatch(set, [0], out, { augment: { crop: -1, flip: false, cutout: 0 }, rng: new Rng(1) }), {
    argument: 'augment.crop',
    message: '`augment.crop` passed to `makeBatch` must be an integer in [0, 32], but got -1',
  });
  assert.throws(() => labelsOf(set, [0, 1], new Int32Array(1)), {
    argument: 'out',
    message: '`out` passed to `labelsOf` must be an Int32Array of at least 2 elements for 2 images, but got 1',
  });
});
