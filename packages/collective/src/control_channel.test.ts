// ControlChannel over real WebSockets on 127.0.0.1 (port 0): the channel on the accepting side, a
// plain ws client as the peer. Timeouts are a few hundred milliseconds, with margins for a loaded
// machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, ProtocolError, type Message } from '@gnet/protocol';
import WebSocket, { WebSocketServer } from 'ws';
import { ControlChannel, type ChannelEnd } from './control_channel.js';
import { CollectiveUsageError } from './errors.js';
import { WsTransport } from './ws_transport.js';

/** A connected pair: `accepted` (server side, the channel's) and `peer` (the client), and what the peer received. */
interface Pair {
  accepted: WebSocket;
  peer: WebSocket;
  /** Messages the peer received, decoded. */
  received: Message[];
  /** The close code and reason the peer saw. */
  peerClosed: Promise<{ code: number; reason: string }>;
  /** Frames that reached `accepted` before a reader took over (what a rendezvous collects). */
  early: Uint8Array[];
  stopCollecting(): Uint8Array[];
  close(): Promise<void>;
}

async function connectedPair(): Promise<Pair> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  const acceptedP = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const peer = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  const received: Message[] = [];
  peer.on('message', (data: Buffer) => received.push(decodeMessage(data)));
  peer.on('error', () => undefined);
  const peerClosed = new Promise<{ code: number; reason: string }>((resolve) =>
    peer.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
  );
  await new Promise<void>((resolve, reject) => {
    peer.once('open', () => resolve());
    peer.once('error', reject);
  });
  const accepted = await acceptedP;
  accepted.on('error', () => undefined);
  const early: Uint8Array[] = [];
  const collect = (data: Buffer): void => void early.push(data);
  accepted.on('message', collect);
  return {
    accepted,
    peer,
    received,
    peerClosed,
    early,
    stopCollecting: () => {
      accepted.off('message', collect);
      return early.splice(0);
    },
    close: async () => {
      peer.terminate();
      accepted.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms; fails after `timeoutMs` naming `what`. */
async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(10);
  }
}

const ready = (generation: number): Uint8Array => encodeMessage({ type: 'ready', generation });
const FROM_PEER = ['ready', 'heartbeat', 'leave'] as const;

test('listen: early frames first, then live ones, in order; heartbeats count as heard but are not delivered', async () => {
  const pair = await connectedPair();
  try {
    pair.peer.send(ready(1));
    pair.peer.send(encodeMessage({ type: 'heartbeat', sentAtMs: 1 }));
    pair.peer.send(ready(2));
    await until(() => pair.early.length === 3, 'three early frames');
    const got: Message[] = [];
    const channel = new ControlChannel({ socket: pair.accepted, expect: FROM_PEER, onMessage: (m) => got.push(m) });
    const heardBefore = channel.lastHeardMs;
    // The hand-over, in one tick: the collector lets go, the channel starts reading.
    channel.listen(pair.stopCollecting());
    pair.peer.send(ready(3));
    pair.peer.send(ready(4));
    await until(() => got.length === 4, 'four messages');
    assert.deepEqual(
      got.map((m) => (m.type === 'ready' ? m.generation : -1)),
      [1, 2, 3, 4],
    );
    assert.ok(channel.lastHeardMs > heardBefore);
    assert.equal(channel.ended, null);
  } finally {
    await pair.close();
  }
});

test('a malformed frame: the peer receives `error`, the socket closes with its close code, and the verdict is `protocol`', async () => {
  const pair = await connectedPair();
  try {
    const ends: ChannelEnd[] = [];
    const got: Message[] = [];
    const channel = new ControlChannel({
      socket: pair.accepted,
      expect: FROM_PEER,
      onMessage: (m) => got.push(m),
      onEnd: (end) => ends.push(end),
    });
    channel.listen(pair.stopCollecting());
    pair.peer.send(Buffer.from([0xc1]));
    pair.peer.send(ready(9));
    const closed = await pair.peerClosed;
    assert.deepEqual(closed, { code: 1002, reason: 'PROTO_MALFORMED' });
    assert.equal(pair.received.length, 1);
    const told = pair.received[0]!;
    assert.equal(told.type, 'error');
    assert.equal(told.type === 'error' ? told.code : '', 'PROTO_MALFORMED');
    assert.equal(ends.length, 1);
    const end = ends[0]!;
    assert.ok(end.kind === 'protocol' && end.error instanceof ProtocolError && end.error.code === 'PROTO_MALFORMED');
    assert.deepEqual(got, [], 'nothing after the bad frame is delivered');
  } finally {
    await pair.close();
  }
});

test('a message the peer may not send is PROTO_UNEXPECTED (close 1002); the owner can refuse too', async () => {
  const pair = await connectedPair();
  try {
    const ends: ChannelEnd[] = [];
    const channel = new ControlChannel({
      socket: pair.accepted,
      expect: ['heartbeat'],
      onMessage: () => undefined,
      onEnd: (e) => ends.push(e),
    });
    channel.listen();
    pair.peer.send(ready(0));
    assert.deepEqual(await pair.peerClosed, { code: 1002, reason: 'PROTO_UNEXPECTED' });
    assert.equal(pair.received[0]?.type, 'error');
    assert.equal(ends.length, 1);
    assert.ok(ends[0]!.kind === 'protocol' && ends[0]!.error.code === 'PROTO_UNEXPECTED');
    // A second refusal of an ended channel neither sends nor gives a second verdict.
    channel.refuse(new ProtocolError('PROTO_MALFORMED', 'again'));
    await sleep(50);
    assert.equal(ends.length, 1);
    assert.equal(pair.received.length, 1);
  } finally {
    await pair.close();
  }
});

test('heartbeats go out at the period until the channel is released', async () => {
  const pair = await connectedPair();
  try {
    const channel = new ControlChannel({ socket: pair.accepted });
    const arrivals: number[] = [];
    pair.peer.on('message', () => arrivals.push(performance.now()));
    channel.startHeartbeat(100);
    await until(() => arrivals.length >= 4, 'four heartbeats');
    channel.release();
    const count = arrivals.length;
    assert.ok(pair.received.every((m) => m.type === 'heartbeat'));
    // Four beats need at least three periods (timers never fire early).
    assert.ok(arrivals[3]! - arrivals[0]! >= 3 * 100 - 5, `beats ${arrivals[3]! - arrivals[0]!} ms apart over three periods`);
    await sleep(350);
    assert.ok(arrivals.length <= count + 1, 'no heartbeats after release');
    assert.throws(() => channel.listen(), CollectiveUsageError);
  } finally {
    await pair.close();
  }
});

test('silence: a quiet peer ends the channel once (`silent`), a heartbeating one does not', async () => {
  const quiet = await connectedPair();
  const talking = await connectedPair();
  const beat = setInterval(() => talking.peer.send(encodeMessage({ type: 'heartbeat', sentAtMs: Date.now() })), 50);
  try {
    const quietEnds: ChannelEnd[] = [];
    const talkingEnds: ChannelEnd[] = [];
    const startedMs = performance.now();
    const quietChannel = new ControlChannel({
      socket: quiet.accepted,
      expect: FROM_PEER,
      onMessage: () => undefined,
      onEnd: (e) => quietEnds.push(e),
    });
    quietChannel.listen(quiet.stopCollecting());
    quietChannel.watchSilence(300, 50);
    const talkingChannel = new ControlChannel({
      socket: talking.accepted,
      expect: FROM_PEER,
      onMessage: () => undefined,
      onEnd: (e) => talkingEnds.push(e),
    });
    talkingChannel.listen(talking.stopCollecting());
    talkingChannel.watchSilence(400, 50);
    await until(() => quietEnds.length === 1, 'the silent verdict');
    const end = quietEnds[0]!;
    assert.ok(end.kind === 'silent' && end.limitMs === 300 && end.silentMs > 300, JSON.stringify(end));
    assert.ok(performance.now() - startedMs >= 300);
    await sleep(300);
    assert.equal(quietEnds.length, 1, 'one verdict');
    // The socket of a silent peer stays open: its owner decides. Its frames are still read.
    assert.equal(quietChannel.isOpen, true);
    assert.deepEqual(talkingEnds, []);
    // Closed after the silent verdict: still one verdict.
    quiet.peer.close(4000, 'late');
    await sleep(100);
    assert.equal(quietEnds.length, 1);
  } finally {
    clearInterval(beat);
    await quiet.close();
    await talking.close();
  }
});

test('the peer closing ends the channel once with its code and reason; closing it ourselves gives no verdict', async () => {
  const pair = await connectedPair();
  const ours = await connectedPair();
  try {
    const ends: ChannelEnd[] = [];
    const channel = new ControlChannel({
      socket: pair.accepted,
      expect: FROM_PEER,
      onMessage: () => undefined,
      onEnd: (e) => ends.push(e),
    });
    channel.listen(pair.stopCollecting());
    channel.watchSilence(200, 50);
    pair.peer.close(4001, 'bye');
    await until(() => ends.length > 0, 'the close verdict');
    await sleep(400);
    assert.deepEqual(ends, [{ kind: 'closed', code: 4001, reason: 'bye' }]);
    assert.equal(channel.send({ type: 'heartbeat', sentAtMs: 0 }), false, 'nothing is sent on a closed socket');

    const ourEnds: ChannelEnd[] = [];
    const ourChannel = new ControlChannel({
      socket: ours.accepted,
      expect: FROM_PEER,
      onMessage: () => undefined,
      onEnd: (e) => ourEnds.push(e),
    });
    ourChannel.listen(ours.stopCollecting());
    await ourChannel.close(4002, 'done');
    assert.deepEqual(await ours.peerClosed, { code: 4002, reason: 'done' });
    assert.deepEqual(ourEnds, []);
    assert.equal(ourChannel.ended, null);
  } finally {
    await pair.close();
    await ours.close();
  }
});

test('star mode: a WsTransport reads the socket, control frames (early ones first) reach the channel, chunk frames the transport', async () => {
  const pair = await connectedPair();
  try {
    pair.peer.send(ready(1));
    await until(() => pair.early.length === 1, 'the early frame');
    const got: Message[] = [];
    const ends: ChannelEnd[] = [];
    const channel = new ControlChannel({
      socket: pair.accepted,
      expect: FROM_PEER,
      onMessage: (m) => got.push(m),
      onEnd: (e) => ends.push(e),
    });
    const transport = new WsTransport({ rank: 0, onControlFrame: (_rank, frame) => channel.receive(frame) });
    transport.attach(1, pair.accepted, 'accepted', pair.stopCollecting());
    // A chunk frame starts with the chunk magic ('GNCK'); its body is the all-reduce's business.
    const chunk = new Uint8Array([0x47, 0x4e, 0x43, 0x4b, 7]);
    pair.peer.send(ready(2));
    pair.peer.send(chunk);
    pair.peer.send(ready(3));
    const frame = await transport.recv(1, { timeoutMs: 3000, operation: 'test', round: 1 });
    assert.deepEqual([...frame], [...chunk]);
    await until(() => got.length === 3, 'three control messages');
    assert.deepEqual(
      got.map((m) => (m.type === 'ready' ? m.generation : -1)),
      [1, 2, 3],
    );
    // A malformed control frame is the channel's to refuse, even though the transport reads the socket.
    pair.peer.send(Buffer.from([0xc1]));
    assert.deepEqual(await pair.peerClosed, { code: 1002, reason: 'PROTO_MALFORMED' });
    assert.equal(ends.length, 1);
    assert.equal(ends[0]!.kind, 'protocol');
    await transport.close();
  } finally {
    await pair.close();
  }
});
