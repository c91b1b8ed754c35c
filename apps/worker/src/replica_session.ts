// What one worker does with its replica between the coordinator's messages: the weights check of
// each generation, training steps (with the non-finite-gradient skip), evaluation after averaging
// BatchNorm statistics, checkpoint snapshots and the debugging traces. The replica outlives the
// generations of an elastic group: `setGroup` swaps in each generation's rank, world size and
// all-reduce. The I/O around it (connections, the message loop) is distributed_worker.ts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CheckpointRequest, EvalRequest, HyperParams, Message, RoundStart } from '@gnet/protocol';
import {
  BadFrameError,
  CollectiveError,
  PeerLostError,
  CollectiveTimeoutError,
  RoundAbortedError,
  type GradientReducer,
} from '@gnet/collective';
import { dropoutSeed, emptyEvalSums, evaluateImages, memoryStats, StepRunner, type Replica, type StepResult } from '@gnet/training';
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
  /** Sums a float32 vector across ranks exactly, in all-reduce round `round`. */
  allReduceVector(values: Float32Array, round: number): Promise<void>;
}

/** How a round ended for this worker. */
export type RoundOutcome = 'done' | 'failed' | 'aborted';

/** Options of {@link ReplicaSession}. */
export interface ReplicaSessionOptions {
  replica: Replica;
  data: RankData;
  hyper: HyperParams;
  /** Sends a message to the coordinator. */
  send(message: Message): void;
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
  /** Rounds the coordinator aborted: a `roundStart` for one of them is dropped unrun. */
  private readonly abortedRounds = new Set<number>();
  private readonly batch: ImageBatch;
  private readonly runner: StepRunner;
  /** The round whose gradient the step runner is reducing (null between rounds). */
  private reducingRound: number | null = null;
  /** When that all-reduce started (for the failed-all-reduce span). */
  private reduceStartedMs: number | null = null;
  private readonly indices: Int32Array;
  private bnAverages = 0;
  /** Set when this worker leaves (SIGINT/SIGTERM): no more steps or evaluations, only snapshots. */
  private leaving = false;
  /** `nextGlobalStep` of the last `stateSnapshot` sent (null: none): whether the coordinator has our latest state. */
  lastSnapshotNextStep: number | null = null;

  constructor(private o: ReplicaSessionOptions) {
    const b = o.data.maxBatch;
    this.batch = { images: new Float32Array(b * 3072), labels: new Int32Array(b), count: 0 };
    this.indices = new Int32Array(b);
    const { hyper } = o;
    this.runner = new StepRunner({
      replica: o.replica,
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

  /** A new connection to the coordinator (after a rejoin): messages and logs go there from now on. */
  rebind(io: Pick<ReplicaSessionOptions, 'send' | 'log'>): void {
    this.o = { ...this.o, ...io };
  }

  /** This worker is leaving: steps and evaluations from now on are dropped unrun (snapshots are still answered). */
  leave(): void {
    this.leaving = true;
  }

  /** True when the coordinator aborted `round`. */
  isAborted(round: number): boolean {
    return this.abortedRounds.has(round);
  }

  /** The coordinator aborted `round` (`roundAbort`); its all-reduce, if running, is failed by the caller. */
  markAborted(round: number): void {
    this.abortedRounds.add(round);
    // Only recent rounds can still arrive; keep the set small over a long run.
    if (this.abortedRounds.size > 64) this.abortedRounds.delete(Math.min(...this.abortedRounds));
  }

  private get g(): GenerationGroup {
    if (this.group === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a round arrived before the first welcome');
    return this.group;
  }

  /**
   * A generation's first round (`round`): all-reduces the SHA-256 of the weights and throws
   * `WORKER_WEIGHTS_DIFFER` unless every rank has ours. Returns the digest.
   */
  async checkInitialWeights(round: number): Promise<string> {
    const digest = floatsDigest(this.o.replica.weights);
    const mine = digestVector(digest);
    const summed = Float32Array.from(mine);
    const started = performance.now();
    await this.g.allReduceVector(summed, round);
    this.o.timeline?.span('weights check', 'collective', started, performance.now(), { round, generation: this.g.generation });
    if (!digestsAgree(summed, mine, this.g.worldSize)) {
      throw new WorkerRunError(
        'WORKER_WEIGHTS_DIFFER',
        `Initial weights differ across ranks: ours have SHA-256 ${digest}, and not every rank's matches it; check every worker runs the same code and backend`,
      );
    }
    return digest;
  }

  /**
   * Step 4: this rank's slice of the global batch → forward/backward in micro-batches (loss
   * scaled by 1 / global batch) → all-reduce (the sum is the global mean gradient) → SGD with the
   * round's lr, unless the reduced gradient holds a NaN or infinity (then every rank skips alike)
   * → metrics. A failed all-reduce is reported (`roundFailed`) and the state left as it was.
   */
  async trainStep(m: RoundStart): Promise<RoundOutcome> {
    const { replica, data, log } = this.o;
    if (this.abortedRounds.has(m.round) || this.leaving) return 'aborted';
    const { rank, worldSize, generation } = this.g;
    const t0 = performance.now();
    data.fillBatch(m.epoch, m.step, rank, worldSize, this.batch, this.indices);
    const at = { round: m.round, epoch: m.epoch, step: m.step, globalStep: m.globalStep, generation };
    // Logged before the gradient leaves this process: if we die after sending it, the survivors may
    // still apply the step, and the trace must show these samples were trained.
    if (this.o.trace.samples)
      log.info({ ...at, worldSize, samples: Array.from(this.indices.subarray(0, this.batch.count)) }, 'batch samples');
    let result: StepResult | null;
    this.reducingRound = m.round;
    try {
      result = await this.runner.run(this.batch, {
        lr: m.lr,
        seed: dropoutSeed(this.o.hyper.seed, m.epoch, m.step, rank),
        // The fault injection stands for a faulty worker: its loss and its gradient both turn NaN.
        poison: m.globalStep === this.o.nanAtGlobalStep,
        // A roundAbort read between micro-batches: the coordinator has given up on this round (or we leave).
        abandon: () => this.abortedRounds.has(m.round) || this.leaving,
      });
    } catch (err) {
      // Only the all-reduce fails a round; an error in the forward/backward pass is ours to throw.
      if (this.reduceStartedMs === null) throw err;
      this.o.timeline?.span('all-reduce (failed)', 'collective', this.reduceStartedMs, performance.now(), { round: m.round });
      return this.reportRoundFailed(m.round, err);
    } finally {
      this.reducingRound = null;
      this.reduceStartedMs = null;
    }
    if (result === null) return 'aborted';
    const { stats, loss, skipped } = result;
    const { startMs: t1, accumulatedMs: t2, reducedMs: t3, appliedMs: t4 } = result.times;
    if (skipped) {
      log.warn(
        { round: m.round, epoch: m.epoch, step: m.step, globalStep: m.globalStep, loss, skippedSteps: this.skippedSteps },
        'non-finite gradient: update skipped on every rank',
      );
    }
    this.steps += 1;
    this.nextGlobalStep = m.globalStep + 1;
    this.o.timeline?.trainStep({ ...at, loss, skipped }, [t0, t1, t2, t3, t4]);
    const memory = memoryStats();
    this.o.send({
      type: 'metrics',
      round: m.round,
      epoch: m.epoch,
      step: m.step,
      loss,
      correct: stats.correct,
      count: stats.count,
      timings: { dataMs: t1 - t0, computeMs: t2 - t1, reduceMs: t3 - t2, applyMs: t4 - t3, stepMs: t4 - t0 },
      skipped,
      memory,
    });
    log.debug(
      {
        ...at,
        loss,
        objective: stats.objectiveSum / stats.count,
        computeMs: Math.round(t2 - t1),
        reduceMs: Math.round(t3 - t2),
        ...memory,
      },
      'step done',
    );
    if (this.o.trace.weights) log.info({ ...at, weightsSha256: floatsDigest(replica.weights) }, 'weights digest');
    return 'done';
  }

  /** Steps whose update was skipped because the reduced gradient was not finite. */
  get skippedSteps(): number {
    return this.runner.skippedSteps;
  }

  /** The step runner's reduce hook: the group's all-reduce, in the round being trained. */
  private async allReduceGradient(grads: Float32Array): Promise<void> {
    if (this.reducingRound === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a gradient all-reduce was asked outside a round');
    this.reduceStartedMs = performance.now();
    await this.g.reducer.allReduce(grads, { round: this.reducingRound });
  }

  /**
   * Reports that `what` (the round's all-reduce, opening the ring, the weights check) failed in
   * `round` to the coordinator, unless it aborted the round itself; rethrows anything that is not
   * a collective failure.
   */
  reportRoundFailed(round: number, err: unknown, what = 'all-reduce'): RoundOutcome {
    if (err instanceof RoundAbortedError || this.abortedRounds.has(round) || this.leaving) return 'aborted';
    if (!(err instanceof CollectiveError)) throw err;
    // A malformed frame (`COLLECTIVE_BAD_FRAME`) names its sender: the coordinator evicts that rank, not us.
    const peerRank =
      err instanceof PeerLostError || err instanceof CollectiveTimeoutError || err instanceof BadFrameError ? err.peerRank : null;
    this.o.log.warn(
      { round, what, code: err.code, peerRank, reason: err.message },
      'round failed; waiting for the coordinator to re-form the group',
    );
    this.o.send({ type: 'roundFailed', round, code: err.code, message: err.message.slice(0, 4096), peerRank });
    return 'failed';
  }

  /** Step 5: average BatchNorm statistics if the weights moved, then evaluate the shard and send the sums. */
  async evaluate(m: EvalRequest): Promise<RoundOutcome> {
    const { replica, data, log } = this.o;
    if (this.leaving) return 'aborted';
    const { worldSize } = this.g;
    const e0 = performance.now();
    if (m.averageRound !== null && replica.bufferLayout.size > 0) {
      const round = m.averageRound;
      const buffers = replica.readBuffers();
      await this.dump(`bn${this.bnAverages}-before`, buffers);
      try {
        await this.g.allReduceVector(buffers, round);
      } catch (err) {
        return this.reportRoundFailed(round, err, 'BatchNorm average');
      }
      for (let i = 0; i < buffers.length; i += 1) buffers[i] = buffers[i]! / worldSize;
      replica.writeBuffers(buffers);
      await this.dump(`bn${this.bnAverages}-after`, buffers);
      log.debug({ round, buffersSha256: floatsDigest(buffers) }, 'BatchNorm statistics averaged');
      this.bnAverages += 1;
    }
    const e1 = performance.now();
    const shard = data.evalImages(m.split, m.start, m.end);
    const sums = evaluateImages(replica.model, shard.images, shard.labels, shard.count, m.batchSize, emptyEvalSums(10));
    if (this.o.timeline) {
      const e2 = performance.now();
      this.o.timeline.span('evaluation', 'eval', e0, e2, { evalId: m.evalId, split: m.split, epoch: m.epoch, images: sums.count });
      if (m.averageRound !== null && replica.bufferLayout.size > 0)
        this.o.timeline.span('BatchNorm average', 'collective', e0, e1, { round: m.averageRound });
      this.o.timeline.span('evaluate shard', 'eval', e1, e2, { start: m.start, end: m.end });
    }
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
      confusion: sums.count > 0 ? sums.confusion.flat() : [],
    });
    log.debug(
      { split: m.split, epoch: m.epoch, start: m.start, end: m.end, accuracy: sums.count > 0 ? sums.correct / sums.count : null },
      'evaluation done',
    );
    return 'done';
  }

  /** Step 6: the full state for the coordinator's checkpoint (variables, then BatchNorm statistics; momentum if asked). */
  snapshot(m: CheckpointRequest): void {
    const { replica } = this.o;
    const tensors = [
      ...slotTensors(replica.layout.slots, replica.weights),
      ...slotTensors(replica.bufferLayout.slots, replica.readBuffers()),
    ];
    const momentum = m.includeMomentum ? slotTensors(replica.layout.slots, replica.sgd.velocity) : [];
    this.o.send({
      type: 'stateSnapshot',
      requestId: m.requestId,
      epoch: m.epoch,
      step: m.step,
      globalStep: m.globalStep,
      nextGlobalStep: this.nextGlobalStep,
      tensors,
      momentum,
    });
    this.lastSnapshotNextStep = this.nextGlobalStep;
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
    await writeFile(
      join(dir, `rank${this.group?.rank ?? 0}-${name}.f32`),
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }
}
