// Semantic checks: invariants between fields that a per-field schema cannot express. The last
// stage of decoding (after frame size, unpack and schema); throws PROTO_SEMANTIC or, for
// tensor bytes, PROTO_BAD_TENSOR.
import { BYTES_PER_ELEMENT } from './dtype.js';
import type { Welcome } from './handshake_messages.js';
import type { Message } from './message.js';
import { ProtocolError } from './protocol_error.js';
import type { Metrics } from './round_messages.js';
import type { EvalResult } from './service_messages.js';
import { checkTensor, type WireTensor } from './tensor.js';

function fail(message: string): never {
  throw new ProtocolError('PROTO_SEMANTIC', message);
}

function checkWelcome(msg: Welcome): void {
  const { rank, worldSize, hyper, model, shard, buckets, allReduce, peers } = msg;
  if (rank >= worldSize) fail(`welcome.rank must be less than welcome.worldSize (${worldSize}), but got ${rank}`);
  if (hyper.globalBatch < worldSize) {
    fail(
      `welcome.hyper.globalBatch must be at least welcome.worldSize (${worldSize}) so every rank has a sample, but got ${hyper.globalBatch}`,
    );
  }
  if (hyper.auxWeight !== 0 && !model.auxHeads) {
    fail(`welcome.hyper.auxWeight must be 0 when welcome.model.auxHeads is false, but got ${hyper.auxWeight}; set auxHeads or auxWeight 0`);
  }
  if (shard.datasetSize < hyper.globalBatch) {
    fail(`welcome.shard.datasetSize must be at least welcome.hyper.globalBatch (${hyper.globalBatch}), but got ${shard.datasetSize}`);
  }
  let offset = 0;
  buckets.forEach((bucket, i) => {
    if (bucket.bucket !== i) fail(`welcome.buckets[${i}].bucket must be ${i}, but got ${bucket.bucket}`);
    if (bucket.offset !== offset) {
      fail(`welcome.buckets[${i}].offset must be ${offset} (buckets are contiguous), but got ${bucket.offset}`);
    }
    offset += bucket.length;
  });
  if (allReduce.chunkBytes % 4 !== 0) fail(`welcome.allReduce.chunkBytes must be a multiple of 4, but got ${allReduce.chunkBytes}`);
  if (allReduce.algorithm === 'star') {
    if (peers.length !== 0) fail(`welcome.peers must be empty when allReduce.algorithm is 'star', but has ${peers.length} entries`);
    return;
  }
  if (peers.length !== worldSize) {
    fail(`welcome.peers must list all ${worldSize} ranks when allReduce.algorithm is 'ring', but has ${peers.length} entries`);
  }
  peers.forEach((peer, i) => {
    if (peer.rank !== i) fail(`welcome.peers[${i}].rank must be ${i} (rank order), but got ${peer.rank}`);
  });
}

function checkTensors(tensors: readonly WireTensor[], where: string): void {
  const names = new Set<string>();
  tensors.forEach((tensor, i) => {
    if (names.has(tensor.name)) fail(`${where}[${i}].name must be unique, but '${tensor.name}' appears twice`);
    names.add(tensor.name);
    checkTensor(tensor, `${where}[${i}]`);
  });
}

function checkEvalRange(type: string, start: number, end: number): void {
  if (end < start) fail(`${type}.end must be at least ${type}.start (${start}), but got ${end}`);
}

function checkEvalResult(msg: EvalResult): void {
  checkEvalRange('evalResult', msg.start, msg.end);
  if (msg.count !== msg.end - msg.start) {
    fail(`evalResult.count must be end - start (${msg.end - msg.start}), but got ${msg.count}`);
  }
  if (msg.correct > msg.count) fail(`evalResult.correct must be at most count (${msg.count}), but got ${msg.correct}`);
  const { perClassCorrect, perClassCount } = msg;
  if (perClassCorrect.length !== perClassCount.length) {
    fail(
      `evalResult.perClassCorrect must have as many entries as perClassCount (${perClassCount.length}), but has ${perClassCorrect.length}`,
    );
  }
  perClassCorrect.forEach((correct, i) => {
    if (correct > perClassCount[i]!) {
      fail(`evalResult.perClassCorrect[${i}] must be at most perClassCount[${i}] (${perClassCount[i]!}), but got ${correct}`);
    }
  });
  const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
  if (perClassCount.length > 0 && sum(perClassCount) !== msg.count) {
    fail(`evalResult.perClassCount must sum to count (${msg.count}), but sums to ${sum(perClassCount)}`);
  }
  if (perClassCorrect.length > 0 && sum(perClassCorrect) !== msg.correct) {
    fail(`evalResult.perClassCorrect must sum to correct (${msg.correct}), but sums to ${sum(perClassCorrect)}`);
  }
  const classes = perClassCount.length;
  if (msg.confusion.length > 0 && msg.confusion.length !== classes * classes) {
    fail(`evalResult.confusion must have perClassCount.length² (${classes * classes}) entries, but has ${msg.confusion.length}`);
  }
  for (let t = 0; msg.confusion.length > 0 && t < classes; t += 1) {
    const row = sum(msg.confusion.slice(t * classes, (t + 1) * classes));
    if (row !== perClassCount[t])
      fail(`evalResult.confusion row ${t} must sum to perClassCount[${t}] (${perClassCount[t]!}), but sums to ${row}`);
    if (msg.confusion[t * classes + t] !== perClassCorrect[t])
      fail(
        `evalResult.confusion[${t}][${t}] must equal perClassCorrect[${t}] (${perClassCorrect[t]!}), but is ${msg.confusion[t * classes + t]!}`,
      );
  }
}

/**
 * Most samples one rank may report for one step: 2^20. Far above any real per-rank batch (CIFAR-10
 * trains on 50,000 images in all) and low enough that an epoch's sum of counts stays an exact
 * integer; a worker claiming more is lying (issue 10 found an epoch of 1.4e17 images in
 * metrics.jsonl: 16 steps of 2^53 - 1). The coordinator also checks the exact count each rank was
 * asked for (apps/coordinator/src/step_metrics_check.ts).
 */
export const MAX_METRICS_COUNT = 1 << 20;
/** How far below 0 a reported cross-entropy may round (float32 noise in a backend's log-softmax). */
const LOSS_ROUNDING_SLACK = 1e-6;
/** How far the phases of a step may add up beyond `stepMs` through floating-point rounding, in ms. */
const TIMINGS_ROUNDING_SLACK_MS = 1;

function checkMetrics(msg: Metrics): void {
  const { count, correct, loss, skipped, timings } = msg;
  if (!(Number.isSafeInteger(count) && count >= 1 && count <= MAX_METRICS_COUNT)) {
    fail(`metrics.count must be an integer in [1, ${MAX_METRICS_COUNT}] (the samples of one rank's batch), but got ${count}`);
  }
  if (correct > count) fail(`metrics.correct must be at most count (${count}), but got ${correct}`);
  // A non-finite loss is how a diverging run says so; the worker then poisons its gradient and
  // every rank skips the update. A non-finite loss on an applied step is a lie or a bug.
  if (!Number.isFinite(loss)) {
    if (!skipped)
      fail(`metrics.loss must be finite unless metrics.skipped is true (the update was not applied), but got ${loss} with skipped false`);
  } else if (loss < -LOSS_ROUNDING_SLACK) {
    fail(`metrics.loss must be at least 0 (a cross-entropy), but got ${loss}`);
  }
  const phases = ['dataMs', 'computeMs', 'reduceMs', 'applyMs'] as const;
  for (const name of [...phases, 'stepMs'] as const) {
    const value = timings[name];
    if (!(Number.isFinite(value) && value >= 0))
      fail(`metrics.timings.${name} must be a finite number of milliseconds >= 0, but got ${value}`);
  }
  // The phases are consecutive parts of the step (roundStart received .. metrics sent).
  const sum = phases.reduce((total, name) => total + timings[name], 0);
  if (sum > timings.stepMs + TIMINGS_ROUNDING_SLACK_MS) {
    fail(
      `metrics.timings phases (dataMs + computeMs + reduceMs + applyMs = ${sum}) must add up to at most stepMs (${timings.stepMs}), the whole step`,
    );
  }
}

/**
 * Checks the invariants of a schema-valid message; throws `PROTO_SEMANTIC`, or
 * `PROTO_BAD_TENSOR` for tensor and chunk bytes that disagree with their count. Run by
 * `decodeMessage` on every MessagePack message and by `encodeMessage` on everything it sends
 * (`decodeChunk` checks received chunk frames itself).
 */
export function checkSemantics(msg: Message): void {
  switch (msg.type) {
    case 'welcome':
      checkWelcome(msg);
      return;
    case 'initialWeights':
    case 'stateSnapshot':
      checkTensors(msg.tensors, `${msg.type}.tensors`);
      checkTensors(msg.momentum, `${msg.type}.momentum`);
      return;
    case 'metrics':
      checkMetrics(msg);
      return;
    case 'evalRequest':
      checkEvalRange('evalRequest', msg.start, msg.end);
      return;
    case 'evalResult':
      checkEvalResult(msg);
      return;
    case 'gradChunk':
    case 'reducedChunk':
      checkTensorBytes(msg.type, msg.bytes.byteLength, msg.count, BYTES_PER_ELEMENT[msg.dtype]);
      return;
    default:
      return;
  }
}

function checkTensorBytes(type: string, byteLength: number, count: number, bytesPerElement: number): void {
  if (byteLength !== count * bytesPerElement) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `${type}.bytes must hold count × bytesPerElement = ${count * bytesPerElement} bytes, but holds ${byteLength}`,
    );
  }
}
