// holdFrames over a real WebSocket on 127.0.0.1 (port 0): frames kept in order until taken, none
// lost between the hold and the next reader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { holdFrames } from './hold_frames.js';

test('holdFrames keeps frames in arrival order until taken; the next reader gets every later one', async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  const acceptedP = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const peer = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    peer.once('open', () => resolve());
    peer.once('error', reject);
  });
  const accepted = await acceptedP;
  try {
    const take = holdFrames(accepted);
    for (let i = 1; i <= 3; i += 1) peer.send(new Uint8Array([i]));
    // The third frame reaching a second listener proves the first three reached the hold.
    let probe = (_data: Buffer): void => undefined;
    await new Promise<void>((resolve) => {
      probe = (data) => void (data[0] === 3 && resolve());
      accepted.on('message', probe);
    });
    accepted.off('message', probe);
    const taken = take();
    assert.deepEqual(
      taken.map((frame) => frame[0]),
      [1, 2, 3],
    );
    assert.deepEqual(take(), [], 'taken once');
    const later: number[] = [];
    accepted.on('message', (data: Buffer) => later.push(data[0]!));
    peer.send(new Uint8Array([4]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(later, [4]);
    assert.deepEqual(take(), [], 'nothing is held after the hand-over');
  } finally {
    peer.terminate();
    accepted.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
