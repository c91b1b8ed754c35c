// Tests of the error table: every code has a close code and a summary, and the package README
// documents every code with the same close code and every message type (docs stay in step).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { MESSAGE_TYPES } from './message.js';
import { CLOSE_CODES, PROTOCOL_ERROR_CODES, PROTOCOL_ERRORS, ProtocolError } from './protocol_error.js';

const README = new URL('../README.md', import.meta.url);

describe('ProtocolError', () => {
  it('carries code, close code, name and cause', () => {
    const cause = new Error('inner');
    const err = new ProtocolError('PROTO_FRAME_TOO_LARGE', 'too big', { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ProtocolError');
    assert.equal(err.code, 'PROTO_FRAME_TOO_LARGE');
    assert.equal(err.closeCode, CLOSE_CODES.messageTooBig);
    assert.equal(err.message, 'too big');
    assert.equal(err.cause, cause);
  });

  it('maps malformed input to 1002, policy to 1008, size to 1009', () => {
    assert.equal(PROTOCOL_ERRORS.PROTO_MALFORMED.closeCode, 1002);
    assert.equal(PROTOCOL_ERRORS.PROTO_VERSION.closeCode, 1008);
    assert.equal(PROTOCOL_ERRORS.PROTO_FRAME_TOO_LARGE.closeCode, 1009);
  });
});

describe('README', () => {
  it('documents every error code with its close code and summary, and nothing else', async () => {
    const text = await readFile(README, 'utf8');
    const rows = [...text.matchAll(/^\| `(PROTO_[A-Z_]+)` \| (\d+) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    assert.deepEqual(
      rows,
      PROTOCOL_ERROR_CODES.map((code) => [code, PROTOCOL_ERRORS[code].closeCode, PROTOCOL_ERRORS[code].summary]),
    );
  });

  it('lists every message type in the message table', async () => {
    const text = await readFile(README, 'utf8');
    const types = [...text.matchAll(/^\| `([a-zA-Z]+)` \| [^|]*[→↔][^|]* \|/gm)].map((m) => m[1]);
    assert.deepEqual(types, [...MESSAGE_TYPES]);
  });
});
