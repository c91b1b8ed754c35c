// Tests of the handshake: version refused at hello (also for a future hello layout), proof and
// peer checks, and the reject / error messages that carry an error to the other side.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage } from './codec.js';
import { SAMPLE_NONCES, SAMPLE_SECRET, sampleMessages } from './fixtures/sample_messages.js';
import {
  checkHelloProof,
  checkPeerHello,
  checkPeerHelloProof,
  checkPeerWelcomeProof,
  checkWelcomeProof,
  errorFromReject,
  errorMessageFor,
  rejectFor,
} from './handshake.js';
import { ProtocolError, type ProtocolErrorCode } from './protocol_error.js';
import { checkProtocolVersion, PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './version.js';

const raw = new Packr({ useRecords: false, variableMapSize: true });

function catchProtocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ProtocolError, but nothing was thrown');
}

function rejects(fn: () => unknown, code: ProtocolErrorCode, message: string, closeCode: number): void {
  const err = catchProtocolError(fn);
  assert.equal(err.code, code);
  assert.equal(err.message, message);
  assert.equal(err.closeCode, closeCode);
}

describe('protocol version', () => {
  it('is 3, and only 3 is supported', () => {
    assert.equal(PROTOCOL_VERSION, 3);
    assert.deepEqual(SUPPORTED_PROTOCOL_VERSIONS, [3]);
    checkProtocolVersion(3);
    rejects(() => checkProtocolVersion(1), 'PROTO_VERSION', 'Unsupported protocol version 1 (supported: 3)', 1008);
  });

  it('refuses another version naming the supported ones', () => {
    rejects(() => checkProtocolVersion(4), 'PROTO_VERSION', 'Unsupported protocol version 4 (supported: 3)', 1008);
  });

  it('refuses a version-2 hello (a worker of the build before protocol 3) at the version, before the schema', () => {
    const hello = { ...sampleMessages().hello, protocolVersion: 2 };
    rejects(() => decodeMessage(raw.pack(hello)), 'PROTO_VERSION', 'Unsupported protocol version 2 (supported: 3)', 1008);
  });

  it('is checked before the schema, so a future hello with other fields still hears why', () => {
    const futureHello = { type: 'hello', protocolVersion: 4, auth: { scheme: 'mtls' }, capabilities: ['fp8'] };
    rejects(() => decodeMessage(raw.pack(futureHello)), 'PROTO_VERSION', 'Unsupported protocol version 4 (supported: 3)', 1008);
  });

  it('is checked in a peerHello too', () => {
    const peerHello = { ...sampleMessages().peerHello, protocolVersion: 0 };
    rejects(() => decodeMessage(raw.pack(peerHello)), 'PROTO_VERSION', 'Unsupported protocol version 0 (supported: 3)', 1008);
  });

  it('a non-integer version is a schema error', () => {
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().hello, protocolVersion: '1' })),
      'PROTO_SCHEMA',
      "Message 'hello' does not match its schema: protocolVersion: Invalid input: expected number, received string",
      1002,
    );
  });
});

describe('proof checks', () => {
  const samples = sampleMessages();
  const server = SAMPLE_NONCES.server;

  it('accept the sample proofs made with the right secret', () => {
    checkHelloProof(samples.hello, server, SAMPLE_SECRET);
    checkWelcomeProof(samples.welcome, { serverNonce: server, clientNonce: samples.hello.nonce }, SAMPLE_SECRET);
    checkPeerHelloProof(samples.peerHello, server, SAMPLE_SECRET);
    checkPeerWelcomeProof(samples.peerWelcome, { serverNonce: server, clientNonce: samples.peerHello.nonce }, SAMPLE_SECRET);
  });

  it('accept anything when this side has no secret', () => {
    checkHelloProof({ ...samples.hello, proof: new Uint8Array(0) }, server, '');
    checkWelcomeProof(
      { ...samples.welcome, serverProof: new Uint8Array(32) },
      { serverNonce: server, clientNonce: samples.hello.nonce },
      '',
    );
  });

  it('refuse a hello made with another secret, naming neither secret', () => {
    const err = catchProtocolError(() => checkHelloProof(samples.hello, server, 'other-secret'));
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(err.closeCode, 1008);
    assert.equal(
      err.message,
      "hello.proof from worker 'worker-a-4242' does not match this coordinator's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none",
    );
    assert.ok(!err.message.includes(SAMPLE_SECRET) && !err.message.includes('other-secret'));
  });

  it('refuse a hello answering another challenge (replayed on a new connection)', () => {
    rejects(
      () => checkHelloProof(samples.hello, SAMPLE_NONCES.peerHello, SAMPLE_SECRET),
      'PROTO_AUTH',
      "hello.proof from worker 'worker-a-4242' does not match this coordinator's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none",
      1008,
    );
  });

  it('refuse a hello without a proof when the coordinator has a secret', () => {
    assert.equal(
      catchProtocolError(() => checkHelloProof({ ...samples.hello, proof: new Uint8Array(0) }, server, SAMPLE_SECRET)).code,
      'PROTO_AUTH',
    );
  });

  it('refuse a welcome whose server proof is wrong (the coordinator does not know our secret)', () => {
    rejects(
      () => checkWelcomeProof(samples.welcome, { serverNonce: server, clientNonce: samples.hello.nonce }, 'other-secret'),
      'PROTO_AUTH',
      "welcome.serverProof does not match this worker's secret: the coordinator could not prove it knows it (the two sides were given different secrets (--token / GNET_TOKEN), or one has none)",
      1008,
    );
  });

  it('refuse a peerHello of another rank than it was proved for, and a wrong peerWelcome', () => {
    rejects(
      () => checkPeerHelloProof({ ...samples.peerHello, rank: 1 }, server, SAMPLE_SECRET),
      'PROTO_AUTH',
      "peerHello.proof from rank 1 does not match this worker's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none",
      1008,
    );
    rejects(
      () => checkPeerWelcomeProof(samples.peerWelcome, { serverNonce: server, clientNonce: SAMPLE_NONCES.hello }, SAMPLE_SECRET),
      'PROTO_AUTH',
      "peerWelcome.serverProof does not match this worker's secret: the peer listener could not prove it knows it (the two sides were given different secrets (--token / GNET_TOKEN), or one has none)",
      1008,
    );
  });
});

describe('handshake schemas', () => {
  it('a nonce must be exactly 32 bytes and a proof 32 bytes or empty', () => {
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().hello, nonce: new Uint8Array(31) })),
      'PROTO_SCHEMA',
      "Message 'hello' does not match its schema: nonce: expected 32 bytes",
      1002,
    );
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().challenge, nonce: 'abc' })),
      'PROTO_SCHEMA',
      "Message 'challenge' does not match its schema: nonce: Invalid input: expected binary",
      1002,
    );
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().peerWelcome, serverProof: new Uint8Array(5) })),
      'PROTO_SCHEMA',
      "Message 'peerWelcome' does not match its schema: serverProof: expected 32 bytes (or none without a secret)",
      1002,
    );
    assert.equal(decodeMessage(raw.pack({ ...sampleMessages().hello, proof: new Uint8Array(0) })).type, 'hello');
  });
});

describe('checkPeerHello', () => {
  const peerHello = sampleMessages().peerHello;
  const expected = { runId: peerHello.runId, generation: 0, rank: 0 };

  it('accepts the left neighbour of this generation', () => {
    checkPeerHello(peerHello, expected);
  });

  it('refuses another run', () => {
    rejects(
      () => checkPeerHello({ ...peerHello, runId: 'old-run' }, expected),
      'PROTO_PEER_MISMATCH',
      "peerHello.runId must be 'run-2025-01-31T12-00-00Z', but got 'old-run'",
      1008,
    );
  });

  it('refuses a stale generation', () => {
    rejects(
      () => checkPeerHello(peerHello, { ...expected, generation: 1 }),
      'PROTO_PEER_MISMATCH',
      'peerHello.generation must be 1 (this group), but got 0',
      1008,
    );
  });

  it('refuses a rank that is not the left neighbour', () => {
    rejects(
      () => checkPeerHello({ ...peerHello, rank: 1 }, expected),
      'PROTO_PEER_MISMATCH',
      'peerHello.rank must be 0 (the left neighbour), but got 1',
      1008,
    );
  });
});

describe('reject and error messages', () => {
  it('a version refusal travels to the worker and becomes PROTO_REJECTED there', () => {
    // Coordinator side: decoding the hello fails, and the error becomes a reject.
    const versionError = catchProtocolError(() => decodeMessage(raw.pack({ ...sampleMessages().hello, protocolVersion: 2 })));
    const frame = encodeMessage(rejectFor(versionError));
    // Worker side: the reject arrives and is raised as an error naming the coordinator's reason.
    const reject = decodeMessage(new Uint8Array(frame), { expect: ['welcome', 'reject'] });
    assert.ok(reject.type === 'reject');
    rejects(
      () => {
        throw errorFromReject(reject);
      },
      'PROTO_REJECTED',
      'Coordinator rejected hello with PROTO_VERSION: Unsupported protocol version 2 (supported: 3)',
      1008,
    );
  });

  it('errorMessageFor carries code and message', () => {
    const err = new ProtocolError('PROTO_UNEXPECTED', "Unexpected message 'gradChunk' (expected 'hello')");
    assert.deepEqual(errorMessageFor(err), sampleMessages().error);
  });
});
