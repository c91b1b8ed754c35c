// Checkpoints of both writers restore into a model with exactly the saved weights and BatchNorm
// statistics; a checkpoint whose meta does not describe the model is refused by name.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createGoogLeNet } from '@gnet/model';
import { CheckpointError, CheckpointStore, saveCheckpoint, type CheckpointState } from '@gnet/run-store';
import { ParamLayout, Replica, selectBackend } from '@gnet/training';
import { describeModel, loadCheckpointModel, modelConfigFromMeta, readCheckpoint, restoreCheckpointModel } from './checkpoint_model.js';
import { CheckpointModelError } from './tool_errors.js';

const WIDTH = 0.0625;

/** A checkpoint state of a width-0.0625 GoogLeNet whose every weight and statistic is distinct. */
function stateOf(meta: Record<string, unknown>, auxHeads = true): CheckpointState {
  const model = createGoogLeNet({ width: WIDTH, auxHeads }, 5);
  const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 0 });
  replica.setWeights(Float32Array.from(replica.weights, (_, i) => Math.sin(i)));
  replica.writeBuffers(Float32Array.from(replica.readBuffers(), (_, i) => 1 + Math.cos(i) / 2));
  const state = replica.snapshot(meta);
  model.dispose();
  return state;
}

/** What single_node_run.ts writes in meta (modelDescription = name + config + backend). */
const singleNodeMeta = {
  position: { epoch: 2, stepInEpoch: 0, globalStep: 14 },
  epochs: [],
  partial: {},
  hp: { epochs: 2 },
  model: {
    name: `GoogLeNet (width ${WIDTH})`,
    width: WIDTH,
    auxHeads: true,
    batchNorm: true,
    numClasses: 10,
    dropout: 0.4,
    auxDropout: 0.7,
    backend: 'wasm',
  },
};
/** What the coordinator writes: the protocol's ModelConfig (no numClasses), hyper, worldSize, runId. */
const coordinatorMeta = {
  position: { epoch: 1, stepInEpoch: 0, globalStep: 7 },
  epochs: [],
  hyper: { epochs: 1 },
  model: { width: WIDTH, auxHeads: true, batchNorm: true, dropout: 0.4, auxDropout: 0.7 },
  worldSize: 2,
  runId: 'run-1',
};

describe('checkpoint model', () => {
  let dir = '';
  before(async () => {
    await selectBackend({ requested: 'cpu', log: { info: () => undefined } });
    dir = await mkdtemp(join(tmpdir(), 'gnet-ckpt-model-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [writer, meta] of [
    ['single-node', singleNodeMeta],
    ['coordinator', coordinatorMeta],
  ] as const) {
    it(`restores a ${writer} checkpoint file: config, weights, BatchNorm statistics, position`, async () => {
      const state = stateOf(meta);
      const path = join(dir, `${writer}.ckpt`);
      await saveCheckpoint(path, state);
      const restored = await loadCheckpointModel(path);
      try {
        assert.equal(restored.writer, writer);
        assert.deepEqual(restored.position, meta.position);
        assert.equal(restored.worldSize, writer === 'coordinator' ? 2 : null);
        assert.deepEqual(
          { ...restored.config },
          { width: WIDTH, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7 },
        );
        assert.deepEqual(ParamLayout.of(restored.model.params).read(restored.model.params), state.weights);
        assert.deepEqual(ParamLayout.of(restored.model.buffers).read(restored.model.buffers), state.buffers);
        assert.ok(restored.inference.params.every((p) => !p.name.startsWith('aux_')));
        assert.ok(restored.inference.params.length < restored.model.params.length);
      } finally {
        restored.model.dispose();
      }
    });
  }

  it('describes the model for people', () => {
    assert.equal(
      describeModel(modelConfigFromMeta(coordinatorMeta, 'c')),
      'GoogLeNet width 0.0625, BatchNorm, aux heads (not used), 10 classes',
    );
  });

  it('refuses meta without a usable model config, naming the checkpoint', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ position: {} }, 'x.ckpt must hold the model config in meta.model, but meta.model is undefined'],
      [{ model: 'googlenet' }, 'x.ckpt must hold the model config in meta.model, but meta.model is "googlenet"'],
      [{ model: { auxHeads: true, batchNorm: true } }, 'x.ckpt meta.model must state width, auxHeads, batchNorm, but lacks width'],
      [
        { model: { width: 9, auxHeads: true, batchNorm: true } },
        'x.ckpt meta.model is not a valid GoogLeNet config: `width` passed to `modelConfigFromMeta` must be a number in (0, 4], but got 9',
      ],
    ];
    for (const [meta, message] of cases) {
      assert.throws(
        () => modelConfigFromMeta(meta, 'x.ckpt'),
        (err: unknown) => {
          assert.ok(err instanceof CheckpointModelError);
          assert.equal(err.code, 'TOOL_CHECKPOINT_MODEL');
          assert.equal(err.message, message);
          return true;
        },
      );
    }
  });

  it('refuses weights that do not fit the stated config', () => {
    // Saved without aux heads, but the meta claims them.
    const state = stateOf(singleNodeMeta, false);
    assert.throws(
      () => restoreCheckpointModel(state, 'y.ckpt'),
      (err: unknown) => {
        assert.ok(err instanceof CheckpointError);
        assert.equal(err.code, 'CKPT_INCOMPATIBLE');
        assert.match(err.message, /^y\.ckpt holds \d+ weights tensors, but the model has \d+: was it written with another model config\?$/);
        return true;
      },
    );
  });

  it('takes the newest checkpoint that verifies from a run folder', async () => {
    const run = join(dir, 'run');
    const store = new CheckpointStore(join(run, 'checkpoints'));
    await store.save(stateOf(singleNodeMeta), 5);
    await store.save(stateOf(coordinatorMeta), 10);
    await writeFile(store.pathFor(10), 'torn'); // the newest is corrupt: the one before is taken
    const warnings: string[] = [];
    const found = await readCheckpoint(run, { warn: (_fields, message) => warnings.push(message) });
    assert.equal(found.path, store.pathFor(5));
    assert.deepEqual(found.state.meta['position'], singleNodeMeta.position);
    assert.equal(warnings.length, 1);
    assert.equal((await readCheckpoint(join(run, 'checkpoints'))).path, store.pathFor(5));
    const empty = join(dir, 'empty-run');
    await mkdir(empty);
    await assert.rejects(readCheckpoint(empty), {
      name: 'CheckpointError',
      code: 'CKPT_NOT_FOUND',
      message: `${empty} is a folder without checkpoints: expected ckpt-<step>.ckpt files in ${empty}`,
    });
  });

  it('reports a missing file as CheckpointError CKPT_NOT_FOUND', async () => {
    await assert.rejects(loadCheckpointModel(join(dir, 'none.ckpt')), { name: 'CheckpointError', code: 'CKPT_NOT_FOUND' });
  });
});
