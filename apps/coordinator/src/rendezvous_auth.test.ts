// The coordinator's handshake security over real sockets on 127.0.0.1: the HMAC challenge-response
// (a wrong secret is refused and appears in no log line or message, refusals are logged
// rate-limited; the welcome proof a worker checks), the version check, the pre-auth size limit, the handshake deadline, the warning for an
// open port without a secret, and wss:// with a self-signed certificate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkWelcomeProof, encodeMessage, HANDSHAKE_MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError } from '@gnet/protocol';
import WebSocket from 'ws';
import { Rendezvous, type RendezvousOptions } from './rendezvous.js';
import { selfSignedCert } from '@gnet/collective/testing';
import { capturingLogger, fakeWorker, hello } from './testing/sockets.js';

const SECRET = 'right-secret-4f1c';

function listen(overrides: Partial<RendezvousOptions> = {}): { lines: Record<string, unknown>[]; rendezvous: Promise<Rendezvous> } {
  const { log, lines } = capturingLogger('debug');
  const rendezvous = Rendezvous.listen({
    host: '127.0.0.1',
    port: 0,
    token: SECRET,
    maxWorkers: 2,
    activeWorkerIds: () => [],
    algorithm: 'star',
    log,
    ...overrides,
  });
  return { lines, rendezvous };
}

test('the right secret joins and gets the proof for its welcome; a wrong one is refused with PROTO_AUTH and shows nowhere', async () => {
  const { lines, rendezvous } = listen();
  const rv = await rendezvous;
  try {
    const wrong = await fakeWorker(rv.url, hello('intruder', { secret: 'wrong-secret-77aa', peer: null }));
    const reject = await wrong.next();
    assert.equal(reject.type, 'reject');
    assert.equal(reject.type === 'reject' && reject.code, 'PROTO_AUTH');
    assert.equal((await wrong.closed).code, 1008);
    const none = await fakeWorker(rv.url, hello('no-secret', { secret: '', peer: null }));
    assert.equal((await none.next()).type === 'reject' && (await none.closed).code, 1008);

    const good = await fakeWorker(rv.url, hello('w0', { secret: SECRET, peer: null }));
    const [joined] = await rv.join(1, 5000);
    assert.equal(joined!.hello.workerId, 'w0');
    // The proof the coordinator puts in this connection's welcome is the one the worker expects.
    checkWelcomeProof({ serverProof: joined!.serverProof }, good.nonces, SECRET);
    assert.throws(() => checkWelcomeProof({ serverProof: joined!.serverProof }, wrong.nonces, SECRET), ProtocolError);
    good.socket.terminate();

    const everything = JSON.stringify(lines) + JSON.stringify(reject);
    assert.ok(!everything.includes(SECRET), 'the secret appears in a log line or message');
    assert.ok(!everything.includes('wrong-secret-77aa'), "the intruder's secret appears in a log line or message");
    // Refusals are logged rate-limited: the first of its code at once, the second in the summary
    // that closing the rendezvous flushes.
    assert.equal(lines.filter((l) => l['msg'] === 'hello refused' && l['code'] === 'PROTO_AUTH').length, 1);
    rv.close();
    const summary = lines.find((l) => l['msg'] === 'more connections refused');
    assert.deepEqual(summary?.['refused'], { PROTO_AUTH: 1 });
    assert.deepEqual(summary?.['topRemotes'], [{ remote: '127.0.0.1', refused: 1 }]);
  } finally {
    rv.close();
  }
});

test('a hello of another protocol version is refused naming the supported ones', async () => {
  const rv = await listen().rendezvous;
  try {
    const { secret: _secret, ...fields } = hello('old');
    const frame = Buffer.from(
      encodeMessage({ ...fields, protocolVersion: PROTOCOL_VERSION, nonce: new Uint8Array(32), proof: new Uint8Array(0) }),
    );
    frame[frame.indexOf(Buffer.from('protocolVersion')) + 'protocolVersion'.length] = PROTOCOL_VERSION - 1;
    const worker = await fakeWorker(rv.url, frame);
    assert.deepEqual(await worker.next(), {
      type: 'reject',
      code: 'PROTO_VERSION',
      message: 'Unsupported protocol version 2 (supported: 3)',
    });
    assert.deepEqual(await worker.closed, { code: 1008, reason: 'PROTO_VERSION' });
  } finally {
    rv.close();
  }
});

test('an oversized first frame is refused with 1009 before it is complete', async () => {
  const rv = await listen().rendezvous;
  try {
    const worker = await fakeWorker(rv.url, new Uint8Array(8 * 1024 * 1024));
    assert.deepEqual(await worker.next(), {
      type: 'reject',
      code: 'PROTO_FRAME_TOO_LARGE',
      message: `More than ${HANDSHAKE_MAX_FRAME_BYTES + 14} bytes arrived before the first message was complete; a hello must fit in ${HANDSHAKE_MAX_FRAME_BYTES} bytes`,
    });
    assert.deepEqual(await worker.closed, { code: 1009, reason: 'PROTO_FRAME_TOO_LARGE' });
  } finally {
    rv.close();
  }
});

test('a client that connects and says nothing is dropped after the handshake deadline', async () => {
  const rv = await listen({ helloTimeoutMs: 200 }).rendezvous;
  try {
    const started = performance.now();
    const silent = await fakeWorker(rv.url, null);
    assert.deepEqual(await silent.next(), {
      type: 'reject',
      code: 'PROTO_HANDSHAKE_TIMEOUT',
      message: 'No hello within 200 ms of connecting',
    });
    assert.deepEqual(await silent.closed, { code: 1008, reason: 'PROTO_HANDSHAKE_TIMEOUT' });
    assert.ok(performance.now() - started < 3000);
    assert.equal(rv.pendingCount, 0);
  } finally {
    rv.close();
  }
});

test('listening beyond loopback without a secret logs one warning at start-up; with a secret or on loopback none', async () => {
  const cases = [
    { host: '0.0.0.0', token: '', warnings: 1 },
    { host: '0.0.0.0', token: SECRET, warnings: 0 },
    { host: '127.0.0.1', token: '', warnings: 0 },
  ];
  for (const c of cases) {
    const { lines, rendezvous } = listen({ host: c.host, token: c.token });
    const rv = await rendezvous;
    rv.close();
    const warnings = lines.filter(
      (l) => l['level'] === 40 && String(l['msg']).startsWith('listening beyond loopback without a shared secret'),
    );
    assert.equal(warnings.length, c.warnings, `${c.host} with${c.token === '' ? 'out' : ''} a secret`);
  }
});

test('wss:// end to end with a self-signed certificate; a client that does not trust it cannot connect', async () => {
  const tls = await selfSignedCert();
  const rv = await listen({ tls }).rendezvous;
  try {
    assert.match(rv.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    const worker = await fakeWorker(rv.url, hello('w0', { secret: SECRET, peer: null }), { ca: tls.cert });
    const [joined] = await rv.join(1, 5000);
    checkWelcomeProof({ serverProof: joined!.serverProof }, worker.nonces, SECRET);
    worker.socket.terminate();
    const untrusting = new WebSocket(rv.url);
    const err = await new Promise<Error & { code?: string }>((resolve) => untrusting.once('error', resolve));
    assert.equal(err.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  } finally {
    rv.close();
  }
});
