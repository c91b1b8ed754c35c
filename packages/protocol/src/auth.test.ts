// Tests of the HMAC proofs: known-answer vectors computed independently with Python's hmac
// module from the transcript layout documented in auth.ts and the README, then the ways a proof
// must fail (wrong secret, a tampered nonce or identity, a proof of the other kind).
//
// The vectors (python3):
//   import hmac, hashlib, struct
//   n = lambda start: bytes((start + i) & 0xff for i in range(32))
//   s = lambda x: struct.pack('>H', len(x.encode())) + x.encode()
//   q = lambda v: struct.pack('>Q', v)
//   mac = lambda key, label, *f: hmac.new(key.encode(), label.encode() + b'\0' + b''.join(f), hashlib.sha256).hexdigest()
//   mac('s3cret', 'gnet/hello/v1', n(0), n(0x20), s('worker-a-4242'))
//   mac('s3cret', 'gnet/welcome/v1', n(0x20), n(0))
//   mac('s3cret', 'gnet/peer-hello/v1', n(0), n(0x40), s('run-2025-01-31T12-00-00Z'), q(0), q(0))
//   mac('s3cret', 'gnet/peer-welcome/v1', n(0x40), n(0))
//   mac('ключ-🔑', 'gnet/peer-hello/v1', n(0), n(0x40), s('rün'), q(2**40 + 3), q(7))
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AUTH_LABELS,
  createNonce,
  helloProof,
  NONCE_BYTES,
  peerHelloProof,
  peerWelcomeProof,
  proofMatches,
  transcript,
  welcomeProof,
} from './auth.js';
import { countingBytes } from './fixtures/sample_messages.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const server = countingBytes(0x00);
const client = countingBytes(0x20);
const dialer = countingBytes(0x40);
const run = { runId: 'run-2025-01-31T12-00-00Z', generation: 0, rank: 0 };

describe('known-answer vectors (Python hmac)', () => {
  it('hello', () => {
    assert.equal(
      hex(helloProof('s3cret', { serverNonce: server, clientNonce: client }, 'worker-a-4242')),
      '192e1fa2688da0661357189c397f68f2ff7334d653adc96ff5e3afc273a5ba9f',
    );
  });

  it('welcome', () => {
    assert.equal(
      hex(welcomeProof('s3cret', { serverNonce: server, clientNonce: client })),
      '4d1ba6edcb4017a44868bddf37e0840a1d08f745079fe25b067c9696db68eafd',
    );
  });

  it('peerHello', () => {
    assert.equal(
      hex(peerHelloProof('s3cret', { serverNonce: server, clientNonce: dialer }, run)),
      '9c4c2c1384e6a2c96329d415f0aa3c520836f63e2a7250629d860935ea8b878c',
    );
  });

  it('peerWelcome', () => {
    assert.equal(
      hex(peerWelcomeProof('s3cret', { serverNonce: server, clientNonce: dialer })),
      '3f6576ab9da05398476d5db18aa85a621dc2c016e4ac6183ef22adadb3240329',
    );
  });

  it('peerHello with a non-ASCII secret and run id and a generation beyond 32 bits', () => {
    assert.equal(
      hex(peerHelloProof('ключ-🔑', { serverNonce: server, clientNonce: dialer }, { runId: 'rün', generation: 2 ** 40 + 3, rank: 7 })),
      'e1be406aaa7aa92b6607ea686b388da5d9be68af7d2d72b7c5406b3b04f54b7a',
    );
  });

  it('the welcome transcript is label, 0, client nonce, server nonce', () => {
    assert.equal(
      transcript(AUTH_LABELS.welcome, [client, server]).toString('hex'),
      '676e65742f77656c636f6d652f763100' + hex(client) + hex(server),
    );
  });
});

describe('proofs fail when anything differs', () => {
  const nonces = { serverNonce: server, clientNonce: client };
  const good = helloProof('s3cret', nonces, 'worker-a-4242');

  it('matches itself', () => {
    assert.ok(proofMatches(good, helloProof('s3cret', nonces, 'worker-a-4242')));
  });

  it('wrong secret', () => {
    assert.ok(!proofMatches(good, helloProof('s3cret!', nonces, 'worker-a-4242')));
  });

  it('tampered server nonce, client nonce or worker id', () => {
    const flipped = countingBytes(0x00);
    flipped[31] = flipped[31]! ^ 1;
    assert.ok(!proofMatches(good, helloProof('s3cret', { serverNonce: flipped, clientNonce: client }, 'worker-a-4242')));
    assert.ok(!proofMatches(good, helloProof('s3cret', { serverNonce: server, clientNonce: flipped }, 'worker-a-4242')));
    assert.ok(!proofMatches(good, helloProof('s3cret', nonces, 'worker-b-4242')));
  });

  it('nonces swapped: a hello proof is not a welcome proof and vice versa (labels and order differ)', () => {
    assert.ok(!proofMatches(welcomeProof('s3cret', nonces), helloProof('s3cret', { serverNonce: client, clientNonce: server }, '')));
    assert.ok(!proofMatches(peerWelcomeProof('s3cret', nonces), welcomeProof('s3cret', nonces)));
  });

  it('peerHello binds run, generation and rank', () => {
    const peerNonces = { serverNonce: server, clientNonce: dialer };
    const proof = peerHelloProof('s3cret', peerNonces, run);
    assert.ok(!proofMatches(proof, peerHelloProof('s3cret', peerNonces, { ...run, generation: 1 })));
    assert.ok(!proofMatches(proof, peerHelloProof('s3cret', peerNonces, { ...run, rank: 1 })));
    assert.ok(!proofMatches(proof, peerHelloProof('s3cret', peerNonces, { ...run, runId: 'other' })));
  });

  it('an empty or truncated proof never matches a real one', () => {
    assert.ok(!proofMatches(good, new Uint8Array(0)));
    assert.ok(!proofMatches(good, good.subarray(0, 31)));
  });

  it('no secret: the proof is empty', () => {
    assert.equal(helloProof('', nonces, 'w').byteLength, 0);
    assert.equal(welcomeProof('', nonces).byteLength, 0);
  });
});

describe('createNonce', () => {
  it('gives 32 fresh random bytes each time', () => {
    const a = createNonce();
    const b = createNonce();
    assert.equal(a.byteLength, NONCE_BYTES);
    assert.notEqual(hex(a), hex(b));
  });
});
