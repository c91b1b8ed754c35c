// PreauthGuard over real TCP (and TLS) sockets on 127.0.0.1, port 0: the caps per address and in
// total reset the connections beyond them at once, the first-byte and handshake deadlines drop
// silent and slow connections, a released (authenticated) connection stops counting and outlives
// the deadlines, a TLS socket releases the TCP connection beneath it, and refusals are logged.
// Other loopback addresses (127.0.0.2, ...) stand for other hosts.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { test } from 'node:test';
import { CollectiveConfigError } from './errors.js';
import { addressGroup, PreauthGuard, type PreauthLimits } from './preauth_guard.js';
import { selfSignedCert } from './testing/self_signed.js';

/** Long enough that no deadline fires during a test that is about the caps. */
const NO_DEADLINES: Partial<PreauthLimits> = { firstByteTimeoutMs: 60_000, handshakeTimeoutMs: 60_000 };

interface Warned {
  fields: Record<string, unknown>;
  msg: string;
}

interface Guarded {
  guard: PreauthGuard;
  port: number;
  /** Server-side sockets the guard admitted, in arrival order. */
  admitted: Socket[];
  warned: Warned[];
  close(): Promise<void>;
}

async function guardedServer(limits: Partial<PreauthLimits>, server: Server = createServer()): Promise<Guarded> {
  const warned: Warned[] = [];
  const guard = new PreauthGuard({
    limits,
    log: { warn: (fields, msg) => warned.push({ fields, msg }) },
    refusalLog: { intervalMs: 60_000 },
  });
  guard.attach(server);
  const admitted: Socket[] = [];
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    if (!socket.destroyed) admitted.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    guard,
    port,
    admitted,
    warned,
    close: async () => {
      guard.close();
      for (const socket of admitted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A client socket and when (ms after it connected) the server closed it; null while open. */
interface Client {
  socket: Socket;
  closedAfterMs: () => number | null;
  closed: Promise<number>;
}

/** Connects from `localAddress`; a connection reset before our side saw it connect counts as closed after 0 ms. */
function dial(port: number, localAddress = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let connectedAt = performance.now();
    let closedAfter: number | null = null;
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) =>
      socket.once('close', () => {
        closedAfter = performance.now() - connectedAt;
        done(closedAfter);
      }),
    );
    const client = { socket, closedAfterMs: () => closedAfter, closed };
    socket.once('connect', () => {
      connectedAt = performance.now();
      resolve(client);
    });
    socket.once('close', () => resolve(client));
  });
}

async function eventually(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sum = (counts: ReadonlyMap<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

test('the per-address cap resets connections beyond it at once; other addresses still get in up to the total cap', async () => {
  const s = await guardedServer({ maxPerAddress: 3, maxTotal: 5, ...NO_DEADLINES });
  try {
    const flood: Client[] = [];
    for (let i = 0; i < 6; i += 1) flood.push(await dial(s.port, '127.0.0.2'));
    await eventually(() => s.guard.pendingCount + sum(s.guard.refusals.counts) === 6, 'the server seeing 6 connections');
    assert.equal(s.guard.pendingFrom('127.0.0.2'), 3);
    // The three beyond the cap are reset right away, long before any deadline.
    const refusedMs = await Promise.all(flood.slice(3).map((c) => c.closed));
    for (const ms of refusedMs) assert.ok(ms < 2000, `refused after ${ms} ms`);
    assert.deepEqual(
      flood.slice(0, 3).map((c) => c.closedAfterMs()),
      [null, null, null],
    );

    // Another host: two more fit (total 5), the third is over the total cap.
    const other: Client[] = [];
    for (let i = 0; i < 3; i += 1) other.push(await dial(s.port, '127.0.0.3'));
    await other[2]!.closed;
    assert.equal(s.guard.pendingCount, 5);
    assert.deepEqual(Object.fromEntries(s.guard.refusals.counts), { ADDRESS_LIMIT: 3, TOTAL_LIMIT: 1 });
    // Logged: the first refusal of each code, with what it was measured against; the rest counted.
    assert.deepEqual(
      s.warned.map((warning) => [warning.msg, warning.fields['code'], warning.fields['remote']]),
      [
        ['connection refused before authentication', 'ADDRESS_LIMIT', '127.0.0.2'],
        ['connection refused before authentication', 'TOTAL_LIMIT', '127.0.0.3'],
      ],
    );
    assert.equal(s.warned[0]!.fields['maxPerAddress'], 3);
    s.guard.refusals.close();
    assert.deepEqual(s.warned[2]?.fields['refused'], { ADDRESS_LIMIT: 2 });

    // A pending connection that closes frees its slot.
    flood[0]!.socket.destroy();
    await eventually(() => s.guard.pendingFrom('127.0.0.2') === 2, 'the slot being freed');
    const again = await dial(s.port, '127.0.0.2');
    await eventually(() => s.guard.pendingFrom('127.0.0.2') === 3, 'the new connection being admitted');
    assert.equal(again.closedAfterMs(), null);
    for (const c of [...flood, ...other, again]) c.socket.destroy();
  } finally {
    await s.close();
  }
});

test('a connection that sends nothing is dropped at the first-byte deadline; one that sent a byte at the handshake deadline', async () => {
  const s = await guardedServer({ firstByteTimeoutMs: 200, handshakeTimeoutMs: 800 });
  try {
    const silent = await dial(s.port);
    const talker = await dial(s.port);
    talker.socket.write('G');
    const silentMs = await silent.closed;
    assert.ok(silentMs >= 150 && silentMs < 3000, `silent connection closed after ${silentMs} ms`);
    assert.equal(talker.closedAfterMs(), null, 'a connection that sent a byte outlives the first-byte deadline');
    const talkerMs = await talker.closed;
    assert.ok(talkerMs >= 700 && talkerMs < 4000, `slow connection closed after ${talkerMs} ms`);
    assert.equal(s.guard.pendingCount, 0);
    assert.deepEqual(Object.fromEntries(s.guard.refusals.counts), { FIRST_BYTE_TIMEOUT: 1, PREAUTH_TIMEOUT: 1 });
  } finally {
    await s.close();
  }
});

test('a released connection stops counting against the caps and outlives the deadlines', async () => {
  const s = await guardedServer({ maxPerAddress: 1, maxTotal: 1, firstByteTimeoutMs: 200, handshakeTimeoutMs: 300 });
  try {
    const first = await dial(s.port);
    await eventually(() => s.admitted.length === 1, 'the first connection being admitted');
    assert.equal(s.guard.release(s.admitted[0]!), true);
    assert.equal(s.guard.release(s.admitted[0]!), false, 'released twice');
    assert.equal(s.guard.pendingCount, 0);
    // The cap of one is free again for the next stranger.
    const second = await dial(s.port);
    await eventually(() => s.admitted.length === 2, 'the second connection being admitted');
    await second.closed;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(first.closedAfterMs(), null, 'the released connection was dropped');
    assert.deepEqual(Object.fromEntries(s.guard.refusals.counts), { FIRST_BYTE_TIMEOUT: 1 });
    first.socket.destroy();
  } finally {
    await s.close();
  }
});

test('over TLS, releasing the TLS socket releases the TCP connection beneath it', async () => {
  const { cert, key } = await selfSignedCert();
  const https = createHttpsServer({ cert, key });
  const released: boolean[] = [];
  https.on('secureConnection', (tls: TLSSocket) => released.push(s.guard.release(tls)));
  const s = await guardedServer({ firstByteTimeoutMs: 200, handshakeTimeoutMs: 400 }, https);
  try {
    const client = tlsConnect({ port: s.port, host: '127.0.0.1', ca: cert, servername: 'localhost', checkServerIdentity: () => undefined });
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('secureConnect', resolve));
    await eventually(() => released.length === 1, 'the TLS handshake on the server');
    assert.deepEqual(released, [true]);
    assert.equal(s.guard.pendingCount, 0);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(client.destroyed, false, 'the released TLS connection was dropped at the handshake deadline');
    client.destroy();
  } finally {
    await s.close();
  }
});

test('close() resets the pending connections', async () => {
  const s = await guardedServer(NO_DEADLINES);
  const client = await dial(s.port);
  await eventually(() => s.guard.pendingCount === 1, 'the connection being admitted');
  await s.close();
  assert.ok((await client.closed) < 2000);
});

test('limits must be positive integers', () => {
  assert.throws(() => new PreauthGuard({ limits: { maxPerAddress: 0 } }), {
    name: 'CollectiveConfigError',
    message: 'PreauthGuard `maxPerAddress` must be a positive integer, but got 0',
  });
  assert.throws(() => new PreauthGuard({ limits: { firstByteTimeoutMs: 1.5 } }), CollectiveConfigError);
});

test('addresses count per IPv4 address and per IPv6 /64', () => {
  assert.equal(addressGroup('10.0.0.7'), '10.0.0.7');
  assert.equal(addressGroup('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(addressGroup('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:0db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
});
