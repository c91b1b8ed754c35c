// What one rank does with its replica between the coordinator's messages: the round-0 weights
// check, training steps, evaluation after averaging BatchNorm statistics, checkpoint snapshots and
// the debugging traces. The I/O around it (connections, the message loop) is distributed_worker.ts;
// steps 3-6 of the worker's round protocol are here.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { deriveSeed } from '@gnet/data';
import type { CheckpointRequest, EvalRequest, HyperParams, Message, RoundStart } from '@gnet/protocol';
import type { GradientReducer } from '@gnet/collective';
import { emptyEvalSums, evaluateImages, type Replica } from '@gnet/training';
import type { ImageBatch, RankData } from './rank_data.js';
import { digestsAgree, digestVector, floatsDigest, slotTensors } from './wire_state.js';
import { WorkerRunError } from './worker_run_error.js';

/** Options of {@link ReplicaSession}. */
export interface ReplicaSessionOptions {
  replica: Replica;
  data: RankData;
  hyper: HyperParams;
  rank: number;
  worldSize: number;
  /** Sums the flat gradient across ranks (bucketed; the welcome's wire dtype). */
  reducer: GradientReducer;
  /** Sums a float32 vector across ranks exactly, in all-reduce round `round`. */
  allReduceVector(values: Float32Array, round: number): Promise<void>;
  /** Sends a message to the coordinator. */
  send(message: Message): void;
  log: Logger;
  /** `--trace-weights`, `--trace-samples`, `--dump-dir` (empty: none). */
  trace: { weights: boolean; samples: boolean; dumpDir: string };
}

/** One rank's replica during a run. */
export class ReplicaSession {
  /** Optimizer steps taken. */
  steps = 0;
  private readonly batch: ImageBatch;
  private readonly indices: Int32Array;
  /** The highest all-reduce round seen: a BatchNorm averaging round is the next one. */
  private lastRound = 0;
  /** Weights changed since the BatchNorm statistics were last averaged. */
  private bnDirty = false;
  private bnAverages = 0;

  constructor(private readonly o: ReplicaSessionOptions) {
    const b = o.hyper.batchSizePerWorker;
    this.batch = { images: new Float32Array(b * 3072), labels: new Int32Array(b), count: b };
    this.indices = new Int32Array(b);
  }

  /**
   * Round 0: all-reduces the SHA-256 of the initial weights and throws `WORKER_WEIGHTS_DIFFER`
   * unless every rank has ours. Returns the digest.
   */
  async checkInitialWeights(): Promise<string> {
    const digest = floatsDigest(this.o.replica.weights);
    const mine = digestVector(digest);
    const summed = Float32Array.from(mine);
    await this.o.allReduceVector(summed, 0);
    if (!digestsAgree(summed, mine, this.o.worldSize)) {
      throw new WorkerRunError('WORKER_WEIGHTS_DIFFER', `Initial weights differ across ranks: ours have SHA-256 ${digest}, and not every rank's matches it; check every worker runs the same code and backend`);
    }
    return digest;
  }

  /**
   * Step 4: this rank's batch → forward/backward in micro-batches (loss scaled by 1 / global
   * batch) → all-reduce (the sum is the global mean gradient) → SGD with the round's lr → metrics.
   */
  async trainStep(m: RoundStart): Promise<void> {
    const { replica, hyper, rank, worldSize, data, log } = this.o;
    const t0 = performance.now();
    this.lastRound = Math.max(this.lastRound, m.round);
    data.fillBatch(m.epoch, m.step, this.batch, this.indices);
    const t1 = performance.now();
    replica.zeroGrad();
    const stats = replica.accumulate(this.batch, {
      microBatch: hyper.microBatch,
      labelSmoothing: hyper.labelSmoothing,
      auxWeight: hyper.auxWeight,
      lossScale: 1 / (hyper.batchSizePerWorker * worldSize),
      // Dropout masks differ per rank, like the batches (single-node: deriveSeed(seed, 2, epoch, step)).
      seed: deriveSeed(hyper.seed, 2, m.epoch, m.step, rank),
    });
    const t2 = performance.now();
    await this.o.reducer.allReduce(replica.grads, { round: m.round });
    const t3 = performance.now();
    replica.apply(m.lr);
    this.bnDirty = true;
    this.steps += 1;
    const t4 = performance.now();
    const loss = stats.lossSum / stats.count;
    this.o.send({
      type: 'metrics',
      round: m.round,
      epoch: m.epoch,
      step: m.step,
      loss,
      correct: stats.correct,
      count: stats.count,
      timings: { dataMs: t1 - t0, computeMs: t2 - t1, reduceMs: t3 - t2, applyMs: t4 - t3, stepMs: t4 - t0 },
    });
    const at = { round: m.round, epoch: m.epoch, step: m.step };
    log.debug({ ...at, loss, objective: stats.objectiveSum / stats.count, computeMs: Math.round(t2 - t1), reduceMs: Math.round(t3 - t2) }, 'step done');
    if (this.o.trace.samples) log.info({ ...at, samples: Array.from(this.indices) }, 'batch samples');
    if (this.o.trace.weights) log.info({ ...at, weightsSha256: floatsDigest(replica.weights) }, 'weights digest');
  }

  /** Step 5: average BatchNorm statistics if the weights moved, then evaluate the shard and send the sums. */
  async evaluate(m: EvalRequest): Promise<void> {
    const { replica, data, worldSize, log } = this.o;
    if (this.bnDirty && replica.bufferLayout.size > 0) {
      const round = ++this.lastRound;
      const buffers = replica.readBuffers();
      await this.dump(`bn${this.bnAverages}-before`, buffers);
      await this.o.allReduceVector(buffers, round);
      for (let i = 0; i < buffers.length; i += 1) buffers[i] = buffers[i]! / worldSize;
      replica.writeBuffers(buffers);
      await this.dump(`bn${this.bnAverages}-after`, buffers);
      log.debug({ round, buffersSha256: floatsDigest(buffers) }, 'BatchNorm statistics averaged');
      this.bnAverages += 1;
    }
    this.bnDirty = false;
    const shard = data.evalImages(m.split, m.start, m.end);
    const sums = evaluateImages(replica.model, shard.images, shard.labels, shard.count, m.batchSize, emptyEvalSums(10));
    this.o.send({
      type: 'evalResult',
      evalId: m.evalId,
      epoch: m.epoch,
      split: m.split,
      start: m.start,
      end: m.end,
      lossSum: sums.lossSum,
      correct: sums.correct,
      count: sums.count,
      perClassCorrect: sums.perClassCorrect,
      perClassCount: sums.perClassCount,
    });
    log.debug({ split: m.split, epoch: m.epoch, start: m.start, end: m.end, accuracy: sums.count > 0 ? sums.correct / sums.count : null }, 'evaluation done');
  }

  /** Step 6: the full state for the coordinator's checkpoint (variables, then BatchNorm statistics; momentum if asked). */
  snapshot(m: CheckpointRequest): void {
    const { replica } = this.o;
    const tensors = [...slotTensors(replica.layout.slots, replica.weights), ...slotTensors(replica.bufferLayout.slots, replica.readBuffers())];
    const momentum = m.includeMomentum ? slotTensors(replica.layout.slots, replica.sgd.velocity) : [];
    this.o.send({ type: 'stateSnapshot', requestId: m.requestId, epoch: m.epoch, step: m.step, globalStep: m.globalStep, tensors, momentum });
  }

  /** The run finished: writes the final dumps and returns the weights' digest. */
  async finish(): Promise<string> {
    await this.dump('weights', this.o.replica.weights);
    await this.dump('buffers', this.o.replica.readBuffers());
    return floatsDigest(this.o.replica.weights);
  }

  /** `--dump-dir`: `rank<r>-<name>.f32`, raw little-endian float32. */
  private async dump(name: string, values: Float32Array): Promise<void> {
    const dir = this.o.trace.dumpDir;
    if (dir === '') return;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `rank${this.o.rank}-${name}.f32`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
}
