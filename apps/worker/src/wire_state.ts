// A replica's state on the wire and its fingerprints. `stateSnapshot` and `initialWeights` list
// the trainable variables first, in the flat parameter order, then the BatchNorm running
// statistics; momentum follows the variables (the coordinator's snapshot_checkpoint.ts relies on
// this order). The SHA-256 of the flat weights identifies a replica's state in logs and in the
// round-0 weights check, where it travels as sixteen 16-bit halves so that the all-reduced sum
// is exact in float32.
import { createHash } from 'node:crypto';
import { tensorFromFloat32, tensorToFloat32, type WireTensor } from '@gnet/protocol';
import type { ParamSlot } from '@gnet/run-store';

/** Elements of the weights check vector: a SHA-256 as sixteen uint16 values. */
export const DIGEST_ELEMENTS = 16;

/** The tensor the slot names, viewing `flat` (no copy). */
export function slotTensors(slots: readonly ParamSlot[], flat: Float32Array): WireTensor[] {
  return slots.map((s) => tensorFromFloat32(s.name, s.shape, flat.subarray(s.offset, s.offset + s.size)));
}

/**
 * Copies `tensors` into `flat` by name, following `slots`; every slot must be present with its
 * size. Throws `RangeError` naming the first mismatch.
 */
export function tensorsInto(tensors: readonly WireTensor[], slots: readonly ParamSlot[], flat: Float32Array, what: string): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const slot of slots) {
    const tensor = byName.get(slot.name);
    if (tensor === undefined) throw new RangeError(`${what} must hold '${slot.name}', but does not`);
    if (tensor.count !== slot.size) throw new RangeError(`${what} '${slot.name}' must have ${slot.size} elements, but has ${tensor.count}`);
    flat.set(tensorToFloat32(tensor), slot.offset);
  }
}

/** Lowercase hex SHA-256 of the float32 bytes of `values`. */
export function floatsDigest(values: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    .digest('hex');
}

/** The SHA-256 `hex` as sixteen little-endian uint16 values in float32 (exact, and exact when summed over < 256 ranks). */
export function digestVector(hex: string): Float32Array {
  const bytes = Buffer.from(hex, 'hex');
  const out = new Float32Array(DIGEST_ELEMENTS);
  for (let i = 0; i < DIGEST_ELEMENTS; i += 1) out[i] = bytes.readUInt16LE(2 * i);
  return out;
}

/**
 * True when the all-reduced digest vectors `summed` equal `worldSize` times ours, i.e. (up to a
 * 2^-128 chance) every rank holds our digest. Exact: entries are integers below 2^16, their sums
 * over fewer than 256 ranks below 2^24.
 */
export function digestsAgree(summed: Float32Array, mine: Float32Array, worldSize: number): boolean {
  return mine.every((v, i) => summed[i] === v * worldSize);
}
