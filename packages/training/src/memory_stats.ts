// Memory figures a long run watches for leaks: live tfjs tensors (a tensor created outside
// tf.tidy and never disposed shows up here first) and the process's resident set.
import * as tf from '@tensorflow/tfjs-core';

/** Live tfjs tensors and process memory, sampled now. */
export interface MemoryStats {
  /** `tf.memory().numTensors`: flat across steps unless something leaks. */
  numTensors: number;
  /** Resident set size of the process, in bytes. */
  rssBytes: number;
  /** V8 heap in use, in bytes. */
  heapUsedBytes: number;
}

export function memoryStats(): MemoryStats {
  const usage = process.memoryUsage();
  return { numTensors: tf.memory().numTensors, rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
}
