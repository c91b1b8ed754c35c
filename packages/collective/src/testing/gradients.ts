// Test fixtures: per-rank gradients (integer-valued, so sums are exact in any order, or random,
// from a seed derived from the test's seed and the rank) and the sums they must reduce to.

/** mulberry32: a small, fast, seeded PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer-valued floats in [-100, 100]: every summation order gives the exact same sum. */
export function integerGradient(rank: number, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 1) out[i] = ((i * 7 + rank * 13 + 3) % 201) - 100;
  return out;
}

/** Random floats in [-1, 1) with a seed derived from `seed` and `rank`. */
export function randomGradient(seed: number, rank: number, length: number): Float32Array {
  const next = rng(seed * 1000 + rank + 1);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 1) out[i] = next() * 2 - 1;
  return out;
}

/** Element-wise float32 sum over ranks, in rank order. */
export function plainSum(grads: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(grads[0]!.length);
  for (const grad of grads) for (let i = 0; i < out.length; i += 1) out[i] = Math.fround(out[i]! + grad[i]!);
  return out;
}

/** Largest absolute element-wise difference. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** True when the two arrays hold the same bits (NaN-safe, -0 vs 0 told apart). */
export function bitIdentical(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i += 1) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * The ring's documented float32 summation order, per bucket and segment: segment k of a bucket
 * starts at rank (N - k) mod N and adds ranks in descending order (mod N).
 */
export function ringOrderSum(grads: readonly Float32Array[], buckets: readonly { offset: number; length: number }[]): Float32Array {
  const n = grads.length;
  const out = new Float32Array(grads[0]!.length);
  for (const b of buckets) {
    const base = Math.floor(b.length / n);
    const start = (k: number): number => k * base + Math.min(k, b.length % n);
    for (let k = 0; k < n; k += 1) {
      const first = (n - k) % n;
      for (let i = b.offset + start(k); i < b.offset + start(k + 1); i += 1) {
        let sum = grads[first]![i]!;
        for (let j = 1; j < n; j += 1) sum = Math.fround(sum + grads[(first - j + n) % n]![i]!);
        out[i] = sum;
      }
    }
  }
  return out;
}
