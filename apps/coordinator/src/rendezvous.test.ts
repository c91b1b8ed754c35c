import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, PROTOCOL_VERSION } from '@gnet/protocol';
import { JoinTimeoutError } from './errors.js';
import { Rendezvous } from './rendezvous.js';
import { capturingLogger, fakeWorker, hello } from './testing/sockets.js';

/** Worker ids of the (pretend) current generation: what the coordinator reports to the rendezvous. */
let active: string[] = [];
const listen = (maxWorkers: number, algorithm: 'ring' | 'star' = 'ring') =>
  Rendezvous.listen({
    host: '127.0.0.1',
    port: 0,
    token: 'tok',
    maxWorkers,
    activeWorkerIds: () => active,
    algorithm,
    log: capturingLogger().log,
  });

test('the group forms in join order; refused hellos get reject with a code and the close code', async () => {
  const rv = await listen(2);
  try {
    assert.match(rv.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    active = [];
    const joining = rv.join(2, 5000);
    const badToken = await fakeWorker(rv.url, hello('x', { secret: 'nope' }));
    assert.deepEqual(await badToken.next(), {
      type: 'reject',
      code: 'PROTO_AUTH',
      message:
        "hello.proof from worker 'x' does not match this coordinator's secret: the two sides were given different secrets (--token / GNET_TOKEN), or one has none",
    });
    assert.equal((await badToken.closed).code, 1008);
    const badVersion = await fakeWorker(rv.url, versionFour());
    const rejected = await badVersion.next();
    assert.equal(rejected.type === 'reject' && rejected.code, 'PROTO_VERSION');
    assert.equal(rejected.type === 'reject' && rejected.message, 'Unsupported protocol version 4 (supported: 3)');
    const noPeer = await fakeWorker(rv.url, hello('z', { peer: null }));
    const np = await noPeer.next();
    assert.equal(np.type === 'reject' && np.code, 'NO_PEER_LISTENER');
    const a = await fakeWorker(rv.url, hello('a'));
    const dup = await fakeWorker(rv.url, hello('a'));
    const d = await dup.next();
    assert.equal(d.type === 'reject' && d.code, 'DUPLICATE_WORKER');
    const b = await fakeWorker(rv.url, hello('b'));
    const group = await joining;
    assert.deepEqual(
      group.map((j) => j.hello.workerId),
      ['a', 'b'],
    );
    active = ['a', 'b'];
    // The run is full (--max-workers 2): a third worker is refused; a member's name is taken.
    const late = await fakeWorker(rv.url, hello('c'));
    const l = await late.next();
    assert.equal(l.type === 'reject' && l.code, 'GROUP_FULL');
    active = ['a'];
    const again = await fakeWorker(rv.url, hello('a'));
    const ag = await again.next();
    assert.equal(ag.type === 'reject' && ag.code, 'DUPLICATE_WORKER');
    // With room again, a new worker waits to be admitted at the next step boundary.
    assert.equal(rv.pendingCount, 0);
    const joiner = await fakeWorker(rv.url, hello('d'));
    assert.equal(await rv.waitForPending(1, 5000), true);
    assert.deepEqual(
      rv.takePending().map((j) => j.hello.workerId),
      ['d'],
    );
    joiner.socket.terminate();
    for (const worker of [a, b]) worker.socket.terminate();
  } finally {
    rv.close();
  }
});

test('too few workers: JoinTimeoutError names who joined', async () => {
  const rv = await listen(2, 'star');
  try {
    active = [];
    const joining = rv.join(2, 300);
    const a = await fakeWorker(rv.url, hello('only-one', { peer: null }));
    await assert.rejects(
      joining,
      (e: unknown) =>
        e instanceof JoinTimeoutError &&
        e.code === 'COORD_JOIN_TIMEOUT' &&
        /^Only 1 of 2 workers joined within \d+ ms \(joined: only-one\)/.test(e.message),
    );
    a.socket.terminate();
  } finally {
    rv.close();
  }
});

/** A hello of protocol version 4: a current hello with the value patched (the codec only writes valid messages). */
function versionFour(): Uint8Array {
  const { secret: _secret, ...fields } = hello('y');
  const bytes = Buffer.from(
    encodeMessage({ ...fields, protocolVersion: PROTOCOL_VERSION, nonce: new Uint8Array(32), proof: new Uint8Array(0) }),
  );
  // `protocolVersion` is a positive fixint right after its key: find the key and bump the value.
  const key = Buffer.from('protocolVersion');
  const at = bytes.indexOf(key) + key.length;
  assert.equal(bytes[at], PROTOCOL_VERSION);
  bytes[at] = 4;
  return bytes;
}
