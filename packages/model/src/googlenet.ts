// GoogLeNet (Inception v1, Szegedy et al. 2015) for 32x32 CIFAR-10 images on tfjs-core ops:
// the stem, the rows of GOOGLENET_TABLE through the block builder, global average pooling,
// dropout and the classifier, plus the two auxiliary heads for training.
import * as tf from '@tensorflow/tfjs-core';
import { applyAuxHead, makeAuxHead, type AuxHeadUnit } from './aux_head.js';
import { checkSeed, resolveGoogLeNetConfig, scaleChannels, type GoogLeNetConfig } from './config.js';
import { applyConvUnit, makeConvUnit, type ConvUnit } from './conv_unit.js';
import { applyDenseUnit, makeDenseUnit, type DenseUnit } from './dense_unit.js';
import { ModelDisposedError, ModelInputError } from './errors.js';
import { AUX_HEADS, GOOGLENET_TABLE, INPUT_CHANNELS, INPUT_SIZE, STEM } from './googlenet_table.js';
import { applyInception, makeInception, type InceptionUnit } from './inception_block.js';
import { ParamBuilder, type NamedVariable } from './param_builder.js';

/** Options of one forward pass. */
export interface ForwardOptions {
  /**
   * true: BatchNorm on batch statistics (and running statistics updated, once per call),
   * dropout on, auxiliary logits returned. false: running statistics, no dropout, no aux heads.
   */
  readonly training: boolean;
  /** Seed of the dropout masks (the aux heads derive theirs); undefined draws fresh masks. */
  readonly seed?: number;
}

/** What one forward pass returns. */
export interface ForwardResult {
  /** `[n, numClasses]` main classifier logits. */
  readonly logits: tf.Tensor2D;
  /** `[n, numClasses]` per auxiliary head (after 4a, then 4d); empty unless training with aux heads. */
  readonly auxLogits: tf.Tensor2D[];
}

/** The built layers; shared between a model and its inference views. Internal. */
export interface Network {
  readonly stem: ConvUnit;
  /** One entry per GOOGLENET_TABLE row: an inception module, or null for a max pool. */
  readonly rows: readonly (InceptionUnit | null)[];
  readonly classifier: DenseUnit;
  readonly auxHeads: readonly AuxHeadUnit[];
}

/** Shared between a model and its views so that a view notices its owner's disposal. Internal. */
export interface Lifetime {
  disposed: boolean;
}

/**
 * A GoogLeNet whose variables are plain named tfjs Variables in a fixed order.
 *
 * `params` lists the trainable variables: first the main network (stem, 3a..5b, classifier),
 * then the auxiliary heads (`aux_4a/...`, `aux_4d/...`), so the order and shapes are the same on
 * every replica built from the same config (gradient buckets are cut from this list), and the
 * inference view's list is a prefix of it. `buffers` are BatchNorm running statistics.
 *
 * @example
 * const model = createGoogLeNet({ width: 0.25 }, 42);
 * const vars = model.params.map((p) => p.variable);
 * const { value, grads } = tf.variableGrads(() => {
 *   const { logits, auxLogits } = model.forward(images, { training: true, seed: step });
 *   return totalLoss(logits, auxLogits); // e.g. CE(logits) + 0.3 * sum of CE(aux)
 * }, vars);
 */
export class GoogLeNet {
  /** Trainable variables, in a fixed order. */
  readonly params: readonly NamedVariable[];
  /** Non-trainable variables: `.../bn/running_mean` and `.../bn/running_var`, `[c]` each. */
  readonly buffers: readonly NamedVariable[];

  /** Use `createGoogLeNet`; the constructor is internal. */
  constructor(
    readonly config: Readonly<GoogLeNetConfig>,
    private readonly network: Network,
    params: readonly NamedVariable[],
    buffers: readonly NamedVariable[],
    private readonly lifetime: Lifetime,
    private readonly ownsVariables: boolean,
  ) {
    this.params = Object.freeze([...params]);
    this.buffers = Object.freeze([...buffers]);
  }

  /**
   * Runs the network on `x` `[n, 32, 32, 3]` (NHWC, float32, normalised images).
   *
   * In training mode each BatchNorm updates its running statistics as a side effect (momentum
   * 0.1, torch convention), so call it once per step. It is safe inside `tf.tidy` and
   * `tf.variableGrads`. The returned tensors belong to the caller.
   *
   * @throws ModelInputError if `x` is not a float32 `[n, 32, 32, 3]` tensor with n >= 1.
   * @throws ModelDisposedError after `dispose()` (of this model, or the one a view came from).
   */
  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    this.checkAlive('forward');
    checkInput(x);
    const training = opts.training;
    if (opts.seed !== undefined) checkSeed(opts.seed, 'opts.seed', 'GoogLeNet.forward');
    const dropoutSeed = (tag: string): string | undefined => (opts.seed === undefined ? undefined : `${opts.seed}/${tag}`);
    const net = this.network;
    return tf.tidy(() => {
      const auxLogits: tf.Tensor2D[] = [];
      let h = applyConvUnit(net.stem, x, training);
      GOOGLENET_TABLE.forEach((row, i) => {
        const unit = net.rows[i];
        if (row.kind === 'maxpool' || unit == null) {
          // 3x3/2 'same': TF pads one row/column at the bottom/right only (torch's padding=1
          // pads both sides); both give 32 -> 16 -> 8.
          h = tf.maxPool(h, 3, 2, 'same');
          return;
        }
        h = applyInception(unit, h, training);
        const aux = net.auxHeads.find((head) => head.after === row.name);
        if (training && aux !== undefined) {
          auxLogits.push(applyAuxHead(aux, h, this.config.auxDropout, dropoutSeed(`aux_${aux.after}`)));
        }
      });
      // Global average pool (paper: 7x7 avg pool on 7x7 maps; here 8x8) to [n, c].
      const [n, height, width] = h.shape;
      const pooled = tf.reshape(tf.avgPool(h, [height, width], 1, 'valid'), [n, -1]) as tf.Tensor2D;
      const rate = this.config.dropout;
      const dropped = training && rate > 0 ? tf.dropout(pooled, rate, undefined, dropoutSeed('classifier')) : pooled;
      const logits = applyDenseUnit(net.classifier, dropped as tf.Tensor2D);
      return { logits, auxLogits };
    });
  }

  /**
   * The deployable network: the same main variables (shared, not copied) without the auxiliary
   * heads; its `params` is this model's list with every `aux_*` entry left out. The view owns
   * nothing: its `dispose()` does nothing, and it stops working when this model is disposed.
   */
  inference(): GoogLeNet {
    this.checkAlive('inference');
    const isAux = (p: NamedVariable): boolean => p.name.startsWith('aux_');
    return new GoogLeNet(
      Object.freeze({ ...this.config, auxHeads: false }),
      { ...this.network, auxHeads: [] },
      this.params.filter((p) => !isAux(p)),
      this.buffers.filter((p) => !isAux(p)),
      this.lifetime,
      false,
    );
  }

  /** Frees every variable (params and buffers, aux heads included). A view's `dispose` is a no-op. */
  dispose(): void {
    if (!this.ownsVariables || this.lifetime.disposed) return;
    this.lifetime.disposed = true;
    for (const { variable } of [...this.params, ...this.buffers]) variable.dispose();
  }

  /** True once this model (or the model a view came from) has been disposed. */
  get isDisposed(): boolean {
    return this.lifetime.disposed;
  }

  private checkAlive(operation: string): void {
    if (this.lifetime.disposed) {
      throw new ModelDisposedError(`\`GoogLeNet.${operation}\` called after the model was disposed`);
    }
  }
}

function checkInput(x: tf.Tensor): void {
  const expected = `a float32 tensor of shape [n, ${INPUT_SIZE}, ${INPUT_SIZE}, ${INPUT_CHANNELS}] with n >= 1`;
  if (!(x instanceof tf.Tensor)) {
    throw new ModelInputError(`\`x\` passed to \`GoogLeNet.forward\` must be ${expected}, but got ${String(x)}`);
  }
  const [n = 0, h, w, c] = x.shape;
  if (x.rank !== 4 || n < 1 || h !== INPUT_SIZE || w !== INPUT_SIZE || c !== INPUT_CHANNELS || x.dtype !== 'float32') {
    throw new ModelInputError(`\`x\` passed to \`GoogLeNet.forward\` must be ${expected}, but got ${x.dtype} [${x.shape.join(', ')}]`);
  }
}

/**
 * Builds a GoogLeNet with freshly initialised variables. The same `config` and `seed` give
 * bit-identical variables on every backend and process; each variable is seeded by its name,
 * so the main weights do not depend on `auxHeads`.
 *
 * @param config merged over `defaultGoogLeNetConfig`; unknown keys are refused.
 * @param seed any safe integer.
 * @throws ModelConfigError for an invalid config or seed, before allocating anything.
 */
export function createGoogLeNet(config: Partial<GoogLeNetConfig>, seed: number): GoogLeNet {
  const cfg = resolveGoogLeNetConfig(config, 'createGoogLeNet');
  checkSeed(seed, 'seed', 'createGoogLeNet');
  const main = new ParamBuilder(seed);
  const aux = new ParamBuilder(seed); // aux variables go last, after the whole main network
  const stemChannels = scaleChannels(STEM.channels, cfg.width);
  // Departure: 3x3/1 conv 3 -> 192 instead of the paper's 7x7/2 ... LRN stem (see STEM).
  const stem = makeConvUnit(main, STEM.name, STEM.kernelSize, INPUT_CHANNELS, stemChannels, cfg.batchNorm);
  let channels = stemChannels;
  const rows: (InceptionUnit | null)[] = [];
  const auxHeads: AuxHeadUnit[] = [];
  for (const row of GOOGLENET_TABLE) {
    if (row.kind === 'maxpool') {
      rows.push(null);
      continue;
    }
    const unit = makeInception(main, row, channels, cfg.width, cfg.batchNorm);
    rows.push(unit);
    channels = unit.outChannels;
    if (cfg.auxHeads && AUX_HEADS.after.includes(row.name)) {
      auxHeads.push(makeAuxHead(aux, row.name, channels, cfg.width, cfg.numClasses, cfg.batchNorm));
    }
  }
  const classifier = makeDenseUnit(main, 'classifier', channels, cfg.numClasses, 1);
  return new GoogLeNet(
    cfg,
    { stem, rows, classifier, auxHeads },
    [...main.params, ...aux.params],
    [...main.buffers, ...aux.buffers],
    { disposed: false },
    true,
  );
}
