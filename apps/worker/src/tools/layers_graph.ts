// GoogLeNet's inference graph as a TF.js Layers functional model, so that a browser can load it
// with `tf.loadLayersModel`. @gnet/model builds the network from tfjs-core ops, which the Layers
// format cannot describe; this walks the same table (GOOGLENET_TABLE) and reads the weights by
// @gnet/model's parameter names. Only standard layers appear:
//   conv unit     -> conv2d 'same' + bias + ReLU, BatchNorm folded into kernel and bias
//   inception     -> four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5; maxPooling2d 3x3/1 -> 1x1), concatenate
//   table maxpool -> maxPooling2d 3x3/2 'same'
//   head          -> globalAveragePooling2d, dense (logits), activation softmax (probabilities)
// The auxiliary heads are training-only and left out; dropout is the identity at inference.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { GOOGLENET_TABLE, INPUT_CHANNELS, INPUT_SIZE, STEM, type GoogLeNet } from '@gnet/model';
import { foldBatchNorm } from './fold_batch_norm.js';

/** Layer names of the exported model's two ends. */
export const LAYERS_NAMES = Object.freeze({ input: 'image', logits: 'logits', probabilities: 'probabilities' });

interface NamedValues {
  readonly values: Float32Array;
  readonly shape: readonly number[];
}

/** The branches of an inception module: [conv units in order], as @gnet/model names them. */
const BRANCHES: readonly (readonly string[])[] = [['b1_1x1'], ['b2_3x3_reduce', 'b2_3x3'], ['b3_5x5_reduce', 'b3_5x5'], ['b4_pool_proj']];

/**
 * Builds the Layers model of `model`'s inference network (aux heads ignored) with its current
 * weights and BatchNorm running statistics. Input `[n, 32, 32, 3]` normalised as in training;
 * output `[n, numClasses]` softmax probabilities; the `logits` layer holds the pre-softmax values.
 * The caller owns (and disposes) the returned model.
 */
export function buildLayersModel(model: GoogLeNet): tfl.LayersModel {
  const named = new Map<string, NamedValues>();
  for (const { name, variable } of [...model.params, ...model.buffers]) {
    named.set(name, { values: variable.dataSync() as Float32Array, shape: variable.shape });
  }
  const get = (name: string): NamedValues => {
    const v = named.get(name);
    if (v === undefined) throw new RangeError(`\`model\` passed to \`buildLayersModel\` must have a variable '${name}', but has none`);
    return v;
  };
  const batchNorm = model.config.batchNorm;
  // Weights are assigned once the graph is built; until then layers start from zeros (cheaper than
  // their random initialisers, which would be overwritten anyway).
  const assignments: { layer: tfl.layers.Layer; weights: { values: Float32Array; shape: readonly number[] }[] }[] = [];

  /** One conv unit `prefix` (`stem`, `inception_3a/b2_3x3`, ...) applied to `x`. */
  const conv = (prefix: string, x: tfl.SymbolicTensor): tfl.SymbolicTensor => {
    const kernel = get(`${prefix}/kernel`);
    const [k, , , filters] = kernel.shape as [number, number, number, number];
    const folded = batchNorm
      ? foldBatchNorm(kernel.values, {
          gamma: get(`${prefix}/bn/gamma`).values,
          beta: get(`${prefix}/bn/beta`).values,
          mean: get(`${prefix}/bn/running_mean`).values,
          variance: get(`${prefix}/bn/running_var`).values,
        })
      : { kernel: kernel.values, bias: get(`${prefix}/bias`).values };
    const layer = tfl.layers.conv2d({
      name: prefix.replaceAll('/', '_'),
      filters,
      kernelSize: k,
      strides: 1,
      padding: 'same',
      useBias: true,
      activation: 'relu',
      kernelInitializer: 'zeros',
    });
    assignments.push({
      layer,
      weights: [
        { values: folded.kernel, shape: kernel.shape },
        { values: folded.bias, shape: [filters] },
      ],
    });
    return layer.apply(x) as tfl.SymbolicTensor;
  };

  const input = tfl.input({ name: LAYERS_NAMES.input, shape: [INPUT_SIZE, INPUT_SIZE, INPUT_CHANNELS], dtype: 'float32' });
  let h = conv(STEM.name, input);
  for (const row of GOOGLENET_TABLE) {
    if (row.kind === 'maxpool') {
      h = tfl.layers.maxPooling2d({ name: row.name, poolSize: 3, strides: 2, padding: 'same' }).apply(h) as tfl.SymbolicTensor;
      continue;
    }
    const name = `inception_${row.name}`;
    const x = h;
    const branches = BRANCHES.map((units) => {
      let b =
        units[0] === 'b4_pool_proj'
          ? (tfl.layers.maxPooling2d({ name: `${name}_b4_pool`, poolSize: 3, strides: 1, padding: 'same' }).apply(x) as tfl.SymbolicTensor)
          : x;
      for (const unit of units) b = conv(`${name}/${unit}`, b);
      return b;
    });
    h = tfl.layers.concatenate({ name, axis: -1 }).apply(branches) as tfl.SymbolicTensor;
  }
  // Global average pool over the 8x8 maps (the paper's 7x7 avg pool); dropout 0.4 is training-only.
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(h) as tfl.SymbolicTensor;
  const classifier = get('classifier/kernel');
  const dense = tfl.layers.dense({ name: LAYERS_NAMES.logits, units: classifier.shape[1]!, useBias: true, kernelInitializer: 'zeros' });
  assignments.push({ layer: dense, weights: [classifier, get('classifier/bias')] });
  const logits = dense.apply(pooled) as tfl.SymbolicTensor;
  const probabilities = tfl.layers
    .activation({ name: LAYERS_NAMES.probabilities, activation: 'softmax' })
    .apply(logits) as tfl.SymbolicTensor;

  const layersModel = tfl.model({ name: 'googlenet', inputs: input, outputs: probabilities });
  for (const { layer, weights } of assignments) {
    const tensors = weights.map((weight) => tf.tensor(weight.values, [...weight.shape], 'float32'));
    layer.setWeights(tensors); // copies into the layer's variables
    tf.dispose(tensors);
  }
  return layersModel;
}

/** A model with the same input that outputs `model`'s logits layer (shares its weights). */
export function logitsModel(model: tfl.LayersModel): tfl.LayersModel {
  return tfl.model({ inputs: model.inputs, outputs: model.getLayer(LAYERS_NAMES.logits).output as tfl.SymbolicTensor });
}
