// Decoder fuzz test: over 100,000 hostile frames (fixtures/fuzz_frames.ts: random bytes, byte
// and value mutations of valid messages of every type, chunk frames with broken headers, frames
// over the size limit), decodeMessage and decodeChunk either return a message or throw a
// ProtocolError whose code is documented in the package README with the close code the README
// gives it; never anything else. A message they accept must also be one encodeMessage accepts.
// Seeded (fast-check), so every run tries the same frames; a failure prints the seed and the
// shrunk frame.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { decodeChunk } from './chunk_frame.js';
import { decodeMessage, encodeMessage } from './codec.js';
import {
  byteMutationCase,
  chunkMutationCase,
  nestedCase,
  oversizedCase,
  randomBytesCase,
  tensorMutationCase,
  typedGarbageCase,
  validChunkFrames,
  validFrames,
  valueMutationCase,
  type FuzzCase,
} from './fixtures/fuzz_frames.js';
import { DEFAULT_MAX_FRAME_BYTES } from './frame_size.js';
import { ProtocolError } from './protocol_error.js';

/** Fixed, so the same frames are tried on every run; change it to explore further. */
const SEED = 20250131;

/** The README's error table, `code → close code`: a code missing from it fails the test. */
function documentedCodes(): ReadonlyMap<string, number> {
  const text = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rows = [...text.matchAll(/^\| `([A-Z][A-Z_]+)` \| (\d{4}) \| .+ \|$/gm)];
  return new Map(rows.map((m) => [m[1]!, Number(m[2])]));
}

const DOCUMENTED = documentedCodes();

/** Outcomes by code ('ok' for an accepted frame), per decoder. */
class Histogram {
  readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  toString(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  }
}

/** Runs one decode; returns 'ok' or the error's code, failing on anything undocumented. */
function outcome(decode: () => unknown, frame: Uint8Array): string {
  try {
    decode();
    return 'ok';
  } catch (err) {
    if (!(err instanceof ProtocolError)) {
      const hex = Buffer.from(frame.subarray(0, 64)).toString('hex');
      throw new Error(`decoder threw ${String(err)} (not a ProtocolError) on a ${frame.byteLength}-byte frame starting ${hex}`, {
        cause: err,
      });
    }
    const closeCode = DOCUMENTED.get(err.code);
    assert.ok(closeCode !== undefined, `code ${err.code} is not in the README's error table (${err.message})`);
    assert.equal(err.closeCode, closeCode, `${err.code} must close with ${closeCode} as documented, but has ${err.closeCode}`);
    assert.ok(err.message.length > 0, `${err.code} has an empty message`);
    return err.code;
  }
}

interface Tally {
  frames: number;
  message: Histogram;
  chunk: Histogram;
}

/** Decodes `c` with decodeMessage (as the receiver would) and with decodeChunk, and checks both. */
function check(c: FuzzCase, tally: Tally): void {
  const options = { maxFrameBytes: c.maxFrameBytes, expect: c.expect };
  let decoded: unknown;
  tally.frames++;
  tally.message.add(outcome(() => (decoded = decodeMessage(c.frame, options)), c.frame));
  tally.chunk.add(outcome(() => decodeChunk(c.frame, { maxFrameBytes: c.maxFrameBytes }), c.frame));
  if (decoded !== undefined) {
    // What the decoder lets in, the encoder must accept too: both run the same schema and invariants.
    assert.doesNotThrow(() => encodeMessage(decoded as Parameters<typeof encodeMessage>[0]), 'a decoded message must re-encode');
  }
}

function fuzz(t: TestContext, name: string, arbitrary: fc.Arbitrary<FuzzCase>, numRuns: number, tally: Tally): void {
  const before = tally.frames;
  const started = performance.now();
  fc.assert(
    fc.property(arbitrary, (c) => check(c, tally)),
    { seed: SEED, numRuns },
  );
  t.diagnostic(`${name}: ${tally.frames - before} frames in ${Math.round(performance.now() - started)} ms`);
}

describe('decoder fuzz', () => {
  it('the README table the test checks against has every code', () => {
    // A parse that found nothing would make every assertion above vacuous.
    assert.ok(DOCUMENTED.size >= 13, `parsed only ${DOCUMENTED.size} codes from the README`);
    assert.equal(DOCUMENTED.get('PROTO_FRAME_TOO_LARGE'), 1009);
  });

  it('valid frames of every type decode (the seeds the mutations start from)', () => {
    for (const { message, frame } of validFrames()) assert.equal(decodeMessage(frame).type, message.type);
    for (const frame of validChunkFrames()) assert.doesNotThrow(() => decodeChunk(frame));
  });

  it('over 100,000 hostile frames: only documented ProtocolErrors, with their documented close codes', (t) => {
    const tally: Tally = { frames: 0, message: new Histogram(), chunk: new Histogram() };
    const messageFrames = validFrames().map((v) => v.frame);
    const chunkFrames = validChunkFrames();
    fuzz(t, 'random bytes', randomBytesCase, 15_000, tally);
    fuzz(t, 'map with a real type, random tail', typedGarbageCase, 10_000, tally);
    fuzz(t, 'byte mutations of valid frames', byteMutationCase([...messageFrames, ...chunkFrames]), 30_000, tally);
    fuzz(t, 'value mutations (type confusion, weird numbers, extensions)', valueMutationCase, 25_000, tally);
    fuzz(t, 'tensor mutations', tensorMutationCase, 6_000, tally);
    fuzz(t, 'chunk frame header and payload mutations', chunkMutationCase(chunkFrames), 14_000, tally);
    fuzz(t, 'frames around the 64 KiB first-frame limit', oversizedCase, 300, tally);
    fuzz(t, 'nesting up to 20,000 levels deep', nestedCase, 300, tally);
    // One frame over the default limit: refused before a byte is read (calloc'd, so never touched).
    check({ frame: new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1), maxFrameBytes: undefined, expect: undefined }, tally);

    t.diagnostic(`${tally.frames} frames`);
    t.diagnostic(`decodeMessage: ${tally.message.toString()}`);
    t.diagnostic(`decodeChunk: ${tally.chunk.toString()}`);
    assert.ok(tally.frames > 100_000, `only ${tally.frames} frames`);
    // Each decoder's main refusals were reached: the fuzz got past unpack, into schema and invariants.
    for (const code of [
      'PROTO_FRAME_TOO_LARGE',
      'PROTO_MALFORMED',
      'PROTO_SCHEMA',
      'PROTO_UNKNOWN_TYPE',
      'PROTO_BAD_TENSOR',
      'PROTO_SEMANTIC',
      'PROTO_VERSION',
      'PROTO_UNEXPECTED',
      'PROTO_BAD_CHUNK',
      'ok',
    ]) {
      assert.ok((tally.message.counts.get(code) ?? 0) > 0, `no frame ended in ${code}: ${tally.message.toString()}`);
    }
    for (const code of ['PROTO_FRAME_TOO_LARGE', 'PROTO_BAD_CHUNK', 'PROTO_BAD_TENSOR', 'ok']) {
      assert.ok((tally.chunk.counts.get(code) ?? 0) > 0, `no frame ended in ${code} for decodeChunk: ${tally.chunk.toString()}`);
    }
  });
});
