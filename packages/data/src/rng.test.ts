// Tests of the xoshiro128** generator and deriveSeed: known answers from the reference C code,
// determinism, state round-trip, range and rough uniformity.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DataArgumentError } from './errors.js';
import { deriveSeed, Rng } from './rng.js';

test('matches the reference xoshiro128starstar.c from state {1, 2, 3, 4}', () => {
  // Expected values printed by the reference C code (gcc) from s = {1, 2, 3, 4}.
  const rng = Rng.fromState([1, 2, 3, 4]);
  assert.deepEqual(
    Array.from({ length: 6 }, () => rng.nextUint32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
  assert.deepEqual(rng.getState(), [1110993931, 286554632, 2431677446, 2165318166]);
});

test('the same seed gives the same stream; different seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.nextUint32());
  const sb = Array.from({ length: 100 }, () => b.nextUint32());
  const sc = Array.from({ length: 100 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('getState / fromState resume the exact stream (property)', () => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(50), (seed, skip) => {
      const rng = new Rng(seed);
      for (let i = 0; i < skip; i++) rng.next();
      const state = rng.getState();
      const copy = Rng.fromState(JSON.parse(JSON.stringify(state)) as number[]);
      for (let i = 0; i < 20; i++) assert.equal(copy.nextUint32(), rng.nextUint32());
      assert.ok(state.every((word) => Number.isInteger(word) && word >= 0 && word < 2 ** 32));
    }),
  );
});

test('next() is in [0, 1) and int(n) in [0, n) with every value reached', () => {
  const rng = new Rng(7);
  let sum = 0;
  for (let i = 0; i < 20_000; i++) {
    const x = rng.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / 20_000 - 0.5) < 0.01, `mean ${sum / 20_000}`);
  const counts = new Array<number>(9).fill(0);
  for (let i = 0; i < 9_000; i++) counts[rng.int(9)]!++;
  // 1,000 expected per bucket; 5 sigma is about 150.
  for (const c of counts) assert.ok(Math.abs(c - 1000) < 150, `counts ${counts.join(',')}`);
  assert.equal(rng.int(1), 0);
  assert.ok(rng.int(2 ** 32) < 2 ** 32);
});

test('bad arguments are DataArgumentErrors naming the argument', () => {
  assert.throws(() => new Rng(0).int(0), {
    name: 'DataArgumentError',
    code: 'DATA_INVALID_ARGUMENT',
    argument: 'n',
    message: '`n` passed to `Rng.int` must be an integer in [1, 2^32], but got 0',
  });
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), {
    name: 'DataArgumentError',
    argument: 'state',
    message: '`state` passed to `Rng.fromState` must be four unsigned 32-bit integers, not all zero, but got [0,0,0,0]',
  });
  assert.throws(() => Rng.fromState([1, 2, 3]), DataArgumentError);
  assert.throws(() => Rng.fromState([1, 2, 3, 2 ** 32]), DataArgumentError);
  assert.throws(() => new Rng(1.5), {
    name: 'DataArgumentError',
    argument: 'seed',
    message: '`seed` passed to `Rng` must be a safe integer, but got 1.5',
  });
});

test('deriveSeed is deterministic, order-sensitive and spreads nearby inputs', () => {
  assert.equal(deriveSeed(1234, 3, 1), deriveSeed(1234, 3, 1));
  assert.notEqual(deriveSeed(1234, 3, 1), deriveSeed(1234, 1, 3));
  assert.notEqual(deriveSeed(1234), deriveSeed(1234, 0));
  assert.notEqual(deriveSeed(1234, 0), deriveSeed(1234, 0, 0));
  // A grid of (seed, epoch, rank) gives no collisions.
  const seen = new Set<number>();
  for (let seed = 0; seed < 8; seed++) {
    for (let epoch = 0; epoch < 50; epoch++) {
      for (let rank = 0; rank < 16; rank++) seen.add(deriveSeed(seed, epoch, rank));
    }
  }
  assert.equal(seen.size, 8 * 50 * 16);
  // The high word of a large seed matters.
  assert.notEqual(deriveSeed(2 ** 40 + 5), deriveSeed(5));
  assert.throws(() => deriveSeed(1, Number.NaN), { name: 'DataArgumentError', argument: 'parts[0]' });
  fc.assert(
    fc.property(fc.integer(), fc.nat(), (base, part) => {
      const s = deriveSeed(base, part);
      assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
    }),
  );
});
