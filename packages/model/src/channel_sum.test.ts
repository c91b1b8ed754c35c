// Tests for channelSum on both pure-JS backends: it takes a different path on wasm.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { channelSum } from './channel_sum.js';

after(async () => {
  await tf.setBackend('cpu');
});

for (const backend of ['cpu', 'wasm']) {
  describe(`channelSum on ${backend}`, () => {
    it('equals tf.sum over all axes but the last', async () => {
      await tf.setBackend(backend);
      assert.equal(tf.getBackend(), backend);
      tf.tidy(() => {
        for (const shape of [
          [2, 5, 5, 6],
          [3, 32, 32, 4],
          [3, 4, 7],
          [5, 1],
        ]) {
          const x = tf.randomNormal(shape, 1, 2, 'float32', 1);
          const ours = channelSum(x);
          assert.deepEqual(ours.shape, [shape[shape.length - 1]]);
          const expected = tf.sum(x, shape.map((_, i) => i).slice(0, -1));
          const err = tf.max(tf.abs(tf.sub(ours, expected))).dataSync()[0]!;
          const scale = tf.max(tf.abs(expected)).dataSync()[0]!;
          assert.ok(err <= 1e-5 * Math.max(1, scale), `${shape}: error ${err}`);
        }
        assert.deepEqual(Array.from(channelSum(tf.ones([2, 3, 4, 5])).dataSync()), [24, 24, 24, 24, 24]);
      });
    });
  });
}
