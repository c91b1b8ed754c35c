// Semantic checks: invariants between fields that a per-field schema cannot express. The last
// stage of decoding (after frame size, unpack and schema); throws PROTO_SEMANTIC or, for
// tensor bytes, PROTO_BAD_TENSOR.
import { BYTES_PER_ELEMENT } from './dtype.js';
import type { Welcome } from './handshake_messages.js';
import type { Message } from './message.js';
import { ProtocolError } from './protocol_error.js';
import type { EvalResult } from './service_messages.js';
import { checkTensor, type WireTensor } from './tensor.js';

function fail(message: string): never {
  throw new ProtocolError('PROTO_SEMANTIC', message);
}

function checkWelcome(msg: Welcome): void {
  const { rank, worldSize, hyper, model, shard, buckets, allReduce, peers } = msg;
  if (rank >= worldSize) fail(`welcome.rank must be less than welcome.worldSize (${worldSize}), but got ${rank}`);
  if (hyper.globalBatch < worldSize) {
    fail(`welcome.hyper.globalBatch must be at least welcome.worldSize (${worldSize}) so every rank has a sample, but got ${hyper.globalBatch}`);
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
    if (row !== perClassCount[t]) fail(`evalResult.confusion row ${t} must sum to perClassCount[${t}] (${perClassCount[t]!}), but sums to ${row}`);
    if (msg.confusion[t * classes + t] !== perClassCorrect[t]) fail(`evalResult.confusion[${t}][${t}] must equal perClassCorrect[${t}] (${perClassCorrect[t]!}), but is ${msg.confusion[t * classes + t]!}`);
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
      if (msg.correct > msg.count) fail(`metrics.correct must be at most count (${msg.count}), but got ${msg.correct}`);
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
