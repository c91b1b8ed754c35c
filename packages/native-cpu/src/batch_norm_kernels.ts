// Training-mode BatchNorm for the 'onednn' backend as two custom kernels that @gnet/model's
// batchNormTrain runs when the active backend registers them (the same contract as tfjs's own
// FusedBatchNorm kernel, under names no stock backend has). Composed from tfjs ops, one
// BatchNorm is ~12 passes over the activation plus two matmul reductions; fused here it is three
// passes forward and two backward, in the addon's OpenMP loops.
//
//   GnetBatchNormTrain      inputs {x [..., c], gamma [c], beta [c]}, attrs {epsilon}
//                           outputs [y, mean, variance (biased), invStd], the last three [c]
//   GnetBatchNormTrainGrad  inputs {dy, x, mean, invStd, gamma}
//                           outputs [dx, dgamma, dbeta]
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { f32, output, sameShape, uninitialisedF32 } from './cpu_tensors.js';
import type { OneDnnAddon } from './native_addon.js';

/** Kernel names; @gnet/model's batch_norm.ts names the same (a training test checks they agree). */
export const BATCH_NORM_TRAIN = 'GnetBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'GnetBatchNormTrainGrad';

/** Thrown for inputs the kernels cannot take; there is no cpu kernel to fall back to. */
export class BatchNormKernelInputError extends Error {
  readonly code = 'BATCH_NORM_KERNEL_INPUT' as const;
  constructor(kernel: string, what: string) {
    super(`${kernel}: ${what}`);
    this.name = 'BatchNormKernelInputError';
  }
}

function values(kernel: string, backend: MathBackendCPU, name: string, t: TensorInfo): Float32Array {
  const v = f32(backend, t);
  if (v === null) throw new BatchNormKernelInputError(kernel, `\`${name}\` must be float32, but got ${t.dtype}`);
  return v;
}

function channelsOf(kernel: string, x: TensorInfo): number {
  const c = x.shape.at(-1);
  if (c === undefined || x.shape.length < 2 || x.shape.some((d) => d < 1)) {
    throw new BatchNormKernelInputError(
      kernel,
      `\`x\` must be [..., channels] with at least 2 dims, none empty, but has shape [${x.shape.join(', ')}]`,
    );
  }
  return c;
}

function vector(kernel: string, backend: MathBackendCPU, name: string, t: TensorInfo, c: number): Float32Array {
  if (!sameShape(t.shape, [c]))
    throw new BatchNormKernelInputError(kernel, `\`${name}\` must have shape [${c}], but has [${t.shape.join(', ')}]`);
  return values(kernel, backend, name, t);
}

/** The two kernels for backend `backendName` over `addon`. */
export function batchNormKernels(addon: OneDnnAddon, backendName: string): KernelConfig[] {
  const forward: KernelFunc = (args) => {
    const k = BATCH_NORM_TRAIN;
    const { x, gamma, beta } = args.inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const epsilon = (args.attrs as { epsilon?: unknown } | undefined)?.epsilon;
    if (typeof epsilon !== 'number' || !(epsilon > 0))
      throw new BatchNormKernelInputError(k, `attr \`epsilon\` must be a positive number, but got ${String(epsilon)}`);
    const c = channelsOf(k, x);
    const xv = values(k, backend, 'x', x);
    const y = uninitialisedF32(backend, xv.length);
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    const invStd = new Float32Array(c);
    addon.batchNormForward(
      c,
      xv,
      vector(k, backend, 'gamma', gamma, c),
      vector(k, backend, 'beta', beta, c),
      epsilon,
      y,
      mean,
      variance,
      invStd,
    );
    return [output(backend, x.shape, y), output(backend, [c], mean), output(backend, [c], variance), output(backend, [c], invStd)];
  };

  const backward: KernelFunc = (args) => {
    const k = BATCH_NORM_TRAIN_GRAD;
    const { dy, x, mean, invStd, gamma } = args.inputs as Record<'dy' | 'x' | 'mean' | 'invStd' | 'gamma', TensorInfo>;
    const backend = args.backend as MathBackendCPU;
    const c = channelsOf(k, x);
    if (!sameShape(dy.shape, x.shape))
      throw new BatchNormKernelInputError(k, `\`dy\` [${dy.shape.join(', ')}] must have x's shape [${x.shape.join(', ')}]`);
    const xv = values(k, backend, 'x', x);
    const dx = uninitialisedF32(backend, xv.length);
    const dgamma = new Float32Array(c);
    const dbeta = new Float32Array(c);
    addon.batchNormBackward(
      c,
      values(k, backend, 'dy', dy),
      xv,
      vector(k, backend, 'mean', mean, c),
      vector(k, backend, 'invStd', invStd, c),
      vector(k, backend, 'gamma', gamma, c),
      dx,
      dgamma,
      dbeta,
    );
    return [output(backend, x.shape, dx), output(backend, [c], dgamma), output(backend, [c], dbeta)];
  };

  return [
    { kernelName: BATCH_NORM_TRAIN, backendName, kernelFunc: forward },
    { kernelName: BATCH_NORM_TRAIN_GRAD, backendName, kernelFunc: backward },
  ];
}
