// Seeded pseudo-random numbers for weight initialisation: mulberry32 (Tommy Ettinger's 32-bit
// generator) for uniforms and the Box-Muller transform for normals. Plain JS, so the same seed
// gives bit-identical weights on every backend and every replica.

/** A generator of uniform floats in [0, 1). */
export type Uniform = () => number;

/** mulberry32: period 2^32, passes gjrand/PractRand far enough for weight init. */
export function mulberry32(seed: number): Uniform {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 32-bit seed for one named tensor, from the run seed and the name (FNV-1a over the name's
 * UTF-16 units, mixed with the seed). Seeding each tensor by name keeps the main weights the same
 * whether or not the auxiliary heads are built.
 */
export function seedForName(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0) ^ Math.floor(seed / 4294967296);
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so that names differing in one letter decorrelate.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** `count` samples of N(0, std^2) from `uniform`, by Box-Muller (two normals per pair of uniforms). */
export function normalArray(count: number, std: number, uniform: Uniform): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - uniform(); // in (0, 1]: log(u1) is finite
    const u2 = uniform();
    const r = std * Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
