// The peer handshake's security over real sockets on 127.0.0.1: HMAC challenge-response both
// ways (a wrong secret is refused on either side, and neither secret shows in any message), the
// pre-auth size limit and deadline, and a ring over wss:// with a self-signed certificate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeMessage,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  type Message,
  type PeerIdentity,
} from '@gnet/protocol';
import WebSocket from 'ws';
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
  const closed = new Promise<[number, string]>((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
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
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 400).then(() => null, (e: unknown) => e);
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'wrong-secret' }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4) refused our peerHello with PROTO_AUTH: peerHello.proof from rank 3 does not match this worker's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none`,
    );
    assert.ok(!err.message.includes('ring-secret') && !err.message.includes('wrong-secret'));
    // Nothing unauthenticated reached the owner: accept times out.
    assert.equal((await accepting as Error).name, 'CollectiveTimeoutError');
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
    client.socket.send(encodeMessage({ type: 'peerHello', protocolVersion: PROTOCOL_VERSION, ...hello, nonce: new Uint8Array(32), proof: new Uint8Array(0) }));
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
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4): peerWelcome.serverProof does not match this worker's secret: the peer listener could not prove it knows it (the two sides were given different secrets (--token / GNET_TOKEN), or one has none)`,
    );
    // The dialer told the listener why and closed with 1008.
    const [peer] = await accepting;
    const closed = await new Promise<[number, string]>((resolve) => peer!.socket.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])));
    assert.deepEqual(closed, [1008, 'PROTO_AUTH']);
    assert.deepEqual(peer!.takeEarlyFrames().map((f) => decodeMessage(f).type), ['error']);
  } finally {
    await listener.close();
  }
});

test('a peerHello of another protocol version is refused with PROTO_VERSION before its proof is looked at', async () => {
  const listener = await WsPeerListener.listen({ token: 'ring-secret' });
  try {
    const client = await rawClient(listener.url);
    const frame = Buffer.from(encodeMessage({ type: 'peerHello', protocolVersion: PROTOCOL_VERSION, ...hello, nonce: new Uint8Array(32), proof: new Uint8Array(0) }));
    const at = frame.indexOf(Buffer.from('protocolVersion')) + 'protocolVersion'.length;
    frame[at] = 3;
    client.socket.send(frame);
    assert.deepEqual(await client.closed, [1008, 'PROTO_VERSION']);
    const error = client.messages.find((m) => m.type === 'error');
    assert.equal(error?.type === 'error' && error.message, 'Unsupported protocol version 3 (supported: 2)');
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
    assert.deepEqual(client.messages.map((m) => m.type), ['challenge', 'error']);
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
    const err = await dialPeer({ url: listener.url, peerRank: 4, hello, token: 'ring-secret' }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CollectiveConfigError);
    assert.equal(
      err.message,
      `Peer listener ${listener.url} (rank 4): its TLS certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate); trust its CA with \`ca\` (worker flag --tls-ca)`,
    );
  } finally {
    await listener.close();
  }
});
