// WsFrameReader against a hand-written WebSocket server, so every byte of every frame is ours:
// split headers, 16-bit lengths, fragmented messages, pings, close frames and a frame that breaks
// RFC 6455. The server runs the peer handshake by hand too (challenge, then peerWelcome once the
// peerHello arrived; no secret), since dialPeer hands over the socket only after it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { createNonce, encodeMessage } from '@gnet/protocol';
import { PeerLostError } from './errors.js';
import { dialPeer } from './ws_connect.js';
import { WsTransport } from './ws_transport.js';

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const length = payload.byteLength;
  const head = length < 126 ? Buffer.from([0, length]) : Buffer.from([0, 126, length >> 8, length & 0xff]);
  head[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([head, payload]);
}

/** Masked client frames in `data`, unmasked: [opcode, payload][]. */
function clientFrames(data: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    const opcode = data[at]! & 0x0f;
    let length = data[at + 1]! & 0x7f;
    let p = at + 2;
    if (length === 126) {
      length = data.readUInt16BE(p);
      p += 2;
    }
    const mask = data.subarray(p, p + 4);
    p += 4;
    if (p + length > data.length) break;
    out.push([opcode, Buffer.from(data.subarray(p, p + length).map((b, i) => b ^ mask[i % 4]!))]);
    at = p + length;
  }
  return out;
}

/** A server that completes the opening and peer handshakes by hand, then gives `script` the socket. */
async function rawServer(
  script: (socket: net.Socket, received: () => Buffer) => Promise<void>,
): Promise<{ url: string; done: Promise<void>; close: () => void }> {
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      if (upgraded) return;
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(buffered.subarray(0, end).toString())![1]!;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      buffered = buffered.subarray(end + 4);
      upgraded = true;
      socket.write(frame(2, encodeMessage({ type: 'challenge', nonce: createNonce() })));
      const welcomeAfterHello = async (): Promise<void> => {
        for (let i = 0; i < 200 && clientFrames(buffered).length === 0; i += 1) await pause(5);
        assert.equal(clientFrames(buffered).length, 1, 'the peerHello');
        socket.write(frame(2, encodeMessage({ type: 'peerWelcome', serverProof: new Uint8Array(0) })));
        await script(socket, () => buffered);
      };
      welcomeAfterHello().then(finish, fail);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, done, close: () => server.close() };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const hello = { runId: 'run', generation: 0, rank: 0 };
const wait = { timeoutMs: 2000, operation: 'recv', round: 1 };

test('split headers, 16-bit lengths and fragmented messages arrive whole; pings are answered', async () => {
  const big = Buffer.alloc(300, 7);
  const server = await rawServer(async (socket, received) => {
    const first = frame(2, Buffer.from([1, 2, 3]));
    socket.write(first.subarray(0, 1)); // a header cut after one byte
    await pause(20);
    socket.write(first.subarray(1));
    socket.write(frame(9, Buffer.from('hi')));
    socket.write(Buffer.concat([frame(2, Buffer.from([4, 5]), false), frame(0, Buffer.from([6]))]));
    socket.write(frame(2, big));
    for (let i = 0; i < 50 && !clientFrames(received()).some(([op]) => op === 0xa); i += 1) await pause(10);
    const frames = clientFrames(received());
    assert.equal(frames[0]![0], 2, 'the peerHello comes first');
    assert.deepEqual(frames.find(([op]) => op === 0xa)?.[1].toString(), 'hi');
    socket.write(frame(8, Buffer.concat([Buffer.from([0x03, 0xe9]), Buffer.from('bye')])));
  });
  const dialed = await dialPeer({ url: server.url, peerRank: 1, hello });
  const transport = new WsTransport({ rank: 0 });
  transport.attach(1, dialed.socket, 'dialed', dialed.takeEarlyFrames());
  assert.deepEqual([...(await transport.recv(1, wait))], [1, 2, 3]);
  assert.deepEqual([...(await transport.recv(1, wait))], [4, 5, 6]);
  assert.ok(Buffer.from(await transport.recv(1, wait)).equals(big));
  await server.done;
  await assert.rejects(transport.recv(1, wait), {
    name: 'PeerLostError',
    message: 'Lost peer rank 1 during recv in round 1: closed by peer with 1001 bye',
  });
  await transport.close();
  server.close();
});

test('a masked server frame is refused with 1002 and fails the peer', async () => {
  let closeFrame: [number, Buffer] | undefined;
  const server = await rawServer(async (socket, received) => {
    socket.write(Buffer.from([0x82, 0x81, 1, 2, 3, 4, 9 ^ 1]));
    for (let i = 0; i < 50 && closeFrame === undefined; i += 1) {
      closeFrame = clientFrames(received()).find(([op]) => op === 8);
      await pause(10);
    }
  });
  const dialed = await dialPeer({ url: server.url, peerRank: 1, hello });
  const transport = new WsTransport({ rank: 0 });
  transport.attach(1, dialed.socket, 'dialed', dialed.takeEarlyFrames());
  const err = await transport.recv(1, wait).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof PeerLostError);
  assert.equal(err.reason, "closed with 1002: we refused the peer's frames: a server must not mask its frames");
  await server.done;
  assert.equal(closeFrame?.[1].readUInt16BE(0), 1002);
  await transport.close();
  server.close();
});
