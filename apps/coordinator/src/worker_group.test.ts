import { test } from 'node:test';
import assert from 'node:assert/strict';
import type WebSocket from 'ws';
import { CollectiveUsageError } from '@gnet/collective';
import { decodeMessage, encodeMessage, type AllReduceAlgorithm, type ChunkMessage } from '@gnet/protocol';
import { PhaseTimeoutError, RoundFailedError, WorkerLostError } from './errors.js';
import { Rendezvous } from './rendezvous.js';
import { capturingLogger, fakeWorker, hello, type FakeWorker } from './testing/sockets.js';
import { WorkerGroup } from './worker_group.js';

/** How a test's group is formed: its logger (kept lines), all-reduce, silence limit, generation and stall warnings. */
interface GroupOptions {
  lines?: ReturnType<typeof capturingLogger>;
  algorithm?: AllReduceAlgorithm;
  workerTimeoutMs?: number;
  generation?: number;
  stallWarnMs?: number;
}

interface FormedGroup {
  group: WorkerGroup;
  workers: FakeWorker[];
  rv: Rendezvous;
  lines: Record<string, unknown>[];
}

/** Two fake workers (w0, w1) joined through a real rendezvous on 127.0.0.1, formed into generation 0. */
async function formGroup(options: GroupOptions = {}): Promise<FormedGroup> {
  const { lines = capturingLogger('warn'), algorithm = 'star', workerTimeoutMs = 60_000, generation = 0, stallWarnMs = 100 } = options;
  const rv = await Rendezvous.listen({
    host: '127.0.0.1',
    port: 0,
    token: 'tok',
    maxWorkers: 2,
    activeWorkerIds: () => [],
    algorithm,
    log: lines.log,
  });
  const joining = rv.join(2, 5000);
  const workers = [await fakeWorker(rv.url, hello('w0')), await fakeWorker(rv.url, hello('w1'))];
  const group = new WorkerGroup({
    members: await joining,
    generation,
    algorithm,
    log: lines.log,
    heartbeatMs: 50,
    stallWarnMs,
    workerTimeoutMs,
  });
  return { group, workers, rv, lines: lines.lines };
}

/** Forms a group (`formGroup`), runs `body` with it, then closes the group and the rendezvous whatever happened. */
async function withGroup(options: GroupOptions, body: (formed: FormedGroup) => Promise<void>): Promise<void> {
  const formed = await formGroup(options);
  try {
    await body(formed);
  } finally {
    await formed.group.close(null);
    formed.rv.close();
  }
}

/** A well-formed gradient chunk of 4 float32 values from `rank`: what a star worker sends its hub. */
function gradChunk(rank: number, round: number): ChunkMessage {
  const values = new Float32Array([1, 2, 3, rank]);
  return {
    type: 'gradChunk',
    round,
    bucket: 0,
    chunk: 0,
    offset: 0,
    count: values.length,
    dtype: 'float32',
    rank,
    bytes: new Uint8Array(values.buffer),
  };
}

/** Resolves once the coordinator's end of a socket has received `count` more frames (whoever reads them). */
function framesArrived(socket: WebSocket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onMessage = (): void => {
      seen += 1;
      if (seen < count) return;
      socket.off('message', onMessage);
      resolve();
    };
    socket.on('message', onMessage);
  });
}

test('collect gathers one message per rank, heartbeats flow, stragglers are named, then timed out', async () => {
  await withGroup({}, async ({ group, workers, lines }) => {
    group.setPhase('round 0 (initial weights check)');
    const ready = group.collect('ready', { timeoutMs: 2000 });
    workers[1]!.socket.send(encodeMessage({ type: 'heartbeat', sentAtMs: Date.now() }));
    workers[1]!.socket.send(encodeMessage({ type: 'ready', generation: 0 }));
    workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 0 }));
    assert.deepEqual(await ready, [
      { type: 'ready', generation: 0 },
      { type: 'ready', generation: 0 },
    ]);
    assert.equal((await workers[0]!.next()).type, 'heartbeat');

    group.setPhase('round 1 (epoch 0, step 0)');
    const metrics = group.collect('evalResult', { timeoutMs: 400 });
    await assert.rejects(
      metrics,
      (e: unknown) =>
        e instanceof PhaseTimeoutError &&
        e.code === 'COORD_TIMEOUT' &&
        e.message ===
          'Ranks 0, 1 did not answer within 400 ms during round 1 (epoch 0, step 0); raise --round-timeout-ms if the workers are just slow',
    );
    const stall = lines.find((l) => l['msg'] === 'stall: waiting for ranks');
    assert.ok(stall, 'a stall warning was logged');
    assert.deepEqual(stall['missingRanks'], [0, 1]);
    assert.ok((stall['waitingMs'] as number) >= 100);
  });
});

test('a worker that disappears fails the wait at once, naming its rank and the phase', async () => {
  await withGroup({}, async ({ group, workers }) => {
    group.setPhase('round 7 (epoch 1, step 3)');
    const waiting = group.collect('metrics', { timeoutMs: 60_000 });
    const started = performance.now();
    workers[1]!.socket.terminate();
    await assert.rejects(
      waiting,
      (e: unknown) =>
        e instanceof WorkerLostError &&
        e.rank === 1 &&
        e.code === 'COORD_WORKER_LOST' &&
        /^Rank 1 \(worker 'w1'\) lost during round 7 \(epoch 1, step 3\): connection lost \(1006/.test(e.message),
    );
    assert.ok(performance.now() - started < 2000);
    // Later waits fail the same way.
    await assert.rejects(group.collect('ready', { timeoutMs: 1000 }), WorkerLostError);
  });
});

test('a malformed message is answered with `error` and ends the run', async () => {
  await withGroup({}, async ({ group, workers }) => {
    const waiting = group.collect('ready', { timeoutMs: 60_000 });
    workers[0]!.socket.send(Buffer.from([0xc1]));
    await assert.rejects(
      waiting,
      (e: unknown) => e instanceof WorkerLostError && e.rank === 0 && /sent a bad message \(PROTO_MALFORMED\)/.test(e.message),
    );
    const error = await workers[0]!.next();
    assert.equal(error.type === 'error' && error.code, 'PROTO_MALFORMED');
    assert.equal((await workers[0]!.closed).code, 1002);
  });
});

test('a silent worker is lost after --worker-timeout-ms; detach hands the survivor on, tells the silent one it was evicted and why, and cuts its socket', async () => {
  const lines = capturingLogger('warn');
  const { group, workers, rv } = await formGroup({ lines, generation: 3, stallWarnMs: 10_000, workerTimeoutMs: 600 });
  // w0 keeps talking; w1 (a frozen process: its socket stays open) says nothing.
  const beat = setInterval(() => workers[0]!.socket.send(encodeMessage({ type: 'heartbeat', sentAtMs: Date.now() })), 100);
  try {
    const waiting = group.collect('metrics', { timeoutMs: 30_000 });
    await assert.rejects(
      waiting,
      (e: unknown) => e instanceof WorkerLostError && e.rank === 1 && /silent for \d+ ms \(limit --worker-timeout-ms 600\)/.test(e.message),
    );
    assert.deepEqual(group.aliveRanks, [0]);
    const survivors = group.detach();
    assert.deepEqual(
      survivors.map((c) => c.hello.workerId),
      ['w0'],
    );
    // A frozen process that wakes up reads why it lost its place (not "the coordinator died").
    assert.deepEqual(await workers[1]!.closed, { code: 1008, reason: 'evicted' });
    const leave = workers[1]!.received.find((m) => m.type === 'leave');
    assert.ok(
      leave?.type === 'leave' &&
        leave.reason === 'evicted' &&
        /generation 3 ended without this worker: silent for \d+ ms \(limit --worker-timeout-ms 600\)/.test(leave.message),
      JSON.stringify(leave),
    );
    // The survivor's socket is open and its messages wait for the next generation.
    workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 4 }));
    const next = new WorkerGroup({
      members: survivors,
      generation: 4,
      algorithm: 'star',
      log: lines.log,
      heartbeatMs: 50,
      stallWarnMs: 10_000,
      workerTimeoutMs: 60_000,
    });
    assert.deepEqual(await next.collect('ready', { timeoutMs: 5000, match: (m) => m.generation === 4 }), [
      { type: 'ready', generation: 4 },
    ]);
    await next.close(null);
  } finally {
    clearInterval(beat);
    rv.close();
  }
});

test('a roundFailed report fails the wait with RoundFailedError; stale replies are dropped by match', async () => {
  await withGroup({}, async ({ group, workers }) => {
    workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 0 }));
    workers[1]!.socket.send(encodeMessage({ type: 'ready', generation: 1 }));
    const ready = group.collect('ready', { timeoutMs: 500, match: (m) => m.generation === 1 });
    await assert.rejects(ready, (e: unknown) => e instanceof PhaseTimeoutError && e.missingRanks.length === 1 && e.missingRanks[0] === 0);
    const waiting = group.collect('metrics', { timeoutMs: 30_000 });
    workers[1]!.socket.send(
      encodeMessage({ type: 'roundFailed', round: 9, code: 'COLLECTIVE_PEER_LOST', message: 'Lost peer rank 0', peerRank: 0 }),
    );
    await assert.rejects(
      waiting,
      (e: unknown) =>
        e instanceof RoundFailedError &&
        e.rank === 1 &&
        e.peerRank === 0 &&
        e.code === 'COORD_ROUND_FAILED' &&
        e.message === 'Rank 1 failed round 9 waiting for rank 0: Lost peer rank 0',
    );
  });
});

test(
  'ring mode: a chunk frame on a control socket is refused with PROTO_UNEXPECTED and its rank is lost',
  { timeout: 20_000 },
  async () => {
    await withGroup({ algorithm: 'ring' }, async ({ group, workers }) => {
      // Chunks travel on the ring's own connections: no star transport exists to take them.
      assert.throws(
        () => group.starHub(),
        (e: unknown) =>
          e instanceof CollectiveUsageError &&
          e.code === 'COLLECTIVE_USAGE' &&
          e.message === "WorkerGroup.starHub: the workers' sockets carry chunks only for the star all-reduce, but generation 0 uses 'ring'",
      );
      const waiting = group.collect('metrics', { timeoutMs: 60_000 });
      workers[1]!.socket.send(encodeMessage(gradChunk(1, 5)));
      await assert.rejects(
        waiting,
        (e: unknown) =>
          e instanceof WorkerLostError &&
          e.rank === 1 &&
          e.workerId === 'w1' &&
          /sent a bad message \(PROTO_UNEXPECTED\): Unexpected message 'gradChunk'/.test(e.message),
      );
      assert.deepEqual(await workers[1]!.closed, { code: 1002, reason: 'PROTO_UNEXPECTED' });
      const error = workers[1]!.received.find((m) => m.type === 'error');
      assert.ok(error?.type === 'error' && error.code === 'PROTO_UNEXPECTED' && /'gradChunk'/.test(error.message), JSON.stringify(error));
      assert.match(group.lost.get(1) ?? '', /^sent a bad message \(PROTO_UNEXPECTED\)/);
      assert.deepEqual(group.aliveRanks, [0]);
      // The other rank's control messages still flow.
      workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 0 }));
      assert.deepEqual(await group.collect('ready', { timeoutMs: 5000, ranks: [0] }), [{ type: 'ready', generation: 0 }]);
    });
  },
);

test('star mode: chunk frames on a control socket reach the hub transport, control messages the group', { timeout: 20_000 }, async () => {
  await withGroup({ algorithm: 'star' }, async ({ group, workers }) => {
    const ready = group.collect('ready', { timeoutMs: 5000, ranks: [1] });
    workers[1]!.socket.send(encodeMessage(gradChunk(1, 5)));
    workers[1]!.socket.send(encodeMessage({ type: 'ready', generation: 0 }));
    const frame = await group.starHub().recv(1, { timeoutMs: 5000, operation: 'test recv', round: 5 });
    const chunk = decodeMessage(frame);
    assert.ok(chunk.type === 'gradChunk' && chunk.round === 5 && chunk.rank === 1, JSON.stringify(chunk.type));
    assert.deepEqual([...new Float32Array(Uint8Array.from(chunk.bytes).buffer)], [1, 2, 3, 1]);
    assert.deepEqual(await ready, [{ type: 'ready', generation: 0 }]);
    assert.equal(group.lost.size, 0);
    assert.equal(
      workers[1]!.received.find((m) => m.type === 'error'),
      undefined,
    );
  });
});

test(
  'ring mode: the survivors hand-over keeps early frames in order, and an early chunk frame is refused by the next generation',
  { timeout: 20_000 },
  async () => {
    const { group, workers, rv } = await formGroup({ algorithm: 'ring' });
    let next: WorkerGroup | null = null;
    try {
      const survivors = group.detach();
      assert.deepEqual(
        survivors.map((c) => c.hello.workerId),
        ['w0', 'w1'],
      );
      // Between generations: rank 0 sends two replies, rank 1 a chunk; all arrive before the next group reads.
      const arrived = [framesArrived(survivors[0]!.socket, 2), framesArrived(survivors[1]!.socket, 1)];
      workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 1 }));
      workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 2 }));
      workers[1]!.socket.send(encodeMessage(gradChunk(1, 9)));
      await Promise.all(arrived);
      next = new WorkerGroup({
        members: survivors,
        generation: 1,
        algorithm: 'ring',
        log: capturingLogger('warn').log,
        heartbeatMs: 50,
        stallWarnMs: 10_000,
        workerTimeoutMs: 60_000,
      });
      // The early chunk was refused as the new channel read it.
      assert.match(next.lost.get(1) ?? '', /^sent a bad message \(PROTO_UNEXPECTED\): Unexpected message 'gradChunk'/);
      assert.deepEqual(await workers[1]!.closed, { code: 1002, reason: 'PROTO_UNEXPECTED' });
      // Rank 0's early frames come first and in order, then what it sends after the hand-over.
      workers[0]!.socket.send(encodeMessage({ type: 'ready', generation: 3 }));
      for (const generation of [1, 2, 3])
        assert.deepEqual(await next.collect('ready', { timeoutMs: 5000, ranks: [0] }), [{ type: 'ready', generation }]);
    } finally {
      await next?.close(null);
      await group.close(null);
      rv.close();
    }
  },
);

test('a leaving worker that falls silent fails the wait for its state at --worker-timeout-ms, not at the wait’s own limit', async () => {
  await withGroup({ lines: capturingLogger('error'), algorithm: 'ring', workerTimeoutMs: 300 }, async ({ group, workers }) => {
    // SIGTERM: it says it leaves (and would still hand over its state), then its process freezes.
    workers[1]!.socket.send(encodeMessage({ type: 'leave', reason: 'shutdown', message: 'stopped by SIGTERM' }));
    const deadline = performance.now() + 5000;
    while (!group.leavingRanks.includes(1) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(group.leavingRanks, [1]);
    const started = performance.now();
    const snapshot = group.requestSnapshot(1, { globalStep: 3, timeoutMs: 30_000, phase: 'stopping', fromLeaving: true });
    await assert.rejects(snapshot, (e: unknown) => e instanceof WorkerLostError && e.rank === 1);
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs < 5000, `the wait for a silent leaving rank took ${Math.round(waitedMs)} ms`);
  });
});
