// Tests for the seeded weight-initialisation generator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32, normalArray, seedForName } from './rng.js';

describe('mulberry32', () => {
  it('is a pure function of its seed, with values in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      Array.from({ length: 1000 }, () => b()),
      xs,
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(Array.from({ length: 10 }, mulberry32(43)), xs.slice(0, 10));
  });

  it('matches the published reference implementation (bryc/code, PRNGs.md)', () => {
    // The reference, verbatim but for types: state kept in a float-valued closure variable.
    const reference = (a: number) => (): number => {
      let t = (a += 0x6d2b79f5);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (const seed of [1, 123456789]) {
      const ours = mulberry32(seed);
      const theirs = reference(seed);
      for (let i = 0; i < 1000; i++) assert.equal(ours(), theirs());
    }
    const u = mulberry32(1);
    assert.deepEqual(
      [u(), u(), u()].map((x) => x * 4294967296),
      [2693262067, 11749833, 2265367787],
    );
  });
});

describe('normalArray', () => {
  it('draws N(0, std^2), odd lengths included', () => {
    const values = normalArray(100_001, 0.5, mulberry32(7));
    assert.equal(values.length, 100_001);
    let sum = 0;
    let sq = 0;
    for (const v of values) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / values.length;
    const std = Math.sqrt(sq / values.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.5) < 0.01, `std ${std}`);
    assert.ok(values[100_000] !== 0 && Number.isFinite(values[100_000]));
  });
});

describe('seedForName', () => {
  it('separates names and seeds, and is stable', () => {
    const s = seedForName(1, 'inception_3a/b1_1x1/kernel');
    assert.equal(s, seedForName(1, 'inception_3a/b1_1x1/kernel'));
    assert.notEqual(s, seedForName(2, 'inception_3a/b1_1x1/kernel'));
    assert.notEqual(s, seedForName(1, 'inception_3b/b1_1x1/kernel'));
    assert.notEqual(seedForName(0, 'a'), seedForName(2 ** 32, 'a')); // high bits of a 53-bit seed count
    assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
  });
});
