// Test helpers: deterministic data and an fp32 closeness check (not part of the built library).
import assert from 'node:assert/strict';

/** Deterministic ~N(0, 1/2) values (sum of three uniforms from an LCG), the same on every run. */
export function seeded(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length }, () => next() + next() + next() - 1.5);
}

/**
 * Asserts `max |actual - expected| <= rel * max |expected|`: relative error of the values as a
 * whole (a per-element ratio is meaningless for sums that cancel to near zero).
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  assert.ok(worst <= rel * scale, `${what}: max |diff| ${worst} exceeds ${rel} * max |expected| ${scale}`);
}
