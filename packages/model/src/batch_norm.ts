// Training-mode BatchNorm (Ioffe & Szegedy 2015) over NHWC maps, as a tf.customGrad with the
// analytic backward, and the running-statistics update in PyTorch's convention.
//
// Why custom: tfjs's FusedBatchNorm gradient broadcasts with Tile, about 20% of a wasm training
// step. Here every big op is an elementwise op against a rank-1 `[c]` tensor (which the cpu
// backend's fast path handles; `[1, 1, 1, c]` falls into its per-element index loop, ~9x slower)
// and every reduction is `channelSum`.
import * as tf from '@tensorflow/tfjs-core';
import { channelSum } from './channel_sum.js';

/**
 * Kernels a backend may register to run training-mode BatchNorm fused (@gnet/native-cpu's 'onednn'
 * does): `GnetBatchNormTrain` {x, gamma, beta} {epsilon} -> [y, mean, variance (biased), invStd]
 * and `GnetBatchNormTrainGrad` {dy, x, mean, invStd, gamma} -> [dx, dgamma, dbeta], the same math
 * as the composed path below. Names no stock tfjs backend uses.
 */
export const BATCH_NORM_TRAIN_KERNEL = 'GnetBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD_KERNEL = 'GnetBatchNormTrainGrad';

/** Whether the active backend runs BatchNorm fused (then batchNormTrain uses its kernels). */
export function hasFusedBatchNorm(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(BATCH_NORM_TRAIN_KERNEL, backend) !== undefined && tf.getKernel(BATCH_NORM_TRAIN_GRAD_KERNEL, backend) !== undefined;
}

/** Added to the variance before the square root (PyTorch's default). */
export const BN_EPSILON = 1e-5;

/**
 * Weight of the new batch in the running statistics, PyTorch's convention:
 * `running = (1 - momentum) * running + momentum * batch`. (Keras/TF call 0.9 "momentum" for
 * the same update.) The running variance takes the unbiased batch variance (times m/(m-1)).
 */
export const BN_MOMENTUM = 0.1;

/** A BatchNorm layer's running statistics (non-trainable), each `[c]`. */
export interface RunningStats {
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
}

/**
 * `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the batch's per-channel mean and biased
 * variance over `[n, h, w]`. Differentiable in `x`, `gamma` and `beta` by the analytic backward:
 *
 *   dx     = gamma * invStd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
 *   dgamma = sum(dy * xhat),  dbeta = sum(dy)          (sums over n, h, w; m = n * h * w)
 *
 * If `running` is given, it is updated once per call as a side effect (`Variable.assign`, which is
 * safe inside `tf.tidy` and `tf.variableGrads`: the variable holds its own reference).
 *
 * The forward keeps intermediates for the backward (`xc`, `invStd`, `scale`; freed by backprop)
 * rather than recomputing them from `x`. tfjs's debug-only kernel leak check (env flag `IS_TEST`)
 * counts kept intermediates and assigned buffers as leaks and throws, so leave that flag off.
 *
 * @param x `[n, h, w, c]`, with m = n*h*w > 1.
 * @param gamma `[c]` scale; @param beta `[c]` shift.
 * @returns `[n, h, w, c]`.
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  running?: RunningStats,
  momentum = BN_MOMENTUM,
  epsilon = BN_EPSILON,
): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const m = n * h * w;
  const updateRunning = (mean: tf.Tensor, variance: tf.Tensor): void => {
    if (running === undefined) return;
    const unbiased = m > 1 ? tf.mul(variance, m / (m - 1)) : variance;
    running.mean.assign(tf.add(tf.mul(running.mean, 1 - momentum), tf.mul(mean, momentum)));
    running.variance.assign(tf.add(tf.mul(running.variance, 1 - momentum), tf.mul(unbiased, momentum)));
  };
  if (hasFusedBatchNorm()) {
    const fused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args[3] as tf.GradSaveFunc;
      const [y, mean, variance, invStd] = tf.engine().runKernel(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
      updateRunning(mean as tf.Tensor, variance as tf.Tensor);
      save([x, mean as tf.Tensor, invStd as tf.Tensor, gamma]);
      const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]): tf.Tensor[] => {
        const [xs, mu, inv, savedGamma] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf
          .engine()
          .runKernel(BATCH_NORM_TRAIN_GRAD_KERNEL, { dy, x: xs, mean: mu, invStd: inv, gamma: savedGamma }, {}) as tf.Tensor[];
      };
      return { value: y as tf.Tensor4D, gradFunc };
    });
    return tf.tidy('batchNormTrain', () => fused(x, gamma, beta));
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.div(channelSum(x), m); // [c]
    const centered = tf.sub(x, mean); // [n, h, w, c]; saved instead of xhat: one op fewer
    const variance = tf.div(channelSum(tf.square(centered)), m); // [c], biased (normalisation)
    const invStd = tf.rsqrt(tf.add(variance, epsilon)); // [c]
    const scale = tf.mul(gamma, invStd); // [c]
    const y = tf.add(tf.mul(centered, scale), beta) as tf.Tensor4D;
    updateRunning(mean, variance);
    save([centered, invStd, scale]);
    const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xc, inv, k] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
      const sumDy = channelSum(dy); // dbeta, [c]
      const sumDyXhat = tf.mul(channelSum(tf.mul(dy, xc)), inv); // dgamma, [c]
      // xhat = xc * inv, so dx = dy * k + xc * b + c0 with per-channel
      //   b = -k * inv * sum(dy * xhat) / m  and  c0 = -k * sum(dy) / m.
      const b = tf.mul(tf.mul(k, inv), tf.div(sumDyXhat, -m));
      const c0 = tf.mul(k, tf.div(sumDy, -m));
      const dx = tf.add(tf.add(tf.mul(dy, k), tf.mul(xc, b)), c0);
      return [dx, sumDyXhat, sumDy];
    };
    return { value: y, gradFunc };
  });
  // The named scope labels this op `batchNormTrain` in tf.profile output.
  return tf.tidy('batchNormTrain', () => op(x, gamma, beta));
}

/**
 * Inference-mode BatchNorm folded to a per-channel affine map from the running statistics:
 * `y = x * scale + shift`. Callers fold `scale` into the preceding conv's kernel and use
 * `shift` as its bias.
 *
 * @returns `scale` and `shift`, each `[c]`.
 */
export function foldBatchNorm(
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  running: RunningStats,
  epsilon = BN_EPSILON,
): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(running.variance, epsilon))) as tf.Tensor1D;
    const shift = tf.sub(beta, tf.mul(running.mean, scale)) as tf.Tensor1D;
    return { scale, shift };
  });
}
