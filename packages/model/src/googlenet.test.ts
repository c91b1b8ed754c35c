// Tests for the GoogLeNet model: structure per Table 1, deterministic initialisation, output
// shapes, the inference view, BatchNorm buffers, input checks, no leaked tensors, and a few SGD
// steps that lower the loss. Forward passes run at width <= 0.25 with batch <= 4 (cpu backend).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createGoogLeNet, type GoogLeNet } from './googlenet.js';
import { ModelConfigError, ModelDisposedError, ModelInputError } from './errors.js';
import { AUX_HEADS } from './googlenet_table.js';

await tf.setBackend('cpu');

const images = (n: number, seed: number): tf.Tensor4D => tf.randomNormal([n, 32, 32, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const shapeOf = (model: GoogLeNet, name: string): number[] | undefined => model.params.find((p) => p.name === name)?.variable.shape;

/** Mean cross-entropy of the main head plus 0.3 x each aux head's (paper section 5). */
function objective(model: GoogLeNet, x: tf.Tensor4D, labels: tf.Tensor2D, seed: number): tf.Scalar {
  const { logits, auxLogits } = model.forward(x, { training: true, seed });
  let loss = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  for (const aux of auxLogits) {
    loss = tf.add(loss, tf.mul(tf.losses.softmaxCrossEntropy(labels, aux), AUX_HEADS.lossWeight));
  }
  return loss;
}

describe('GoogLeNet structure (width 1, no forward)', () => {
  const model = createGoogLeNet({}, 0);
  after(() => model.dispose());

  it('has the channel counts of Table 1 and the CIFAR stem', () => {
    assert.deepEqual(shapeOf(model, 'stem/kernel'), [3, 3, 3, 192]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b1_1x1/kernel'), [1, 1, 192, 64]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b2_3x3_reduce/kernel'), [1, 1, 192, 96]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b2_3x3/kernel'), [3, 3, 96, 128]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b3_5x5_reduce/kernel'), [1, 1, 192, 16]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b3_5x5/kernel'), [5, 5, 16, 32]);
    assert.deepEqual(shapeOf(model, 'inception_3a/b4_pool_proj/kernel'), [1, 1, 192, 32]);
    assert.deepEqual(shapeOf(model, 'inception_4a/b2_3x3/kernel'), [3, 3, 96, 208]); // 3b out: 480 channels
    assert.deepEqual(shapeOf(model, 'inception_4a/b1_1x1/kernel'), [1, 1, 480, 192]);
    assert.deepEqual(shapeOf(model, 'inception_5a/b1_1x1/kernel'), [1, 1, 832, 256]);
    assert.deepEqual(shapeOf(model, 'inception_5b/b3_5x5/kernel'), [5, 5, 48, 128]);
    assert.deepEqual(shapeOf(model, 'classifier/kernel'), [1024, 10]);
    assert.deepEqual(shapeOf(model, 'aux_4a/conv1x1/kernel'), [1, 1, 512, 128]);
    assert.deepEqual(shapeOf(model, 'aux_4d/conv1x1/kernel'), [1, 1, 528, 128]);
    assert.deepEqual(shapeOf(model, 'aux_4d/fc/kernel'), [2048, 1024]);
    assert.deepEqual(shapeOf(model, 'aux_4d/classifier/kernel'), [1024, 10]);
  });

  it('lists params in a fixed order: main network first, aux heads last; names unique', () => {
    const names = model.params.map((p) => p.name);
    assert.equal(new Set(names).size, names.length);
    assert.equal(names[0], 'stem/kernel');
    const firstAux = names.findIndex((n) => n.startsWith('aux_'));
    assert.equal(names[firstAux - 1], 'classifier/bias');
    assert.ok(names.slice(firstAux).every((n) => n.startsWith('aux_')));
    assert.ok(model.params.every((p) => p.variable.trainable));
    assert.ok(model.buffers.every((p) => !p.variable.trainable && /\/bn\/running_(mean|var)$/.test(p.name)));
    assert.equal(model.buffers.length, 2 * model.params.filter((p) => p.name.endsWith('/bn/gamma')).length);
  });

  it('has no conv bias with BatchNorm, and a bias per conv without it', () => {
    assert.ok(!model.params.some((p) => p.name.endsWith('/bias') && !/(classifier|fc)\/bias$/.test(p.name)));
    const plain = createGoogLeNet({ batchNorm: false, width: 0.125 }, 0);
    try {
      assert.deepEqual(plain.buffers, []);
      assert.ok(plain.params.some((p) => p.name === 'inception_3a/b2_3x3/bias'));
      assert.ok(!plain.params.some((p) => p.name.includes('/bn/')));
    } finally {
      plain.dispose();
    }
  });
});

describe('createGoogLeNet initialisation', () => {
  it('is a pure function of config and seed; main weights do not depend on auxHeads', () => {
    const a = createGoogLeNet({ width: 0.25 }, 5);
    const b = createGoogLeNet({ width: 0.25 }, 5);
    const c = createGoogLeNet({ width: 0.25 }, 6);
    const noAux = createGoogLeNet({ width: 0.25, auxHeads: false }, 5);
    try {
      assert.deepEqual(
        a.params.map((p) => p.name),
        b.params.map((p) => p.name),
      );
      a.params.forEach((p, i) => assert.deepEqual(values(p.variable), values(b.params[i]!.variable), p.name));
      assert.notDeepEqual(values(a.params[0]!.variable), values(c.params[0]!.variable));
      assert.deepEqual(
        noAux.params.map((p) => p.name),
        a.inference().params.map((p) => p.name),
      );
      noAux.params.forEach((p, i) => assert.deepEqual(values(p.variable), values(a.params[i]!.variable), p.name));
    } finally {
      [a, b, c, noAux].forEach((m) => m.dispose());
    }
  });

  it('refuses a bad config or seed before allocating anything', () => {
    const before = tf.memory().numTensors;
    assert.throws(
      () => createGoogLeNet({ width: 8 }, 0),
      (err: unknown) => {
        assert.ok(err instanceof ModelConfigError);
        assert.equal(err.code, 'MODEL_ERR_CONFIG');
        assert.equal(err.message, '`width` passed to `createGoogLeNet` must be a number in (0, 4], but got 8');
        return true;
      },
    );
    assert.throws(() => createGoogLeNet({}, 0.5), {
      name: 'ModelConfigError',
      code: 'MODEL_ERR_CONFIG',
      message: '`seed` passed to `createGoogLeNet` must be a safe integer, but got 0.5',
    });
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('GoogLeNet.forward', () => {
  it('works at width 0.25: [n, 10] logits, two aux logits in training, none at inference', () => {
    const model = createGoogLeNet({ width: 0.25 }, 1);
    const x = images(2, 1);
    try {
      const train = model.forward(x, { training: true, seed: 3 });
      assert.deepEqual(train.logits.shape, [2, 10]);
      assert.deepEqual(
        train.auxLogits.map((t) => t.shape),
        [
          [2, 10],
          [2, 10],
        ],
      );
      assert.ok(values(train.logits).every(Number.isFinite));
      tf.dispose([train.logits, ...train.auxLogits]);
      const test = model.forward(x, { training: false });
      assert.deepEqual(test.logits.shape, [2, 10]);
      assert.deepEqual(test.auxLogits, []);
      tf.dispose(test.logits);
    } finally {
      model.dispose();
      x.dispose();
    }
  });

  it('returns no aux logits without aux heads, and numClasses logits', () => {
    const model = createGoogLeNet({ width: 0.125, auxHeads: false, numClasses: 7 }, 1);
    const x = images(1, 2);
    try {
      const { logits, auxLogits } = model.forward(x, { training: true });
      assert.deepEqual(logits.shape, [1, 7]);
      assert.deepEqual(auxLogits, []);
      logits.dispose();
    } finally {
      model.dispose();
      x.dispose();
    }
  });

  it('is deterministic for a seed; the dropout seed changes the training output', () => {
    const a = createGoogLeNet({ width: 0.125 }, 9);
    const b = createGoogLeNet({ width: 0.125 }, 9);
    const x = images(2, 3);
    try {
      tf.tidy(() => {
        const ra = a.forward(x, { training: true, seed: 4 });
        const rb = b.forward(x, { training: true, seed: 4 });
        assert.deepEqual(values(ra.logits), values(rb.logits));
        ra.auxLogits.forEach((t, i) => assert.deepEqual(values(t), values(rb.auxLogits[i]!)));
        assert.deepEqual(values(a.buffers[0]!.variable), values(b.buffers[0]!.variable));
        assert.deepEqual(values(a.forward(x, { training: false }).logits), values(b.forward(x, { training: false }).logits));
        const other = a.forward(x, { training: true, seed: 5 });
        assert.notDeepEqual(values(other.logits), values(ra.logits));
      });
    } finally {
      [a, b].forEach((m) => m.dispose());
      x.dispose();
    }
  });

  it('updates BatchNorm running statistics in training mode only', () => {
    const model = createGoogLeNet({ width: 0.125 }, 2);
    const x = images(2, 4);
    const buffers = (): number[][] => model.buffers.map((b) => values(b.variable));
    try {
      const initial = buffers();
      const evalBefore = tf.tidy(() => values(model.forward(x, { training: false }).logits));
      assert.deepEqual(buffers(), initial);
      tf.tidy(() => {
        model.forward(x, { training: true, seed: 1 });
      });
      const updated = buffers();
      assert.notDeepEqual(updated[0], initial[0]); // stem running mean moved off 0
      const evalAfter = tf.tidy(() => values(model.forward(x, { training: false }).logits));
      assert.notDeepEqual(evalAfter, evalBefore);
    } finally {
      model.dispose();
      x.dispose();
    }
  });

  it('without BatchNorm and dropout, training and inference graphs compute the same logits', () => {
    // Training: conv2d + biasAdd + relu; inference: fused conv2d with bias and relu.
    const model = createGoogLeNet({ width: 0.125, batchNorm: false, dropout: 0 }, 4);
    const x = images(2, 8);
    try {
      tf.tidy(() => {
        const train = model.forward(x, { training: true, seed: 1 });
        const test = model.forward(x, { training: false });
        assert.equal(train.auxLogits.length, 2);
        const err = tf.max(tf.abs(tf.sub(train.logits, test.logits))).dataSync()[0]!;
        assert.ok(err < 1e-4, `max difference ${err}`);
      });
    } finally {
      model.dispose();
      x.dispose();
    }
  });

  it('refuses inputs that are not float32 [n, 32, 32, 3]', () => {
    const model = createGoogLeNet({ width: 0.125 }, 0);
    const bad: [tf.Tensor, string][] = [
      [tf.zeros([1, 28, 28, 3]), 'float32 [1, 28, 28, 3]'],
      [tf.zeros([1, 32, 32, 1]), 'float32 [1, 32, 32, 1]'],
      [tf.zeros([0, 32, 32, 3]), 'float32 [0, 32, 32, 3]'],
      [tf.zeros([1, 32, 32, 3], 'int32'), 'int32 [1, 32, 32, 3]'],
      [tf.zeros([32, 32, 3]), 'float32 [32, 32, 3]'],
    ];
    try {
      for (const [x, got] of bad) {
        assert.throws(
          () => model.forward(x as tf.Tensor4D, { training: false }),
          (err: unknown) => {
            assert.ok(err instanceof ModelInputError);
            assert.equal(err.code, 'MODEL_ERR_INPUT');
            assert.equal(
              err.message,
              `\`x\` passed to \`GoogLeNet.forward\` must be a float32 tensor of shape [n, 32, 32, 3] with n >= 1, but got ${got}`,
            );
            return true;
          },
        );
      }
      const x = images(1, 0);
      assert.throws(() => model.forward(x, { training: true, seed: 0.5 }), {
        code: 'MODEL_ERR_CONFIG',
        message: '`opts.seed` passed to `GoogLeNet.forward` must be a safe integer, but got 0.5',
      });
      x.dispose();
    } finally {
      model.dispose();
      tf.dispose(bad.map(([t]) => t));
    }
  });
});

describe('GoogLeNet.inference', () => {
  it('shares the main variables, has no aux params, and dies with its model', () => {
    const model = createGoogLeNet({ width: 0.125 }, 3);
    const view = model.inference();
    const x = images(2, 5);
    try {
      assert.equal(view.config.auxHeads, false);
      assert.ok(!view.params.some((p) => p.name.startsWith('aux_')));
      assert.ok(!view.buffers.some((p) => p.name.startsWith('aux_')));
      assert.ok(model.params.some((p) => p.name.startsWith('aux_')));
      view.params.forEach((p, i) => assert.equal(p.variable, model.params[i]!.variable, p.name));
      tf.tidy(() => {
        assert.deepEqual(values(view.forward(x, { training: false }).logits), values(model.forward(x, { training: false }).logits));
        assert.deepEqual(view.forward(x, { training: true, seed: 1 }).auxLogits, []);
      });
      view.dispose(); // a view owns nothing
      assert.equal(model.isDisposed, false);
      tf.tidy(() => {
        model.forward(x, { training: false });
      });
      model.dispose();
      assert.equal(view.isDisposed, true);
      assert.throws(
        () => view.forward(x, { training: false }),
        (err: unknown) => {
          assert.ok(err instanceof ModelDisposedError);
          assert.equal(err.code, 'MODEL_ERR_DISPOSED');
          assert.equal(err.message, '`GoogLeNet.forward` called after the model was disposed');
          return true;
        },
      );
      assert.throws(() => model.inference(), ModelDisposedError);
    } finally {
      model.dispose();
      x.dispose();
    }
  });

  it('dispose frees every variable of the model', () => {
    const before = tf.memory().numTensors;
    const model = createGoogLeNet({ width: 0.125 }, 0);
    assert.equal(tf.memory().numTensors, before + model.params.length + model.buffers.length);
    model.dispose();
    model.dispose(); // idempotent
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('GoogLeNet training (width 0.0625, batch 2)', () => {
  it('leaks no tensors, reaches every param, and lowers the loss over three SGD steps', () => {
    const model = createGoogLeNet({ width: 0.0625 }, 7);
    const x = images(2, 6);
    const labels = tf.oneHot(tf.tensor1d([3, 8], 'int32'), 10) as tf.Tensor2D;
    const vars = model.params.map((p) => p.variable);
    try {
      const baseline = tf.memory().numTensors;
      tf.tidy(() => {
        model.forward(x, { training: true, seed: 1 });
      });
      tf.tidy(() => {
        model.forward(x, { training: false });
      });
      assert.equal(tf.memory().numTensors, baseline, 'after tidy(forward)');
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        // Same dropout seed every step: the objective is a fixed function of the weights.
        const { value, grads } = tf.variableGrads(() => objective(model, x, labels, 11), vars);
        losses.push(value.dataSync()[0]!);
        assert.equal(Object.keys(grads).length, vars.length, 'a gradient for every param');
        tf.tidy(() => vars.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.05)))));
        value.dispose();
        tf.dispose(grads);
        assert.equal(tf.memory().numTensors, baseline, `after step ${step}`);
      }
      losses.push(tf.tidy(() => objective(model, x, labels, 11).dataSync()[0]!));
      assert.ok(losses.every(Number.isFinite));
      assert.ok(losses[3]! < losses[0]! * 0.8, `losses ${losses.join(', ')}`);
    } finally {
      model.dispose();
      tf.dispose([x, labels]);
    }
  });

  it('runs no Tile and no FusedBatchNorm kernel in a training step', async () => {
    const model = createGoogLeNet({ width: 1 / 32 }, 1);
    const x = images(1, 7);
    const labels = tf.oneHot(tf.tensor1d([0], 'int32'), 10) as tf.Tensor2D;
    try {
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(
          () => objective(model, x, labels, 1),
          model.params.map((p) => p.variable),
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      assert.ok(profile.kernelNames.includes('Conv2DBackpropFilter'), 'the profile saw the backward pass');
      assert.ok(!profile.kernelNames.includes('Tile'), profile.kernelNames.join(','));
      assert.ok(!profile.kernelNames.some((k) => k.startsWith('FusedBatchNorm')), profile.kernelNames.join(','));
    } finally {
      model.dispose();
      tf.dispose([x, labels]);
    }
  });
});
