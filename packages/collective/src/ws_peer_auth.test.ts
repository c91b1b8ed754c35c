// The peer handshake's security over real sockets on 127.0.0.1: HMAC challenge-response both
// ways (a wrong secret is refused on either side, and neither secret shows in any message), the
// pre-auth size limit and deadline, a proven peerHello of the wrong generation or rank refused
// before any peerWelcome, refused sockets dropped soon even when the peer stays silent, the
// pre-auth caps, refusals logged, and a ring over wss:// with a self-signed certificate.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'node:test';
import {
  createNonce,
  decodeMessage,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  peerHelloProof,
  PROTOCOL_VERSION,
  ProtocolError,
  type Message,
  type PeerIdentity,
} from '@gnet/protocol';
import WebSocket from 'ws';
import { REFUSAL_GRACE_MS } from './challenge_connection.js';
import { CollectiveConfigError } from './errors.js';
import { selfSignedCert } from './testing/self_signed.js';
import { wsRing } from './testing/ws_group.js';
import { dialPeer } from './ws_connect.js';
import { WsPeerListener } from './ws_peer_listener.js';

const hello: PeerIdentity = { runId: 'run', generation: 0, rank: 3 };
const wait = { timeoutMs: 2000, operation: 'test', round: 1 };

/** A raw client: every message it receives, and how the connection closed. */
async function rawClient(url: string): Promise<{ socket: WebSocket; messages: Message[]; closed: Promise<[number, string]> }> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  const messages: Message[] = [];
  socket.on('message', (data: Buffer) => messages.push(decodeMessage(data)));
  const closed = new Promise<[number, string]>((resolve) =>
    socket.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
  );
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('open', resolve));
  return { socket, messages, closed };
}

test('the same secret on both sides: the dial resolves once each side proved itself', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 5000);
    const dialed = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' });
    const [peer] = await accepting;
    assert.equal(peer!.rank, 3);
    dialed.socket.terminate();
  } finally {
    await listener.close();
  }
});

test('a dialer with the wrong secret is refused with PROTO_AUTH (error message, close 1008); no secret in any message', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 400).then(
      () => null,
      (e: unknown) => e,
    );
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'wrong-secret' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4) refused our peerHello with PROTO_AUTH: peerHello.proof from rank 3 does not match this worker's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none`,
    );
    assert.ok(!err.message.includes('ring-secret') && !err.message.includes('wrong-secret'));
    // Nothing unauthenticated reached the owner: accept times out.
    assert.equal(((await accepting) as Error).name, 'CollectiveTimeoutError');
  } finally {
    await listener.close();
  }
});

test('the raw refusal: challenge, then error PROTO_AUTH and close 1008 for a proof-less peerHello', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const client = await rawClient(listener.url);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.messages[0]?.type, 'challenge');
    client.socket.send(
      encodeMessage({
        type: 'peerHello',
        protocolVersion: PROTOCOL_VERSION,
        ...hello,
        nonce: new Uint8Array(32),
        proof: new Uint8Array(0),
      }),
    );
    assert.deepEqual(await client.closed, [1008, 'PROTO_AUTH']);
    assert.equal(client.messages[1]?.type === 'error' && client.messages[1].code, 'PROTO_AUTH');
  } finally {
    await listener.close();
  }
});

test('a listener that cannot prove the secret is refused by the dialer with PROTO_AUTH', async () => {
  // A listener without a secret takes anyone, but its peerWelcome proof is empty.
  const listener = await WsPeerListener.listen();
  try {
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 5000);
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4): peerWelcome.serverProof does not match this worker's secret: the peer listener could not prove it knows it (the two sides were given different secrets (--token / GNET_TOKEN), or one has none)`,
    );
    // The dialer told the listener why and closed with 1008.
    const [peer] = await accepting;
    const closed = await new Promise<[number, string]>((resolve) =>
      peer!.socket.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])),
    );
    assert.deepEqual(closed, [1008, 'PROTO_AUTH']);
    assert.deepEqual(
      peer!.takeEarlyFrames().map((f) => decodeMessage(f).type),
      ['error'],
    );
  } finally {
    await listener.close();
  }
});

test('a peerHello of another protocol version is refused with PROTO_VERSION before its proof is looked at', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const client = await rawClient(listener.url);
    const frame = Buffer.from(
      encodeMessage({
        type: 'peerHello',
        protocolVersion: PROTOCOL_VERSION,
        ...hello,
        nonce: new Uint8Array(32),
        proof: new Uint8Array(0),
      }),
    );
    const at = frame.indexOf(Buffer.from('protocolVersion')) + 'protocolVersion'.length;
    frame[at] = PROTOCOL_VERSION - 1;
    client.socket.send(frame);
    assert.deepEqual(await client.closed, [1008, 'PROTO_VERSION']);
    const error = client.messages.find((m) => m.type === 'error');
    assert.equal(error?.type === 'error' && error.message, 'Unsupported protocol version 2 (supported: 3)');
  } finally {
    await listener.close();
  }
});

test('a client that connects and says nothing is dropped after the handshake deadline with PROTO_HANDSHAKE_TIMEOUT', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret', handshakeTimeoutMs: 200 });
  try {
    const started = performance.now();
    const client = await rawClient(listener.url);
    assert.deepEqual(await client.closed, [1008, 'PROTO_HANDSHAKE_TIMEOUT']);
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs >= 190 && waitedMs < 3000, `closed after ${waitedMs} ms`);
    assert.deepEqual(
      client.messages.map((m) => m.type),
      ['challenge', 'error'],
    );
    const error = client.messages[1];
    assert.equal(error?.type === 'error' && error.message, 'No peerHello within 200 ms of connecting');
  } finally {
    await listener.close();
  }
});

test('a pre-auth frame over HANDSHAKE_MAX_FRAME_BYTES is refused with 1009 before it is complete', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const client = await rawClient(listener.url);
    // 8 MiB: the listener stops reading after 64 KiB and some, long before the frame ends.
    client.socket.send(new Uint8Array(8 * 1024 * 1024));
    const [code, reason] = await client.closed;
    assert.equal(code, 1009);
    assert.equal(reason, 'PROTO_FRAME_TOO_LARGE');
    const error = client.messages.find((m) => m.type === 'error');
    assert.equal(
      error?.type === 'error' && error.message,
      `More than ${HANDSHAKE_MAX_FRAME_BYTES + 14} bytes arrived before the first message was complete; a peerHello must fit in ${HANDSHAKE_MAX_FRAME_BYTES} bytes`,
    );
  } finally {
    await listener.close();
  }
});

test('a ring over wss:// with a self-signed certificate carries frames; a dialer that does not trust it fails clearly', async () => {
  const tls = await selfSignedCert();
  const group = await wsRing(3, 'ring-secret', tls);
  try {
    const [a, b] = group.transports;
    await a!.send(1, new Uint8Array([1, 2, 3]), wait);
    assert.deepEqual([...(await b!.recv(0, wait))], [1, 2, 3]);
  } finally {
    await group.close();
  }
  const listener = await WsPeerListener.listen({ token: 'ring-secret', tls });
  try {
    assert.match(listener.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(listener.tls, true);
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CollectiveConfigError);
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4): its TLS certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate); trust its CA with \`ca\` (worker flag --tls-ca)`,
    );
  } finally {
    await listener.close();
  }
});

/** A log that keeps its warn lines. */
function capturingLog(): { lines: Array<Record<string, unknown>>; log: { warn(fields: Record<string, unknown>, msg: string): void } } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: { warn: (fields, msg) => lines.push({ ...fields, msg }) } };
}

/** Waits for the challenge, then sends a `peerHello` for `identity` proven with `token`. */
async function provenPeerHello(client: Awaited<ReturnType<typeof rawClient>>, identity: PeerIdentity, token: string): Promise<void> {
  while (client.messages[0]?.type !== 'challenge') await new Promise((resolve) => setTimeout(resolve, 5));
  const challenge = client.messages[0];
  const clientNonce = createNonce();
  const proof = peerHelloProof(token, { serverNonce: challenge.nonce, clientNonce }, identity);
  client.socket.send(encodeMessage({ type: 'peerHello', protocolVersion: PROTOCOL_VERSION, ...identity, nonce: clientNonce, proof }));
}

test('a proven peerHello of another generation or rank is refused with PROTO_PEER_MISMATCH and closed, never told peerWelcome', async () => {
  const { lines, log } = capturingLog();
  const listener = await WsPeerListener.listen({ token: 'ring-secret', log });
  try {
    // Early: no accept yet, so nothing can be judged; the connection waits without a peerWelcome.
    const early = await rawClient(listener.url);
    await provenPeerHello(early, { runId: 'run', generation: 1, rank: 3 }, 'ring-secret');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(
      early.messages.map((m) => m.type),
      ['challenge'],
    );
    const accepting = listener.accept({ runId: 'run', generation: 2, ranks: [3] }, 5000);
    // Once the owner says generation 2, the early one (generation 1) is refused.
    assert.deepEqual(await early.closed, [1008, 'PROTO_PEER_MISMATCH']);
    assert.deepEqual(early.messages.slice(1), [
      { type: 'error', code: 'PROTO_PEER_MISMATCH', message: 'peerHello.generation must be 2 (this group), but got 1' },
    ]);
    // While accepting: the wrong rank is refused at once.
    const wrongRank = await rawClient(listener.url);
    await provenPeerHello(wrongRank, { runId: 'run', generation: 2, rank: 4 }, 'ring-secret');
    assert.deepEqual(await wrongRank.closed, [1008, 'PROTO_PEER_MISMATCH']);
    assert.deepEqual(
      wrongRank.messages.map((m) => m.type),
      ['challenge', 'error'],
    );
    assert.equal(
      wrongRank.messages[1]?.type === 'error' && wrongRank.messages[1].message,
      'peerHello.rank must be 3 (the left neighbour), but got 4',
    );
    // The right one still gets in.
    const dialed = await dialPeer({
      url: listener.url,
      peerRank: 4,
      hello: { runId: 'run', generation: 2, rank: 3 },
      token: 'ring-secret',
    });
    const [accepted] = await accepting;
    dialed.socket.terminate();
    accepted!.socket.terminate();
    assert.equal(accepted!.rank, 3);
    // The worker's listener logs its refusals (the first of each code in full).
    const refused = lines.filter((l) => l['msg'] === 'peerHello refused');
    assert.deepEqual(
      refused.map((l) => [l['code'], l['remote'], l['generation'], l['rank']]),
      [['PROTO_PEER_MISMATCH', '127.0.0.1', 1, 3]],
    );
  } finally {
    await listener.close();
  }
});

test('a wrong-secret peer is logged by the listener', async () => {
  const { lines, log } = capturingLog();
  const listener = await WsPeerListener.listen({ token: 'ring-secret', log });
  try {
    await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'wrong-secret' }).catch(() => undefined);
    const refused = lines.find((l) => l['msg'] === 'peerHello refused');
    assert.equal(refused?.['code'], 'PROTO_AUTH');
    assert.equal(refused?.['remote'], '127.0.0.1');
    assert.ok(!JSON.stringify(lines).includes('wrong-secret'), "the dialer's secret appears in a log line");
  } finally {
    await listener.close();
  }
});

/** A raw TCP client that upgrades to WebSocket and then never sends a byte more (not even a close frame). */
function silentUpgrade(port: number): Promise<{ closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const started = performance.now();
    const closed = new Promise<number>((done) => socket.once('close', () => done(performance.now() - started)));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (head.startsWith('HTTP/1.1 101')) resolve({ closed });
      else if (head.includes('\r\n\r\n')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    });
  });
}

test("after the handshake deadline, a peer that never answers the close frame is dropped within REFUSAL_GRACE_MS, not after ws's 30 s", async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret', handshakeTimeoutMs: 200 });
  try {
    const { closed } = await silentUpgrade(listener.port);
    const closedMs = await closed;
    assert.ok(closedMs >= 200 && closedMs < 200 + REFUSAL_GRACE_MS + 3000, `dropped after ${closedMs} ms`);
  } finally {
    await listener.close();
  }
});

test('silent connections from one address are capped and dropped at the first-byte deadline; a peer from another address still connects', async () => {
  const { lines, log } = capturingLog();
  const listener = await WsPeerListener.listen({ token: 'ring-secret', log, preauth: { maxPerAddress: 4, firstByteTimeoutMs: 300 } });
  try {
    const started = performance.now();
    const flood = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<number>((resolve) => {
            const socket = connect({ port: listener.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
            socket.on('error', () => undefined);
            socket.once('close', () => resolve(performance.now() - started));
          }),
      ),
    );
    // 16 reset at once, 4 at the first-byte deadline.
    const atOnce = flood.filter((ms) => ms < 250).length;
    assert.ok(atOnce >= 16, `only ${atOnce} of 20 refused at once (${flood.map(Math.round).join(', ')} ms)`);
    assert.ok(Math.max(...flood) < 3000, `the last silent connection lived ${Math.max(...flood)} ms`);
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 5000);
    const dialed = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' });
    await accepting;
    dialed.socket.terminate();
    assert.deepEqual(
      lines.map((l) => l['code']),
      ['ADDRESS_LIMIT', 'FIRST_BYTE_TIMEOUT'],
    );
  } finally {
    await listener.close();
  }
});
