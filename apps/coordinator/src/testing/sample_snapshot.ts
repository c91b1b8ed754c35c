// A worker's `stateSnapshot` for the checkpoint and recovery tests: the smallest state with a
// parameter, a BatchNorm statistic and momentum, whose values say where each part ends up.
import { tensorFromFloat32, type StateSnapshot } from '@gnet/protocol';

/** The sizes `snapshotToCheckpoint` needs for {@link sampleSnapshot}'s model. */
export const SAMPLE_SIZES = { paramElements: 2, bufferElements: 1 } as const;

/**
 * The state of a model of two weights (`conv/kernel` = [1, 2]) and one statistic
 * (`conv/bn/running_mean` = [3]) that trains `nextGlobalStep` next, with the kernel's momentum
 * [4, 5] unless `momentum` is false.
 */
export function sampleSnapshot(nextGlobalStep: number, options: { momentum?: boolean } = {}): StateSnapshot {
  return {
    type: 'stateSnapshot',
    requestId: 0,
    epoch: 0,
    step: 0,
    globalStep: Math.max(0, nextGlobalStep - 1),
    nextGlobalStep,
    tensors: [
      tensorFromFloat32('conv/kernel', [2], Float32Array.of(1, 2)),
      tensorFromFloat32('conv/bn/running_mean', [1], Float32Array.of(3)),
    ],
    momentum: options.momentum === false ? [] : [tensorFromFloat32('conv/kernel', [2], Float32Array.of(4, 5))],
  };
}
