// Checkpoints: weights, BatchNorm buffers, optimizer state, position (epoch, step) and RNG state in
// one self-describing file, written durably (temp file, fsync, rename, fsync of the folder:
// durable_write.ts) so a crash mid-write never leaves a torn checkpoint, and checked by SHA-256 on load.
//
// File layout, format version 2 (little-endian):
//   "GNETCKPT" | u32 format version | u32 header bytes | header (UTF-8 JSON) | body | SHA-256
// The header lists each section of the body (name, offset and length in float32 elements). The
// 32-byte SHA-256 at the end covers every byte before it, header included, so a flipped bit in the
// metadata (epoch, step) is caught as surely as one in the weights. Sections are raw float32
// arrays: weights and velocity follow the ParamLayout, buffers follow the model's buffer order.
// Version 1 (still read) had no trailer; its header carried `bodySha256`, which covered the body only.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileDurable } from './durable_write.js';
import type { ParamSlot } from './param_slot.js';

const MAGIC = 'GNETCKPT';
/** magic (8) + format version (4) + header length (4). */
const PREFIX_BYTES = 16;
const SHA256_BYTES = 32;
export const CHECKPOINT_FORMAT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
const SECTION_NAMES = ['weights', 'buffers', 'velocity'] as const;

/**
 * - `CKPT_NOT_FOUND`: the file does not exist.
 * - `CKPT_UNREADABLE`: the file exists but reading it failed (permissions, I/O error).
 * - `CKPT_CORRUPT`: not a checkpoint, truncated, malformed header or failed SHA-256 check.
 * - `CKPT_INCOMPATIBLE`: another format version, or tensors that do not fit the model.
 * - `CKPT_NONE_GOOD`: a checkpoint folder holds checkpoints, but none of them loads (NoGoodCheckpointError).
 * - `CKPT_INVALID_ARGUMENT`: a caller passed a bad `keep` or `globalStep`.
 */
export type CheckpointErrorCode =
  'CKPT_NOT_FOUND' | 'CKPT_UNREADABLE' | 'CKPT_CORRUPT' | 'CKPT_INCOMPATIBLE' | 'CKPT_NONE_GOOD' | 'CKPT_INVALID_ARGUMENT';

export class CheckpointError extends Error {
  constructor(
    readonly code: CheckpointErrorCode,
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

type SectionName = (typeof SECTION_NAMES)[number];

interface Header {
  meta: Record<string, unknown>;
  weightSlots: ParamSlot[];
  bufferSlots: ParamSlot[];
  sections: Array<{ name: SectionName; offset: number; length: number }>;
  /** Format version 1 only. */
  bodySha256?: string;
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Serialises a checkpoint to bytes in the current format (exported for tests and tools). */
export function encodeCheckpoint(state: CheckpointState): Buffer {
  const parts = [state.weights, state.buffers, state.velocity];
  let offset = 0;
  const sections = SECTION_NAMES.map((name, i) => {
    const s = { name, offset, length: parts[i]!.length };
    offset += parts[i]!.length;
    return s;
  });
  const header: Header = { meta: state.meta, weightSlots: [...state.weightSlots], bufferSlots: [...state.bufferSlots], sections };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(CHECKPOINT_FORMAT_VERSION, 8);
  prefix.writeUInt32LE(headerBytes.length, 12);
  const unsigned = Buffer.concat([prefix, headerBytes, ...parts.map(bytesOf)]);
  return Buffer.concat([unsigned, sha256(unsigned)]);
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

function isSlot(x: unknown): x is ParamSlot {
  const s = x as ParamSlot;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.name === 'string' &&
    Array.isArray(s.shape) &&
    s.shape.every(isCount) &&
    isCount(s.offset) &&
    isCount(s.size)
  );
}

/** Returns what is wrong with a parsed header, or null. The checksum guards the bytes; this guards against a writer bug. */
function headerProblem(header: Header, version: number): string | null {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return 'is not a JSON object';
  if (typeof header.meta !== 'object' || header.meta === null || Array.isArray(header.meta)) return "has no 'meta' object";
  if (!Array.isArray(header.weightSlots) || !header.weightSlots.every(isSlot)) return "has no valid 'weightSlots' list";
  if (!Array.isArray(header.bufferSlots) || !header.bufferSlots.every(isSlot)) return "has no valid 'bufferSlots' list";
  if (!Array.isArray(header.sections)) return "has no 'sections' list";
  for (const name of SECTION_NAMES) {
    const s = header.sections.filter((x) => x?.name === name);
    if (s.length !== 1) return `has ${s.length} '${name}' sections, expected 1`;
    if (!isCount(s[0]!.offset) || !isCount(s[0]!.length)) return `has a '${name}' section without a valid offset and length`;
  }
  if (header.sections.length !== SECTION_NAMES.length) return `has ${header.sections.length} sections, expected ${SECTION_NAMES.length}`;
  if (version === 1 && (typeof header.bodySha256 !== 'string' || !/^[0-9a-f]{64}$/.test(header.bodySha256)))
    return "has no valid 'bodySha256'";
  return null;
}

/**
 * Parses and verifies checkpoint bytes (format version 1 or 2). `source` names the file in error
 * messages. Throws `CheckpointError` (`CKPT_CORRUPT` or `CKPT_INCOMPATIBLE`) saying what is wrong.
 */
export function decodeCheckpoint(bytes: Buffer, source = 'checkpoint'): CheckpointState {
  const corrupt = (what: string) => new CheckpointError('CKPT_CORRUPT', `${source} ${what}`);
  if (bytes.length < PREFIX_BYTES) {
    const head = bytes.toString('latin1', 0, Math.min(bytes.length, MAGIC.length));
    if (MAGIC.startsWith(head)) throw corrupt(`is truncated: it holds ${bytes.length} bytes, fewer than the ${PREFIX_BYTES}-byte prefix`);
  }
  if (bytes.length < PREFIX_BYTES || bytes.toString('latin1', 0, 8) !== MAGIC) {
    throw corrupt(`is not a checkpoint: expected magic '${MAGIC}' in its first 8 bytes`);
  }
  const version = bytes.readUInt32LE(8);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new CheckpointError(
      'CKPT_INCOMPATIBLE',
      `${source} has format version ${version}, but this build reads versions ${READABLE_VERSIONS.join(' and ')}`,
    );
  }
  const trailerBytes = version >= 2 ? SHA256_BYTES : 0;
  const headerLength = bytes.readUInt32LE(12);
  const headerEnd = PREFIX_BYTES + headerLength;
  if (headerEnd + trailerBytes > bytes.length) {
    throw corrupt(`is truncated: its ${headerLength}-byte header runs past the end of a ${bytes.length}-byte file`);
  }
  const parseHeader = (): Header => {
    let header: Header;
    try {
      header = JSON.parse(bytes.toString('utf8', PREFIX_BYTES, headerEnd)) as Header;
    } catch (err) {
      throw corrupt(`has an unreadable header: ${(err as Error).message}`);
    }
    const problem = headerProblem(header, version);
    if (problem) throw corrupt(`has a malformed header: it ${problem}`);
    return header;
  };
  const floatsOf = (h: Header) => h.sections.reduce((n, s) => n + s.length, 0);
  const sizeProblem = (parsedHeader: Header): string | null => {
    const expected = headerEnd + floatsOf(parsedHeader) * 4 + trailerBytes;
    if (bytes.length < expected) return `is truncated: it holds ${bytes.length} bytes, but its header describes ${expected}`;
    if (bytes.length > expected) return `holds ${bytes.length} bytes, but its header describes ${expected}: trailing bytes`;
    return null;
  };
  let header: Header;
  if (version >= 2) {
    // Checksum first: once it holds, the header is the one the writer wrote. When it fails, a
    // header that still parses tells a truncation (wrong size) from a flipped bit.
    const expected = bytes.subarray(bytes.length - SHA256_BYTES).toString('hex');
    const got = sha256(bytes.subarray(0, bytes.length - SHA256_BYTES)).toString('hex');
    if (got !== expected) {
      let size: string | null = null;
      try {
        size = sizeProblem(parseHeader());
      } catch {
        // The header is damaged too; the checksum failure below says enough.
      }
      throw corrupt(size ?? `failed its SHA-256 check: expected ${expected}, got ${got}`);
    }
    header = parseHeader();
    const size = sizeProblem(header);
    if (size) throw corrupt(size);
  } else {
    header = parseHeader();
    const size = sizeProblem(header);
    if (size) throw corrupt(size);
    const got = sha256(bytes.subarray(headerEnd, bytes.length)).toString('hex');
    if (got !== header.bodySha256) throw corrupt(`failed its SHA-256 check: expected ${header.bodySha256}, got ${got}`);
  }
  const floats = floatsOf(header);
  const body = bytes.subarray(headerEnd, headerEnd + floats * 4);
  // Copy into fresh, aligned Float32Arrays (the body's byte offset is not a multiple of 4 in general).
  const aligned = new Float32Array(floats);
  new Uint8Array(aligned.buffer).set(body);
  const section = (name: SectionName): Float32Array => {
    const s = header.sections.find((x) => x.name === name)!;
    if (s.offset + s.length > floats)
      throw corrupt(`has a '${name}' section [${s.offset}, ${s.offset + s.length}) past the end of its ${floats}-element body`);
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

/**
 * Writes atomically and durably: readers see the old file or the new one, never a mix, and the
 * new one survives a crash or power loss once the promise resolves.
 */
export async function saveCheckpoint(path: string, state: CheckpointState): Promise<void> {
  await writeFileDurable(path, encodeCheckpoint(state));
}

/** Reads and verifies one checkpoint file; every failure is a `CheckpointError` naming `path` and what was wrong. */
export async function loadCheckpoint(path: string): Promise<CheckpointState> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(missing ? 'CKPT_NOT_FOUND' : 'CKPT_UNREADABLE', `Cannot read checkpoint ${path}: ${(err as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Checks that a checkpoint's slots match the model we are about to load it into. */
export function assertSlotsMatch(
  kind: 'weights' | 'buffers',
  expected: readonly ParamSlot[],
  found: readonly ParamSlot[],
  source: string,
): void {
  const describe = (s: ParamSlot) => `${s.name}[${s.shape.join('x')}]`;
  if (expected.length !== found.length) {
    throw new CheckpointError(
      'CKPT_INCOMPATIBLE',
      `${source} holds ${found.length} ${kind} tensors, but the model has ${expected.length}: was it written with another model config?`,
    );
  }
  expected.forEach((e, i) => {
    const f = found[i]!;
    if (e.name !== f.name || e.size !== f.size || e.shape.join('x') !== f.shape.join('x')) {
      throw new CheckpointError(
        'CKPT_INCOMPATIBLE',
        `${source} ${kind} tensor ${i} is ${describe(f)}, but the model expects ${describe(e)}`,
      );
    }
  });
}
