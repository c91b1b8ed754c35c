// Golden byte fixtures pin the wire format: for every message type, encode(sample) must equal
// the committed bytes in src/fixtures/<type>.bin and decode(bytes) must equal the sample. A
// failure here means the encoding changed: that needs a PROTOCOL_VERSION bump, not a new fixture.
// To rewrite the fixtures after a deliberate change: GNET_UPDATE_GOLDEN=1 npx nx run protocol:test
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { chunkFrameBytes, encodeChunkInto } from './chunk_frame.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { sampleMessages } from './fixtures/sample_messages.js';
import { MESSAGE_TYPES } from './message.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const UPDATE = process.env['GNET_UPDATE_GOLDEN'] === '1';

async function golden(name: string, bytes: Uint8Array): Promise<Buffer> {
  const file = new URL(`${name}.bin`, FIXTURES);
  if (UPDATE) await writeFile(file, bytes);
  assert.ok(existsSync(file), `missing fixture ${file.pathname}; write it with GNET_UPDATE_GOLDEN=1`);
  return readFile(file);
}

/** A Buffer's bytes as a plain Uint8Array copy (4-byte aligned, like a fresh allocation). */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

describe('golden fixtures', () => {
  const samples = sampleMessages();
  for (const type of MESSAGE_TYPES) {
    it(`${type}: encode(sample) equals ${type}.bin, and decode(${type}.bin) equals sample`, async () => {
      const encoded = encodeMessage(samples[type]);
      const fixture = await golden(type, encoded);
      assert.equal(Buffer.from(encoded).toString('hex'), fixture.toString('hex'));
      assert.deepStrictEqual(decodeMessage(plain(fixture)), samples[type]);
    });
  }

  it('chunk-float16: encodeChunkInto with fp16 conversion equals chunk-float16.bin', async () => {
    const floats = new Float32Array([1, -2, 0.1, 65519.99, 2 ** -25, -Infinity]);
    const buf = new Uint8Array(chunkFrameBytes(floats.length, 'float16'));
    const header = { type: 'gradChunk', round: 1, bucket: 0, chunk: 2, offset: 6, dtype: 'float16', rank: 1 } as const;
    const length = encodeChunkInto(buf, header, floats);
    const fixture = await golden('chunk-float16', buf.subarray(0, length));
    assert.equal(Buffer.from(buf.subarray(0, length)).toString('hex'), fixture.toString('hex'));
    const decoded = decodeMessage(plain(fixture));
    assert.ok(decoded.type === 'gradChunk');
    assert.deepEqual(
      Array.from(new Uint16Array(decoded.bytes.buffer, decoded.bytes.byteOffset, decoded.count), (h) => h.toString(16)),
      ['3c00', 'c000', '2e66', '7bff', '0', 'fc00'],
    );
  });

  it('heartbeat is plain MessagePack, byte for byte', async () => {
    const fixture = await readFile(new URL('heartbeat.bin', FIXTURES));
    const expected = [
      '82', // fixmap, 2 entries (no msgpackr record extension)
      'a4',
      '74797065', // fixstr "type"
      'a9',
      '686561727462656174', // fixstr "heartbeat"
      'a8',
      '73656e7441744d73', // fixstr "sentAtMs"
      'cb',
      '42794bc3b727b000', // float64 1738324800123 (big-endian, per the spec)
    ].join('');
    assert.equal(fixture.toString('hex'), expected);
  });
});
