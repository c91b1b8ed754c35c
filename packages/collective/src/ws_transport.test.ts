// WsTransport, WsPeerListener and the connect helpers over real sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, ProtocolError, type PeerIdentity } from '@gnet/protocol';
import WebSocket from 'ws';
import { CollectiveTimeoutError, PeerLostError } from './errors.js';
import { wsRing } from './testing/ws_group.js';
import type { WaitOptions } from './transport.js';
import { dialPeer } from './ws_connect.js';
import { WsPeerListener } from './ws_peer_listener.js';
import { WsTransport } from './ws_transport.js';

const wait = (timeoutMs = 2000): WaitOptions => ({ timeoutMs, operation: 'test', round: 1 });
const hello = (rank: number, generation = 0): PeerIdentity => ({ runId: 'run', generation, rank });

test('a frame list arrives as one message, in order; for N = 2 each direction uses its own connection', async () => {
  const group = await wsRing(2);
  try {
    const [a, b] = group.transports;
    await a!.send(1, [new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5])], wait());
    await a!.send(1, new Uint8Array([6]), wait());
    assert.deepEqual([...(await b!.recv(0, wait()))], [1, 2, 3, 4, 5]);
    assert.deepEqual([...(await b!.recv(0, wait()))], [6]);
    await b!.send(0, new Uint8Array([7]), wait());
    assert.deepEqual([...(await a!.recv(1, wait()))], [7]);
  } finally {
    await group.close();
  }
});

test('sends wait for the socket: a peer that does not read pushes back on the sender', async () => {
  const listener = await WsPeerListener.listen();
  try {
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [1] }, 5000);
    const dialed = await dialPeer({ url: listener.url, peerRank: 0, hello: hello(1) });
    const [peer] = await accepting;
    const sender = new WsTransport({ rank: 0 });
    sender.attach(1, peer!.socket, 'accepted', peer!.takeEarlyFrames());
    // A 1 MiB high-water mark: the receiver stops reading once 1 MiB waits unread.
    const receiver = new WsTransport({ rank: 1, highWaterBytes: 1 << 20 });
    receiver.attach(0, dialed.socket, 'dialed', dialed.takeEarlyFrames());
    const frame = new Uint8Array(1 << 20);
    let sent = 0;
    const sends = Array.from({ length: 48 }, () => sender.send(1, frame, wait(10_000)).then(() => void (sent += 1)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(sent < 48, `all ${sent} MiB were accepted although nobody read`);
    for (let i = 0; i < 48; i += 1) assert.equal((await receiver.recv(0, wait())).byteLength, 1 << 20);
    await Promise.all(sends);
    assert.equal(sent, 48);
    await Promise.all([sender.close(), receiver.close()]);
  } finally {
    await listener.close();
  }
});

test('control frames go to onControlFrame; chunk frames to recv', async () => {
  const listener = await WsPeerListener.listen();
  try {
    const accepting = listener.accept({ runId: 'run', generation: 0, ranks: [3] }, 5000);
    const dialed = await dialPeer({ url: listener.url, peerRank: 0, hello: hello(3) });
    const [peer] = await accepting;
    const control: unknown[] = [];
    const hubSide = new WsTransport({ rank: 0, onControlFrame: (rank, frame) => control.push([rank, decodeMessage(frame)]) });
    hubSide.attach(3, peer!.socket, 'accepted', peer!.takeEarlyFrames());
    const workerSide = new WsTransport({ rank: 3 });
    workerSide.attach(0, dialed.socket, 'dialed', dialed.takeEarlyFrames());
    await workerSide.send(0, encodeMessage({ type: 'ready', generation: 0 }), wait());
    await workerSide.send(0, new Uint8Array([0x47, 0x4e, 0x43, 0x4b, 1]), wait());
    const chunkish = await hubSide.recv(3, wait());
    assert.deepEqual([...chunkish], [0x47, 0x4e, 0x43, 0x4b, 1]);
    assert.deepEqual(control.at(-1), [3, { type: 'ready', generation: 0 }]);
    await Promise.all([hubSide.close(), workerSide.close()]);
  } finally {
    await listener.close();
  }
});

test('a peerHello of another generation is refused before any peerWelcome: the dial fails with PROTO_PEER_MISMATCH; accept times out naming the rank', async () => {
  const listener = await WsPeerListener.listen();
  try {
    const accepting = listener.accept({ runId: 'run', generation: 2, ranks: [1] }, 300).then(
      () => null,
      (e: unknown) => e,
    );
    // ws's own receiver and the fast frame reader read the listener's `error` the same way.
    for (const fastReceive of [false, true]) {
      const refused = await dialPeer({ url: listener.url, peerRank: 2, hello: hello(1, 1), fastReceive }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof ProtocolError, `fastReceive ${fastReceive}: ${String(refused)}`);
      assert.equal(refused.code, 'PROTO_PEER_MISMATCH');
      assert.equal(
        refused.message,
        `Peer listener ${listener.url} (rank 2) refused our peerHello with PROTO_PEER_MISMATCH: peerHello.generation must be 2 (this group), but got 1`,
      );
    }
    const err = await accepting;
    assert.ok(err instanceof CollectiveTimeoutError);
    assert.equal(err.peerRank, 1);
    assert.equal(err.operation, 'accept peerHello');
    assert.match(err.message, /^Timed out after \d+ ms waiting on rank 1 during accept peerHello$/);
  } finally {
    await listener.close();
  }
});

test('a first message that is not a peerHello is refused with its ProtocolError code', async () => {
  const listener = await WsPeerListener.listen();
  try {
    const socket = new WebSocket(listener.url);
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(encodeMessage({ type: 'ready', generation: 0 }));
    const [code, reason] = await new Promise<[number, string]>((resolve) =>
      socket.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])),
    );
    assert.equal(code, 1002);
    assert.equal(reason, 'PROTO_UNEXPECTED');
  } finally {
    await listener.close();
  }
});

test('a closed peer fails pending calls at once with PeerLostError carrying the close code', async () => {
  const group = await wsRing(3);
  try {
    const pending = group.transports[0]!.recv(1, { timeoutMs: 60_000, operation: 'ring all-gather recv', round: 12 }).then(
      () => null,
      (e: unknown) => e,
    );
    const started = performance.now();
    await group.transports[1]!.close(1001, 'COLLECTIVE_TIMEOUT');
    const err = await pending;
    assert.ok(err instanceof PeerLostError);
    assert.equal(err.message, 'Lost peer rank 1 during ring all-gather recv in round 12: closed by peer with 1001 COLLECTIVE_TIMEOUT');
    assert.ok(performance.now() - started < 1000);
    await assert.rejects(group.transports[0]!.send(1, new Uint8Array(1), wait()), PeerLostError);
  } finally {
    await group.close();
  }
});

test('an unreachable peer fails the dial with PeerLostError', async () => {
  const listener = await WsPeerListener.listen();
  const url = listener.url;
  await listener.close();
  await assert.rejects(dialPeer({ url, peerRank: 5, hello: hello(4), timeoutMs: 2000 }), (err: unknown) => {
    assert.ok(err instanceof PeerLostError);
    assert.equal(err.peerRank, 5);
    assert.match(err.message, /^Lost peer rank 5 during dial ws:\/\/127\.0\.0\.1:\d+: cannot connect: .*ECONNREFUSED/);
    return true;
  });
});

test('detach hands a live socket to a new transport: frames after the hand-over reach the new one, calls on the old one fail', async () => {
  const { WebSocketServer } = await import('ws');
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve) => client.once('open', resolve));
  const serverSide = await accepted;
  try {
    const remote = new WsTransport({ rank: 9 });
    remote.attach(0, client, 'dialed');
    const first = new WsTransport({ rank: 0 });
    first.attach(9, serverSide, 'accepted');
    await remote.send(0, new Uint8Array([1]), wait());
    assert.deepEqual([...(await first.recv(9, wait()))], [1]);
    const pending = first.recv(9, wait());
    first.detach();
    await assert.rejects(
      pending,
      (err: unknown) => err instanceof Error && err.name === 'TransportClosedError' && /detached/.test(err.message),
    );
    const second = new WsTransport({ rank: 0 });
    second.attach(1, serverSide, 'accepted');
    await remote.send(0, new Uint8Array([2, 3]), wait());
    assert.deepEqual([...(await second.recv(1, wait()))], [2, 3]);
    assert.equal(serverSide.readyState, serverSide.OPEN, 'detach must not close the socket');
    await assert.rejects(
      first.send(9, new Uint8Array([4]), wait()),
      (err: unknown) => err instanceof Error && err.name === 'TransportClosedError',
    );
    await Promise.all([second.close(), remote.close()]);
  } finally {
    server.close();
  }
});

for (const fastReceive of [true, false]) {
  test(`a peer that closes normally right after sending loses none of its frames (N = 2, ${fastReceive ? 'frame reader' : 'ws receiver'})`, async () => {
    // Each direction of an N = 2 ring has its own socket: the close of the idle one arrives before
    // the frames still in flight on the other, and must not cut them off (a TLS ring reads through ws).
    const group = await wsRing(2, 'secret', null, fastReceive);
    try {
      const [a, b] = group.transports;
      const frames = Array.from({ length: 16 }, (_, i) => new Uint8Array(1 << 20).fill(i));
      const sends = frames.map((frame) => a!.send(1, frame, wait(10_000)).catch((e: unknown) => e));
      const closing = a!.close();
      for (let i = 0; i < frames.length; i += 1) {
        const frame = await b!.recv(0, wait(10_000));
        assert.equal(frame.byteLength, 1 << 20);
        assert.equal(frame[0], i, `frame ${i} arrived out of order`);
      }
      await closing;
      await Promise.all(sends);
      await assert.rejects(b!.recv(0, wait()), PeerLostError);
    } finally {
      await group.close();
    }
  });
}
