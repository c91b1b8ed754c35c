// What one worker does with its replica between the coordinator's messages: the weights check of
// each generation, training steps (with the non-finite-gradient skip), evaluation after averaging
// BatchNorm statistics, checkpoint snapshots and the debugging traces. The replica outlives the
// generations of an elastic group: `setGroup` swaps in each generation's rank, world size and
// all-reduce. It sends nothing: each call returns the reply (`metrics`, `evalResult`,
// `stateSnapshot`, `roundFailed`) for the executor (distributed_worker.ts) to send, and each
// round's waits honour the one AbortSignal of that round (round_signal.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CheckpointRequest, EvalRequest, EvalResult, Metrics, RoundFailed, RoundStart, StateSnapshot } from '@gnet/protocol';
import {
  BadFrameError,
  CollectiveError,
  PeerLostError,
  CollectiveTimeoutError,
  RoundAbortedError,
  type GradientReducer,
} from '@gnet/collective';
import { dropoutSeed, emptyEvalSums, evaluateImages, memoryStats, StepRunner, type Replica, type StepResult } from '@gnet/training';
import type { HyperParams } from '@gnet/recipe';
import type { ImageBatch, RankData } from './rank_data.js';
import type { Timeline } from './timeline.js';
import { digestsAgree, digestVector, floatsDigest, slotTensors } from './wire_state.js';
import { WorkerRunError } from './worker_run_error.js';

/** One generation of the group, as this worker sees it. */
export interface GenerationGroup {
  generation: number;
  rank: number;
  worldSize: number;
  /** Sums the flat gradient across ranks (bucketed; the welcome's wire dtype). */
  reducer: GradientReducer;
  /** Sums a float32 vector across ranks exactly, in all-reduce round `round`; rejects with `RoundAbortedError` once `signal` aborts. */
  allReduceVector(values: Float32Array, round: number, signal: AbortSignal): Promise<void>;
}

/** How a round ended for this worker, and the reply to send: `reply` on success, `roundFailed`, or nothing when aborted. */
export type RoundResult<Reply> =
  { outcome: 'done'; reply: Reply } | { outcome: 'failed'; reply: RoundFailed } | { outcome: 'aborted'; reply: null };

/** What the session reads of the run's data: this rank's training batches and evaluation shards (RankData). */
export type SessionData = Pick<RankData, 'maxBatch' | 'fillBatch' | 'evalImages'>;

/** Options of {@link ReplicaSession}. */
export interface ReplicaSessionOptions {
  replica: Replica;
  data: SessionData;
  hyper: Pick<HyperParams, 'seed' | 'microBatch' | 'labelSmoothing' | 'auxWeight' | 'globalBatch'>;
  log: Logger;
  /** `--trace-weights`, `--trace-samples`, `--dump-dir` (empty: none). */
  trace: { weights: boolean; samples: boolean; dumpDir: string };
  /** Fault injection for tests (`--fault-nan-at-step`): poison this worker's gradient at this global step; -1 never. */
  nanAtGlobalStep: number;
  /** `--timeline`: each step's phases, evaluations and weights checks as trace events; null or absent: none. */
  timeline?: Timeline | null;
}

/** One rank's replica during a run. */
export class ReplicaSession {
  /** Optimizer steps this worker computed and applied or skipped (all generations). */
  steps = 0;
  /** The global step this replica's state trains next (sent in `stateSnapshot`). */
  nextGlobalStep = 0;
  private group: GenerationGroup | null = null;
  private readonly batch: ImageBatch;
  private readonly runner: StepRunner;
  /** The round whose gradient the step runner is reducing, and its abort signal (null between rounds). */
  private reducing: { round: number; signal: AbortSignal } | null = null;
  /** When that all-reduce started (for the failed-all-reduce span). */
  private reduceStartedMs: number | null = null;
  private readonly indices: Int32Array;
  private bnAverages = 0;
  /** `nextGlobalStep` of the last `stateSnapshot` returned (null: none): whether the coordinator has our latest state. */
  lastSnapshotNextStep: number | null = null;

  constructor(private options: ReplicaSessionOptions) {
    const maxBatch = options.data.maxBatch;
    this.batch = { images: new Float32Array(maxBatch * 3072), labels: new Int32Array(maxBatch), count: 0 };
    this.indices = new Int32Array(maxBatch);
    const { hyper } = options;
    this.runner = new StepRunner({
      replica: options.replica,
      microBatch: hyper.microBatch,
      labelSmoothing: hyper.labelSmoothing,
      auxWeight: hyper.auxWeight,
      globalBatch: hyper.globalBatch,
      reduce: (grads) => this.allReduceGradient(grads),
      // Heartbeats and roundAborts must flow through a long step.
      yieldBetweenMicroBatches: true,
      // The coordinator counts skips in a row (--max-skipped-steps) and stops the run with a checkpoint.
      maxSkippedSteps: Infinity,
    });
  }

  /** Starts a generation: its rank, world size and all-reduce; the replica's state is set by the caller. */
  setGroup(group: GenerationGroup, nextGlobalStep: number): void {
    this.group = group;
    this.nextGlobalStep = nextGlobalStep;
  }

  /** A new connection to the coordinator (after a rejoin): logs carry its rank from now on. */
  rebind(log: Logger): void {
    this.options = { ...this.options, log };
  }

  private get currentGroup(): GenerationGroup {
    if (this.group === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a round arrived before the first welcome');
    return this.group;
  }

  /**
   * A generation's first round (`round`): all-reduces the SHA-256 of the weights and throws
   * `WORKER_WEIGHTS_DIFFER` unless every rank has ours. Returns the digest; rejects with what the
   * all-reduce rejects with (see {@link roundFailed}).
   */
  async checkInitialWeights(round: number, signal: AbortSignal): Promise<string> {
    const group = this.currentGroup;
    const digest = floatsDigest(this.options.replica.weights);
    const mine = digestVector(digest);
    const summed = Float32Array.from(mine);
    const started = performance.now();
    await group.allReduceVector(summed, round, signal);
    this.options.timeline?.span('weights check', 'collective', started, performance.now(), { round, generation: group.generation });
    if (!digestsAgree(summed, mine, group.worldSize)) {
      throw new WorkerRunError(
        'WORKER_WEIGHTS_DIFFER',
        `Initial weights differ across ranks in generation ${group.generation}: rank ${group.rank} has SHA-256 ${digest}, and ${othersOf(group.rank, group.worldSize)} holds other weights; check every worker runs the same code and backend`,
      );
    }
    return digest;
  }

  /**
   * Step 4: this rank's slice of the global batch → forward/backward in micro-batches (loss
   * scaled by 1 / global batch) → all-reduce (the sum is the global mean gradient) → SGD with the
   * round's lr, unless the reduced gradient holds a NaN or infinity (then every rank skips alike)
   * → `metrics`. A failed all-reduce returns `roundFailed` and leaves the state as it was; once
   * `signal` aborts (between micro-batches or during the all-reduce) the step is dropped.
   */
  async trainStep(roundStart: RoundStart, signal: AbortSignal): Promise<RoundResult<Metrics>> {
    const { replica, data, log } = this.options;
    if (signal.aborted) return { outcome: 'aborted', reply: null };
    const { rank, worldSize, generation } = this.currentGroup;
    const { round, epoch, step, globalStep } = roundStart;
    const dataStartMs = performance.now();
    data.fillBatch(epoch, step, rank, worldSize, this.batch, this.indices);
    const at = { round, epoch, step, globalStep, generation };
    // Logged before the gradient leaves this process: if we die after sending it, the survivors may
    // still apply the step, and the trace must show these samples were trained.
    if (this.options.trace.samples)
      log.info({ ...at, worldSize, samples: Array.from(this.indices.subarray(0, this.batch.count)) }, 'batch samples');
    let result: StepResult | null;
    this.reducing = { round, signal };
    try {
      result = await this.runner.run(this.batch, {
        lr: roundStart.lr,
        seed: dropoutSeed(this.options.hyper.seed, epoch, step, rank),
        // The fault injection stands for a faulty worker: its loss and its gradient both turn NaN.
        poison: globalStep === this.options.nanAtGlobalStep,
        // Read between micro-batches: the coordinator has given up on this round, or we stop.
        abandon: () => signal.aborted,
      });
    } catch (err) {
      // Only the all-reduce fails a round; an error in the forward/backward pass is ours to throw.
      if (this.reduceStartedMs === null) throw err;
      this.options.timeline?.span('all-reduce (failed)', 'collective', this.reduceStartedMs, performance.now(), { round });
      return this.roundResult(round, err, signal);
    } finally {
      this.reducing = null;
      this.reduceStartedMs = null;
    }
    if (result === null) return { outcome: 'aborted', reply: null };
    const { stats, loss, skipped } = result;
    const { startMs: computeStartMs, accumulatedMs, reducedMs, appliedMs } = result.times;
    if (skipped) {
      log.warn(
        { round, epoch, step, globalStep, loss, skippedSteps: this.skippedSteps },
        'non-finite gradient: update skipped on every rank',
      );
    }
    this.steps += 1;
    this.nextGlobalStep = globalStep + 1;
    this.options.timeline?.trainStep({ ...at, loss, skipped }, [dataStartMs, computeStartMs, accumulatedMs, reducedMs, appliedMs]);
    const memory = memoryStats();
    const metrics: Metrics = {
      type: 'metrics',
      round,
      epoch,
      step,
      loss,
      correct: stats.correct,
      count: stats.count,
      timings: {
        dataMs: computeStartMs - dataStartMs,
        computeMs: accumulatedMs - computeStartMs,
        reduceMs: reducedMs - accumulatedMs,
        applyMs: appliedMs - reducedMs,
        stepMs: appliedMs - dataStartMs,
      },
      skipped,
      memory,
    };
    log.debug(
      {
        ...at,
        loss,
        objective: stats.objectiveSum / stats.count,
        computeMs: Math.round(accumulatedMs - computeStartMs),
        reduceMs: Math.round(reducedMs - accumulatedMs),
        ...memory,
      },
      'step done',
    );
    if (this.options.trace.weights) log.info({ ...at, weightsSha256: floatsDigest(replica.weights) }, 'weights digest');
    return { outcome: 'done', reply: metrics };
  }

  /** Steps whose update was skipped because the reduced gradient was not finite. */
  get skippedSteps(): number {
    return this.runner.skippedSteps;
  }

  /** The step runner's reduce hook: the group's all-reduce, in the round being trained, aborted with that round's signal. */
  private async allReduceGradient(grads: Float32Array): Promise<void> {
    if (this.reducing === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a gradient all-reduce was asked outside a round');
    const { round, signal } = this.reducing;
    const { reducer } = this.currentGroup;
    this.reduceStartedMs = performance.now();
    const abort = (): void => reducer.abort(String(signal.reason));
    // allReduce starts the round synchronously, so an abort from here on reaches its waits.
    const reduced = reducer.allReduce(grads, { round });
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    try {
      await reduced;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /**
   * The `roundFailed` that tells the coordinator `what` (the round's all-reduce, opening the ring,
   * the weights check, a BatchNorm average) failed in `round`; null when the round was aborted
   * (`signal`, or the collective's `RoundAbortedError`): nothing to report. Rethrows anything that
   * is not a collective failure.
   */
  roundFailed(round: number, err: unknown, signal: AbortSignal, what = 'all-reduce'): RoundFailed | null {
    if (err instanceof RoundAbortedError || signal.aborted) return null;
    if (!(err instanceof CollectiveError)) throw err;
    // A malformed frame (`COLLECTIVE_BAD_FRAME`) names its sender: the coordinator evicts that rank, not us.
    const peerRank =
      err instanceof PeerLostError || err instanceof CollectiveTimeoutError || err instanceof BadFrameError ? err.peerRank : null;
    this.options.log.warn(
      { round, what, code: err.code, peerRank, reason: err.message },
      'round failed; waiting for the coordinator to re-form the group',
    );
    return { type: 'roundFailed', round, code: err.code, message: err.message.slice(0, 4096), peerRank };
  }

  private roundResult(round: number, err: unknown, signal: AbortSignal, what?: string): RoundResult<never> {
    const failed = this.roundFailed(round, err, signal, what);
    return failed === null ? { outcome: 'aborted', reply: null } : { outcome: 'failed', reply: failed };
  }

  /**
   * Step 5: average BatchNorm statistics if the weights moved (round `averageRound`, aborted with
   * `signal`), then evaluate the shard and return the sums as `evalResult`.
   */
  async evaluate(evalRequest: EvalRequest, signal: AbortSignal): Promise<RoundResult<EvalResult>> {
    const { replica, data, log, timeline } = this.options;
    if (signal.aborted) return { outcome: 'aborted', reply: null };
    const { worldSize } = this.currentGroup;
    const { averageRound, split, epoch, start, end } = evalRequest;
    const averaging = averageRound !== null && replica.bufferLayout.size > 0;
    const averageStartMs = performance.now();
    if (averaging) {
      const buffers = replica.readBuffers();
      await this.dump(`bn${this.bnAverages}-before`, buffers);
      try {
        await this.currentGroup.allReduceVector(buffers, averageRound, signal);
      } catch (err) {
        return this.roundResult(averageRound, err, signal, 'BatchNorm average');
      }
      for (let i = 0; i < buffers.length; i += 1) buffers[i] = buffers[i]! / worldSize;
      replica.writeBuffers(buffers);
      await this.dump(`bn${this.bnAverages}-after`, buffers);
      log.debug({ round: averageRound, buffersSha256: floatsDigest(buffers) }, 'BatchNorm statistics averaged');
      this.bnAverages += 1;
    }
    const evaluateStartMs = performance.now();
    const shard = data.evalImages(split, start, end);
    const sums = evaluateImages(replica.model, shard.images, shard.labels, shard.count, evalRequest.batchSize, emptyEvalSums(10));
    if (timeline) {
      const endMs = performance.now();
      timeline.span('evaluation', 'eval', averageStartMs, endMs, { evalId: evalRequest.evalId, split, epoch, images: sums.count });
      if (averaging) timeline.span('BatchNorm average', 'collective', averageStartMs, evaluateStartMs, { round: averageRound });
      timeline.span('evaluate shard', 'eval', evaluateStartMs, endMs, { start, end });
    }
    log.debug({ split, epoch, start, end, accuracy: sums.count > 0 ? sums.correct / sums.count : null }, 'evaluation done');
    return {
      outcome: 'done',
      reply: {
        type: 'evalResult',
        evalId: evalRequest.evalId,
        epoch,
        split,
        start,
        end,
        lossSum: sums.lossSum,
        correct: sums.correct,
        count: sums.count,
        perClassCorrect: sums.perClassCorrect,
        perClassCount: sums.perClassCount,
        confusion: sums.count > 0 ? sums.confusion.flat() : [],
      },
    };
  }

  /** Step 6: the full state for the coordinator's checkpoint (variables, then BatchNorm statistics; momentum if asked). */
  snapshot(checkpointRequest: CheckpointRequest): StateSnapshot {
    const { replica } = this.options;
    const tensors = [
      ...slotTensors(replica.layout.slots, replica.weights),
      ...slotTensors(replica.bufferLayout.slots, replica.readBuffers()),
    ];
    const momentum = checkpointRequest.includeMomentum ? slotTensors(replica.layout.slots, replica.sgd.velocity) : [];
    this.lastSnapshotNextStep = this.nextGlobalStep;
    return {
      type: 'stateSnapshot',
      requestId: checkpointRequest.requestId,
      epoch: checkpointRequest.epoch,
      step: checkpointRequest.step,
      globalStep: checkpointRequest.globalStep,
      nextGlobalStep: this.nextGlobalStep,
      tensors,
      momentum,
    };
  }

  /** The run finished: writes the final dumps and returns the weights' digest. */
  async finish(): Promise<string> {
    await this.dump('weights', this.options.replica.weights);
    await this.dump('buffers', this.options.replica.readBuffers());
    return floatsDigest(this.options.replica.weights);
  }

  /** `--dump-dir`: `rank<r>-<name>.f32`, raw little-endian float32. */
  private async dump(name: string, values: Float32Array): Promise<void> {
    const dir = this.options.trace.dumpDir;
    if (dir === '') return;
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, `rank${this.group?.rank ?? 0}-${name}.f32`),
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }
}

/**
 * The ranks of a group other than `rank`, for the weights check's error: the summed digests only
 * say that some rank differs, so with two ranks it is the other one, with more any of them.
 */
function othersOf(rank: number, worldSize: number): string {
  const others = Array.from({ length: worldSize }, (_, r) => r).filter((r) => r !== rank);
  return others.length === 1 ? `rank ${others[0]}` : `at least one of ranks ${others.join(', ')}`;
}
