import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamLayout } from './param_layout.js';
import { Sgd, SgdError } from './sgd.js';

const layout = new ParamLayout([
  { name: 'conv/kernel', shape: [1, 1, 1, 2], offset: 0, size: 2 },
  { name: 'conv/bias', shape: [2], offset: 2, size: 2 },
]);

test('Nesterov update matches torch.optim.SGD step by step, decaying kernels only', () => {
  const sgd = new Sgd(layout, { momentum: 0.9, nesterov: true, weightDecay: 0.1 });
  const weights = Float32Array.from([1, -2, 3, 4]);
  // Reference computed by hand with torch's rule (float64, then compared within fp32 tolerance).
  const ref = [1, -2, 3, 4];
  const vRef = [0, 0, 0, 0];
  for (let step = 0; step < 3; step++) {
    const gradValues = [0.5, 0.25, -1, 2];
    const grads = Float32Array.from(gradValues);
    sgd.step(weights, grads, 0.01);
    for (let i = 0; i < 4; i++) {
      const gi = gradValues[i]! + (i < 2 ? 0.1 * ref[i]! : 0);
      vRef[i] = 0.9 * vRef[i]! + gi;
      ref[i]! -= 0.01 * (gi + 0.9 * vRef[i]!);
    }
  }
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(weights[i]! - ref[i]!) < 1e-6, `w[${i}] = ${weights[i]} vs ${ref[i]}`);
});

test('plain momentum and plain SGD', () => {
  const sgd = new Sgd(layout, { momentum: 0.5, nesterov: false, weightDecay: 0 });
  const weights = Float32Array.from([0, 0, 0, 0]);
  sgd.step(weights, Float32Array.from([1, 1, 1, 1]), 1);
  sgd.step(weights, Float32Array.from([1, 1, 1, 1]), 1);
  assert.deepEqual([...weights], [-2.5, -2.5, -2.5, -2.5]);
  const plain = new Sgd(layout, { momentum: 0, nesterov: false, weightDecay: 0 });
  const w2 = Float32Array.from([1, 1, 1, 1]);
  plain.step(w2, Float32Array.from([1, 2, 3, 4]), 0.5);
  assert.deepEqual([...w2], [0.5, 0, -0.5, -1]);
});

test('bad arguments are typed errors naming the value', () => {
  assert.throws(
    () => new Sgd(layout, { momentum: 1.5, nesterov: false, weightDecay: 0 }),
    (e: unknown) => e instanceof SgdError && e.code === 'SGD_BAD_ARGUMENT' && /momentum.*1\.5/.test(e.message),
  );
  const sgd = new Sgd(layout, { momentum: 0.9, nesterov: true, weightDecay: 0 });
  assert.throws(() => sgd.step(new Float32Array(3), new Float32Array(4), 0.1), /must both hold 4 floats, but got 3 and 4/);
  assert.throws(() => sgd.step(new Float32Array(4), new Float32Array(4), Number.NaN), /`lr` must be a finite number >= 0, but got NaN/);
});
