// Seeded PRNG with serialisable state: xoshiro128** 1.1 (Blackman & Vigna, "Scrambled linear
// pseudorandom number generators", 2018; reference C at https://prng.di.unimi.it/xoshiro128starstar.c),
// seeded through splitmix32 as the authors recommend. The 32-bit mixer is the
// one found by Chris Wellons' hash-prospector (constants 0x21f0aaad, 0x735a2d97; shifts 16, 15, 15).
import { DataArgumentError } from './errors.js';

const GOLDEN_GAMMA = 0x9e3779b9; // 2^32 / phi, the splitmix increment
const TWO_POW_32 = 0x1_0000_0000;

/** Bijective avalanche mix of a 32-bit word (hash-prospector's best 3-round mixer). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** Folds a safe integer (possibly negative or above 2^32) into 32 bits without losing its high word. */
function fold(value: number, argument: string, operation: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new DataArgumentError(argument, `\`${argument}\` passed to \`${operation}\` must be a safe integer, but got ${String(value)}`);
  }
  const lo = value >>> 0;
  const hi = Math.floor(value / TWO_POW_32) >>> 0;
  return hi === 0 ? lo : mix32(lo ^ mix32(hi + GOLDEN_GAMMA));
}

/**
 * Derives an independent 32-bit seed from a base seed and integer parts, e.g.
 * `deriveSeed(runSeed, epoch, rank)` for a per-(epoch, rank) stream. Order matters:
 * `deriveSeed(s, 1, 2) !== deriveSeed(s, 2, 1)`; distinct inputs collide only by chance (about 2^-32).
 */
export function deriveSeed(base: number, ...parts: number[]): number {
  let h = mix32(fold(base, 'base', 'deriveSeed') + GOLDEN_GAMMA);
  for (const [i, part] of parts.entries()) {
    // Absorb the part into the state, then mix twice (a splitmix32 step in between) so that
    // (base, a, b) and (base', a', b') collide only by chance; XOR-ing mixed parts together
    // would be symmetric and make (1, 0) and (0, 1) collide.
    h = mix32(mix32(h ^ fold(part, `parts[${i}]`, 'deriveSeed')) + GOLDEN_GAMMA);
  }
  return h;
}

/**
 * xoshiro128** generator. 128 bits of state, period 2^128 - 1; `getState()` / `Rng.fromState()`
 * round-trip it exactly, so a checkpoint can resume the same stream.
 *
 * @example
 * const rng = new Rng(deriveSeed(seed, epoch, rank));
 * const flip = rng.next() < 0.5;
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Seeds the state with four splitmix32 outputs of `seed` (any safe integer). */
  constructor(seed: number) {
    let z = fold(seed, 'seed', 'Rng');
    const step = (): number => {
      z = (z + GOLDEN_GAMMA) >>> 0;
      return mix32(z);
    };
    this.s0 = step();
    this.s1 = step();
    this.s2 = step();
    this.s3 = step();
    // The all-zero state is the one fixed point of xoshiro; splitmix32 is a bijection, so four
    // consecutive outputs are never all zero, but keep the guard cheap and explicit.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), without modulo bias (rejection sampling); n an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new DataArgumentError('n', `\`n\` passed to \`Rng.int\` must be an integer in [1, 2^32], but got ${String(n)}`);
    }
    // Largest multiple of n that fits in 32 bits; draws at or above it would favour small results.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** The 128-bit state as four unsigned 32-bit words; JSON-safe. */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Rebuilds a generator from {@link getState}'s words; it continues the same stream. */
  static fromState(state: readonly number[]): Rng {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((word) => Number.isInteger(word) && word >= 0 && word < TWO_POW_32) ||
      state.every((word) => word === 0)
    ) {
      throw new DataArgumentError(
        'state',
        `\`state\` passed to \`Rng.fromState\` must be four unsigned 32-bit integers, not all zero, but got ${JSON.stringify(state)}`,
      );
    }
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state as [number, number, number, number];
    return rng;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
