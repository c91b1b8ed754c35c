import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CollectiveTimeoutError, CollectiveUsageError, PeerLostError, RoundAbortedError, TransportClosedError } from './errors.js';
import { MemoryHub } from './memory_transport.js';
import type { WaitOptions } from './transport.js';

const wait = (operation = 'test', timeoutMs = 1000): WaitOptions => ({ timeoutMs, operation, round: 7 });

test('messages arrive whole, in order, as copies; frame lists are concatenated', async () => {
  const hub = new MemoryHub(3);
  const [a, b] = hub.endpoints;
  const buf = new Uint8Array([1, 2, 3]);
  await a!.send(1, buf, wait());
  buf[0] = 99; // the sender may reuse its buffer once send resolved
  await a!.send(1, [new Uint8Array([4]), new Uint8Array([5, 6])], wait());
  assert.deepEqual([...(await b!.recv(0, wait()))], [1, 2, 3]);
  assert.deepEqual([...(await b!.recv(0, wait()))], [4, 5, 6]);
});

test('latency delays delivery', async () => {
  const hub = new MemoryHub(2, { latencyMs: 40 });
  const started = performance.now();
  await hub.endpoint(0).send(1, new Uint8Array([1]), wait());
  await hub.endpoint(1).recv(0, wait());
  assert.ok(performance.now() - started >= 35, `arrived after ${performance.now() - started} ms`);
});

test('a recv that waits too long fails with CollectiveTimeoutError naming peer, operation and round', async () => {
  const hub = new MemoryHub(2);
  const err = await hub
    .endpoint(0)
    .recv(1, wait('ring reduce-scatter recv', 30))
    .then(
      () => null,
      (e: unknown) => e,
    );
  assert.ok(err instanceof CollectiveTimeoutError);
  assert.equal(err.code, 'COLLECTIVE_TIMEOUT');
  assert.equal(err.peerRank, 1);
  assert.equal(err.operation, 'ring reduce-scatter recv');
  assert.equal(err.round, 7);
  assert.ok(err.waitedMs >= 25);
  assert.match(err.message, /^Timed out after \d+ ms waiting on rank 1 during ring reduce-scatter recv in round 7$/);
});

test('an aborted signal fails the wait with RoundAbortedError; a second concurrent recv is a usage error', async () => {
  const hub = new MemoryHub(2);
  const controller = new AbortController();
  const pending = hub.endpoint(0).recv(1, { ...wait(), signal: controller.signal });
  await assert.rejects(hub.endpoint(0).recv(1, wait('second recv')), (err: unknown) => {
    assert.ok(err instanceof CollectiveUsageError);
    assert.equal(err.code, 'COLLECTIVE_USAGE');
    assert.equal(err.message, 'second recv: a recv from rank 1 is already pending (test); at most one may be');
    return true;
  });
  controller.abort('roundAbort from coordinator');
  await assert.rejects(pending, (err: unknown) => {
    assert.ok(err instanceof RoundAbortedError);
    assert.equal(err.code, 'COLLECTIVE_ROUND_ABORTED');
    assert.equal(err.message, 'Round 7 was aborted: roundAbort from coordinator');
    return true;
  });
});

test('killing a rank fails pending and later calls of its peers at once with PeerLostError, after its last frames', async () => {
  const hub = new MemoryHub(3);
  const [a, b, c] = hub.endpoints;
  await c!.send(0, new Uint8Array([9]), wait());
  const pendingOnB = b!.recv(2, wait('ring all-gather recv', 60_000));
  const started = performance.now();
  hub.kill(2);
  await assert.rejects(pendingOnB, (err: unknown) => {
    assert.ok(err instanceof PeerLostError);
    assert.equal(err.code, 'COLLECTIVE_PEER_LOST');
    assert.equal(err.peerRank, 2);
    assert.equal(err.reason, 'killed');
    assert.equal(err.message, 'Lost peer rank 2 during ring all-gather recv in round 7: killed');
    return true;
  });
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual([...(await a!.recv(2, wait()))], [9]); // sent before the crash
  await assert.rejects(a!.recv(2, wait()), PeerLostError);
  await assert.rejects(a!.send(2, new Uint8Array(1), wait()), PeerLostError);
  await assert.rejects(c!.recv(0, wait()), TransportClosedError);
});

test('close fails our own calls with TransportClosedError and the peers with PeerLostError', async () => {
  const hub = new MemoryHub(2);
  const pending = hub.endpoint(1).recv(0, wait());
  await hub.endpoint(0).close(1000, 'done');
  await assert.rejects(pending, { name: 'PeerLostError', message: 'Lost peer rank 0 during test in round 7: closed by peer (done)' });
  await assert.rejects(hub.endpoint(0).send(1, new Uint8Array(1), wait()), {
    name: 'TransportClosedError',
    code: 'COLLECTIVE_TRANSPORT_CLOSED',
    message: 'MemoryTransport of rank 0 is closed',
  });
});

test('a peer rank out of range or our own is a usage error', () => {
  const hub = new MemoryHub(2);
  assert.throws(() => hub.endpoint(0).recv(0, wait('star recv')), {
    name: 'CollectiveUsageError',
    message: 'star recv: `peerRank` must be another rank in [0, 2) than 0, but got 0',
  });
  assert.throws(() => new MemoryHub(0), {
    name: 'CollectiveConfigError',
    message: 'MemoryHub `size` must be a positive integer, but got 0',
  });
});
