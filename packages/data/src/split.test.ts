// Tests of stratifiedSplit on the real CIFAR-10 training labels and on small property cases.
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readCifar10 } from './cifar10_reader.js';
import { stratifiedSplit } from './split.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides).
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

function isSortedAscending(a: Int32Array): boolean {
  for (let i = 1; i < a.length; i++) if (a[i - 1]! >= a[i]!) return false;
  return true;
}

test('CIFAR-10 train, 500 per class: 45,000 / 5,000, balanced, disjoint, sorted, deterministic', async () => {
  const { labels } = await readCifar10(REAL_DIR, 'train');
  const { train, val } = stratifiedSplit(labels, 500, 1234);
  assert.equal(train.length, 45_000);
  assert.equal(val.length, 5_000);
  assert.ok(isSortedAscending(train) && isSortedAscending(val));
  const perClass = new Array<number>(10).fill(0);
  for (const i of val) perClass[labels[i]!]!++;
  assert.deepEqual(perClass, new Array(10).fill(500));
  const seen = new Uint8Array(labels.length);
  for (const i of train) seen[i]!++;
  for (const i of val) seen[i]!++;
  assert.ok(
    seen.every((s) => s === 1),
    'every index is in exactly one side',
  );
  const again = stratifiedSplit(labels, 500, 1234);
  assert.deepEqual(again.val, val);
  assert.deepEqual(again.train, train);
  const other = stratifiedSplit(labels, 500, 1235);
  assert.notDeepEqual(other.val, val);
  // Not just the first 500 of each class: the sample spreads over the five batches.
  assert.ok(val[val.length - 1]! > 40_000 && val[0]! < 10_000);
});

test('property: each class contributes exactly valPerClass; the split is a partition', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 200 }), fc.nat(5), fc.integer(), (raw, want, seed) => {
      const labels = Uint8Array.from(raw);
      const counts = new Map<number, number>();
      for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
      const valPerClass = Math.min(want, ...counts.values());
      const { train, val } = stratifiedSplit(labels, valPerClass, seed);
      const valCounts = new Map<number, number>();
      for (const i of val) valCounts.set(labels[i]!, (valCounts.get(labels[i]!) ?? 0) + 1);
      for (const c of counts.keys()) assert.equal(valCounts.get(c) ?? 0, valPerClass);
      assert.equal(train.length + val.length, labels.length);
      assert.deepEqual(
        [...train, ...val].sort((a, b) => a - b),
        [...labels.keys()],
      );
      assert.ok(isSortedAscending(train) && isSortedAscending(val));
    }),
  );
});

test('bad arguments are DataArgumentErrors naming the argument', () => {
  const labels = Uint8Array.from([0, 0, 0, 1, 1]);
  assert.throws(() => stratifiedSplit(labels, 3, 0), {
    name: 'DataArgumentError',
    code: 'DATA_INVALID_ARGUMENT',
    argument: 'valPerClass',
    message: '`valPerClass` passed to `stratifiedSplit` must be at most the size of every class, but got 3 and class 1 has 2 examples',
  });
  assert.throws(() => stratifiedSplit(labels, -1, 0), {
    name: 'DataArgumentError',
    argument: 'valPerClass',
    message: '`valPerClass` passed to `stratifiedSplit` must be a non-negative integer, but got -1',
  });
  assert.throws(() => stratifiedSplit(labels, 1, 0.5), { name: 'DataArgumentError', argument: 'seed' });
});
