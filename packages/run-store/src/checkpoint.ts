// Checkpoints: weights, BatchNorm buffers, optimizer state, position (epoch, step) and RNG state in
// one self-describing file, written atomically (temp file, fsync, rename — write-file-atomic) so a
// crash mid-write never leaves a torn checkpoint, and checked by SHA-256 on load.
//
// File layout (little-endian):
//   "GNETCKPT" | u32 format version | u32 header bytes | header (UTF-8 JSON) | body
// The header lists each section of the body (name, offset and length in float32 elements) and the
// SHA-256 of the body. Sections are raw float32 arrays: weights and velocity follow the ParamLayout,
// buffers follow the model's buffer order.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import type { ParamSlot } from './param_slot.js';

const MAGIC = 'GNETCKPT';
export const CHECKPOINT_FORMAT_VERSION = 1;

export class CheckpointError extends Error {
  constructor(
    readonly code: 'CKPT_NOT_FOUND' | 'CKPT_CORRUPT' | 'CKPT_INCOMPATIBLE',
    message: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Everything a run needs to continue exactly where it stopped. */
export interface CheckpointState {
  /** Free-form JSON metadata: epoch, step, rng state, hyperparameters, model config, metrics so far. */
  meta: Record<string, unknown>;
  weightSlots: readonly ParamSlot[];
  bufferSlots: readonly ParamSlot[];
  weights: Float32Array;
  buffers: Float32Array;
  velocity: Float32Array;
}

interface Header {
  meta: Record<string, unknown>;
  weightSlots: ParamSlot[];
  bufferSlots: ParamSlot[];
  sections: Array<{ name: 'weights' | 'buffers' | 'velocity'; offset: number; length: number }>;
  bodySha256: string;
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Serialises a checkpoint to bytes (exported for tests and for sending over the wire). */
export function encodeCheckpoint(state: CheckpointState): Buffer {
  const parts = [state.weights, state.buffers, state.velocity];
  const body = Buffer.concat(parts.map(bytesOf));
  let offset = 0;
  const sections = (['weights', 'buffers', 'velocity'] as const).map((name, i) => {
    const s = { name, offset, length: parts[i]!.length };
    offset += parts[i]!.length;
    return s;
  });
  const header: Header = {
    meta: state.meta,
    weightSlots: [...state.weightSlots],
    bufferSlots: [...state.bufferSlots],
    sections,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(CHECKPOINT_FORMAT_VERSION, 8);
  prefix.writeUInt32LE(headerBytes.length, 12);
  return Buffer.concat([prefix, headerBytes, body]);
}

export function decodeCheckpoint(bytes: Buffer, source = 'checkpoint'): CheckpointState {
  if (bytes.length < 16 || bytes.toString('latin1', 0, 8) !== MAGIC) {
    throw new CheckpointError('CKPT_CORRUPT', `${source} is not a checkpoint: expected magic '${MAGIC}' in its first 8 bytes`);
  }
  const version = bytes.readUInt32LE(8);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError('CKPT_INCOMPATIBLE', `${source} has format version ${version}, but this build reads version ${CHECKPOINT_FORMAT_VERSION}`);
  }
  const headerLength = bytes.readUInt32LE(12);
  if (16 + headerLength > bytes.length) {
    throw new CheckpointError('CKPT_CORRUPT', `${source} is truncated: header of ${headerLength} bytes runs past the end of a ${bytes.length}-byte file`);
  }
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength)) as Header;
  } catch (err) {
    throw new CheckpointError('CKPT_CORRUPT', `${source} has an unreadable header: ${(err as Error).message}`);
  }
  const body = bytes.subarray(16 + headerLength);
  const expectedFloats = header.sections.reduce((n, s) => n + s.length, 0);
  if (body.length !== expectedFloats * 4) {
    throw new CheckpointError('CKPT_CORRUPT', `${source} body holds ${body.length} bytes, but its header describes ${expectedFloats * 4}`);
  }
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== header.bodySha256) {
    throw new CheckpointError('CKPT_CORRUPT', `${source} failed its SHA-256 check: expected ${header.bodySha256}, got ${sha}`);
  }
  // Copy into fresh, aligned Float32Arrays (the body's byte offset is not a multiple of 4 in general).
  const aligned = new Float32Array(expectedFloats);
  new Uint8Array(aligned.buffer).set(body);
  const section = (name: string): Float32Array => {
    const s = header.sections.find((x) => x.name === name);
    if (!s) throw new CheckpointError('CKPT_CORRUPT', `${source} has no '${name}' section`);
    return aligned.subarray(s.offset, s.offset + s.length);
  };
  return {
    meta: header.meta,
    weightSlots: header.weightSlots,
    bufferSlots: header.bufferSlots,
    weights: section('weights'),
    buffers: section('buffers'),
    velocity: section('velocity'),
  };
}

/** Writes atomically: readers see the old file or the new one, never a mix. */
export async function saveCheckpoint(path: string, state: CheckpointState): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(state), { fsync: true });
}

export async function loadCheckpoint(path: string): Promise<CheckpointState> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CheckpointError('CKPT_NOT_FOUND', `Cannot read checkpoint ${path}: ${(err as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Checks that a checkpoint's slots match the model we are about to load it into. */
export function assertSlotsMatch(kind: 'weights' | 'buffers', expected: readonly ParamSlot[], found: readonly ParamSlot[], source: string): void {
  const describe = (s: ParamSlot) => `${s.name}[${s.shape.join('x')}]`;
  if (expected.length !== found.length) {
    throw new CheckpointError('CKPT_INCOMPATIBLE', `${source} holds ${found.length} ${kind} tensors, but the model has ${expected.length}: was it written with another model config?`);
  }
  expected.forEach((e, i) => {
    const f = found[i]!;
    if (e.name !== f.name || e.size !== f.size || e.shape.join('x') !== f.shape.join('x')) {
      throw new CheckpointError('CKPT_INCOMPATIBLE', `${source} ${kind} tensor ${i} is ${describe(f)}, but the model expects ${describe(e)}`);
    }
  });
}
