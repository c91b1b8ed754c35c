import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendBufferPool } from './send_buffer_pool.js';

test('buffers are handed out in turn, each only after its previous send finished', async () => {
  const pool = new SendBufferPool(2, 16);
  const a = await pool.acquire();
  let releaseA!: () => void;
  pool.track(a, new Promise<void>((resolve) => (releaseA = resolve)));
  const b = await pool.acquire();
  assert.notEqual(a.buf, b.buf);
  pool.track(b, Promise.resolve());
  let third: Uint8Array | null = null;
  const waiting = pool.acquire().then((slot) => (third = slot.buf));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(third, null, 'slot a was handed out while its send was in flight');
  releaseA();
  await waiting;
  assert.equal(third, a.buf);
});

test('a failed send fails the next acquire and drain; renew replaces buffers the transport may still hold', async () => {
  const pool = new SendBufferPool(2, 8);
  const a = await pool.acquire();
  const kept = a.buf;
  pool.track(a, Promise.reject(new Error('peer lost')));
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(pool.acquire(), { message: 'peer lost' });
  await assert.rejects(pool.drain(), { message: 'peer lost' });
  pool.renew();
  const again = await pool.acquire();
  await pool.drain();
  const slots = [again.buf, (await pool.acquire()).buf];
  assert.ok(!slots.includes(kept), 'the buffer of the failed send was handed out again');
});

test('bad sizes are configuration errors', () => {
  assert.throws(() => new SendBufferPool(0, 8), {
    name: 'CollectiveConfigError',
    message: 'SendBufferPool `count` must be a positive integer, but got 0',
  });
});
