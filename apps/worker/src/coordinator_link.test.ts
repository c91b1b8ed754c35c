// The worker's side of the handshake over real sockets, against a fake coordinator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { createNonce, decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type Hello, type Welcome } from '@gnet/protocol';
import { CoordinatorLink, CoordinatorLinkError, type HelloFields } from './coordinator_link.js';
import { WorkerRunError } from './worker_run_error.js';
import { sampleWelcome } from './testing/sample_welcome.js';

const log = pino({ level: 'silent' });
const hello: HelloFields = { type: 'hello', protocolVersion: PROTOCOL_VERSION, workerId: 'w', backend: 'cpu', device: 'test', peer: null };
const welcome: Welcome = sampleWelcome();

/** A fake coordinator: `challenge` on each connection, then answers each hello with `answer(socket, hello)`. */
async function fakeCoordinator(answer: (socket: WebSocket, hello: Hello) => void): Promise<{ url: string; close(): void }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (socket) => {
    socket.once('message', (data: Buffer) => answer(socket, decodeMessage(data) as Hello));
    socket.send(encodeMessage({ type: 'challenge', nonce: createNonce() }));
  });
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () => {
      for (const c of server.clients) c.terminate();
      server.close();
    },
  };
}

const connect = (url: string, connectTimeoutMs = 5000) =>
  CoordinatorLink.connect({ url, hello, secret: '', connectTimeoutMs, joinTimeoutMs: 5000, silenceTimeoutMs: 60_000, log });

test('a reject becomes PROTO_REJECTED with the coordinator code and reason', async () => {
  const c = await fakeCoordinator((socket) =>
    socket.send(encodeMessage({ type: 'reject', code: 'DUPLICATE_WORKER', message: "A worker named 'w' has already joined" })),
  );
  try {
    await assert.rejects(
      connect(c.url),
      (e: unknown) =>
        e instanceof ProtocolError &&
        e.code === 'PROTO_REJECTED' &&
        e.message === "Coordinator rejected hello with DUPLICATE_WORKER: A worker named 'w' has already joined",
    );
  } finally {
    c.close();
  }
});

test('after welcome, control messages queue in order, heartbeats do not, and a vanished coordinator fails the next wait', async () => {
  let coordinatorSide: WebSocket | null = null;
  const c = await fakeCoordinator((socket, h) => {
    assert.equal(h.workerId, 'w');
    coordinatorSide = socket;
    socket.send(encodeMessage(welcome));
    socket.send(
      encodeMessage({ type: 'initialWeights', generation: 0, round: 0, epoch: 0, step: 0, globalStep: 0, tensors: [], momentum: [] }),
    );
    socket.send(encodeMessage({ type: 'heartbeat', sentAtMs: 1 }));
    socket.send(encodeMessage({ type: 'roundStart', round: 1, epoch: 0, step: 0, globalStep: 0, lr: 0.1 }));
  });
  try {
    const link = await connect(c.url);
    assert.equal(link.welcome.runId, 'run');
    assert.equal((await link.next()).type, 'initialWeights');
    assert.equal((await link.next()).type, 'roundStart');
    const pending = link.next();
    coordinatorSide!.terminate();
    await assert.rejects(
      pending,
      (e: unknown) =>
        e instanceof CoordinatorLinkError &&
        e.code === 'LINK_LOST' &&
        /^The coordinator closed the connection \(1006\): it exited or the network dropped$/.test(e.message),
    );
    await link.close();
  } finally {
    c.close();
  }
});

test('ring mode: no transport on the control socket; a re-formed welcome is read, a malformed frame is refused with error and its close code', async () => {
  const ringWelcome: Welcome = {
    ...welcome,
    allReduce: { ...welcome.allReduce, algorithm: 'ring' },
    peers: [{ rank: 0, url: 'ws://127.0.0.1:1' }],
  };
  let coordinatorSide: WebSocket | null = null;
  const told: string[] = [];
  const c = await fakeCoordinator((socket) => {
    coordinatorSide = socket;
    socket.on('message', (data: Buffer) => told.push(decodeMessage(data).type));
    socket.send(encodeMessage(ringWelcome));
  });
  try {
    const link = await connect(c.url);
    assert.equal(link.transport, null);
    assert.throws(
      () => link.starHub(),
      (e: unknown) => e instanceof WorkerRunError && e.code === 'WORKER_PROTOCOL',
    );
    coordinatorSide!.send(encodeMessage({ ...ringWelcome, generation: 1, rank: 0 }));
    const next = await link.next();
    assert.ok(next.type === 'welcome' && next.generation === 1);
    assert.equal(link.welcome.generation, 1);
    assert.equal(link.transport, null);
    const closed = new Promise<number>((resolve) => coordinatorSide!.once('close', (code: number) => resolve(code)));
    coordinatorSide!.send(Buffer.from([0xc1]));
    await assert.rejects(link.next(), (e: unknown) => e instanceof ProtocolError && e.code === 'PROTO_MALFORMED');
    assert.equal(await closed, 1002);
    assert.deepEqual(told, ['error']);
    await link.close();
  } finally {
    c.close();
  }
});

test('a coordinator that sends nothing fails the link with LINK_SILENT', async () => {
  const c = await fakeCoordinator((socket) => socket.send(encodeMessage(welcome)));
  try {
    const link = await CoordinatorLink.connect({
      url: c.url,
      hello,
      secret: '',
      connectTimeoutMs: 5000,
      joinTimeoutMs: 5000,
      silenceTimeoutMs: 300,
      log,
    });
    assert.ok(link.transport !== null, 'star mode: the socket is a transport to the hub');
    await assert.rejects(
      link.next(),
      (e: unknown) =>
        e instanceof CoordinatorLinkError &&
        e.code === 'LINK_SILENT' &&
        /^The coordinator sent nothing for \d+ ms \(limit 300 ms\)$/.test(e.message),
    );
    await link.close();
  } finally {
    c.close();
  }
});

test('nobody listening: LINK_UNREACHABLE after the connect timeout', async () => {
  const c = await fakeCoordinator(() => undefined);
  const url = c.url;
  c.close();
  await assert.rejects(
    connect(url, 1500),
    (e: unknown) =>
      e instanceof CoordinatorLinkError &&
      e.code === 'LINK_UNREACHABLE' &&
      e.message.startsWith(`Cannot reach the coordinator at ${url} within 1500 ms`),
  );
});
