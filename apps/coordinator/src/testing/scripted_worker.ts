// A scripted worker: a TEST DOUBLE of apps/worker's distributed worker for the coordinator's
// executor tests. It speaks the real wire protocol over a real WebSocket (challenge, hello with a
// real HMAC proof, welcome, initialWeights, ready, metrics, evalResult, stateSnapshot, heartbeats;
// the worker side of the round protocol is at the top of apps/worker/src/distributed_worker.ts)
// but computes nothing, because a real worker trains GoogLeNet with TF.js (tens of seconds per
// run). It suits `--algorithm ring` only: there the all-reduce and the weights check run between
// the workers, so the coordinator never sees a gradient and a double that just answers is
// indistinguishable from a real worker on the coordinator's side.
//
// What it answers, scripted: `metrics` with its exact share of the global batch (`rankSlice`), a
// loss of `stepLoss(globalStep)` and half its samples correct, `skipped` (and a NaN loss) where the
// script says the reduced gradient was not finite; `evalResult` sums over its shard, with real
// CIFAR-10 labels and a scripted model (`rightOnEvenClasses`); `stateSnapshot` of the state it
// holds (the tensors of `initialWeights`, or zeros of the plan's sizes on a fresh run), whose first
// element counts the updates it applied, so a test can follow a state through survivors and
// checkpoints. Failures it can play: a crash, silence, a stuck step, a deliberate leave, a report
// of a malformed ring frame (see `WorkerScript`).
import { ringNeighbours } from '@gnet/collective';
import { readCifar10, rankSlice, stratifiedSplit } from '@gnet/data';
import {
  encodeMessage,
  tensorFromFloat32,
  tensorToFloat32,
  type EvalRequest,
  type EvalSplit,
  type InitialWeights,
  type Message,
  type RoundStart,
  type Welcome,
  type WireTensor,
} from '@gnet/protocol';
import { VAL_PER_CLASS } from '@gnet/recipe';
import { BAD_FRAME_CODE } from '../blame.js';
import { modelSize } from '../model_size.js';
import { fakeWorker, hello, type FakeWorker, type HelloDraft } from './sockets.js';

/** Cross-entropy it reports per evaluated image (`evalResult.lossSum` = this × count). */
const EVAL_LOSS_PER_IMAGE = 1.5;

/** Classes of CIFAR-10: the length of every per-class array of `evalResult`. */
const CLASSES = 10;

/** True labels of the evaluation splits, in the order `evalRequest` indexes them. */
export interface EvalLabels {
  /** The validation split: the held-out `VAL_PER_CLASS` images per class of the training files. */
  val: ArrayLike<number>;
  test: ArrayLike<number>;
}

/** Reads the labels a real worker would evaluate against (rank_data.ts's split) from `dataDir`. */
export async function readEvalLabels(dataDir: string, seed: number): Promise<EvalLabels> {
  const train = await readCifar10(dataDir, 'train');
  const test = await readCifar10(dataDir, 'test');
  const split = stratifiedSplit(train.labels, VAL_PER_CLASS, seed);
  return { val: Array.from(split.val, (index) => train.labels[index]!), test: test.labels };
}

/** The scripted model: the class it predicts for image `index` of `split`, whose true class is `label`. */
export type Predict = (split: EvalSplit, index: number, label: number) => number;

/**
 * Right on the images of even classes, else the next class: the accuracy of a shard depends on its
 * real labels, so sums over shards can be checked against the labels themselves.
 */
export const rightOnEvenClasses: Predict = (_split, _index, label) => (label % 2 === 0 ? label : (label + 1) % CLASSES);

/** What a scripted worker does besides answering; every step is a global step. */
export interface WorkerScript {
  /** Steps whose all-reduced gradient is not finite: `metrics.skipped` (every rank of the group must say so alike). */
  skippedSteps?: readonly number[];
  /** Steps where this rank's own loss is NaN (with `skipped`): the rank that poisoned the gradient. */
  nanLossSteps?: readonly number[];
  /** On its first `initialWeights`, drop the connection without a word: it dies while its group forms. */
  closeAtInitialWeights?: boolean;
  /** At this step's `roundStart`, drop the connection without a word (a crashed process: 1006 on the coordinator's side). */
  closeAtStep?: number;
  /** At this step's `roundStart`, stop heartbeats and answers but keep the socket open (a frozen process). */
  silentAtStep?: number;
  /**
   * At this step's `roundStart`, send `leave` (shutdown) instead of training, as a worker stopped by
   * SIGTERM does, but keep heartbeating and answering `checkpointRequest` (it still holds the state).
   */
  leaveAtStep?: number;
  /**
   * At this step's `roundStart`, never answer the round but keep heartbeating and answering
   * everything else (a process stuck in its step, e.g. a hung all-reduce: alive, but no metrics).
   */
  stuckAtStep?: number;
  /**
   * At this step's `roundStart`, report `roundFailed` with `COLLECTIVE_BAD_FRAME` naming this rank's
   * ring `prev` (the only rank it receives from), as a worker does whose neighbour sent a chunk
   * that does not decode; the state stays as it was (nothing applied). Once: the step's retry in
   * the next generation trains.
   */
  badFrameFromPrevAtStep?: number;
  /** At this step's `roundStart`, await `until()` before answering (a slow step, so a test can line up a join). */
  holdAtStep?: { globalStep: number; until: () => Promise<void> };
}

/** One tensor of the state the double holds (copied out of the frame it came in). */
interface HeldTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Options of {@link ScriptedWorker.connect}. */
export interface ScriptedWorkerOptions {
  /** The coordinator's `ws://` URL. */
  url: string;
  workerId: string;
  labels: EvalLabels;
  script?: WorkerScript;
  /** Hello fields to override (e.g. the secret it proves). */
  hello?: Partial<HelloDraft>;
}

/** A connected scripted worker; see the file header. */
export class ScriptedWorker {
  /** Every message received after the challenge, in order. */
  get received(): readonly Message[] {
    return this.fake.received;
  }

  /** Resolves with the close code and reason once the connection ends (either side). */
  get closed(): Promise<{ code: number; reason: string }> {
    return this.fake.closed;
  }

  /** performance.now() when the script made it crash or go silent; null while it answers. */
  mutedAtMs: number | null = null;
  /** What a failed `holdAtStep.until` threw (the double then crashed); null otherwise. */
  scriptError: unknown = null;
  private fake!: FakeWorker;
  private welcome: Welcome | null = null;
  private state: HeldTensor[] = [];
  private momentum: HeldTensor[] = [];
  /** The global step the held state trains next (applied and skipped steps both count). */
  private nextGlobalStep = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Pending `waitFor`s, checked on every message. */
  private readonly watchers = new Set<() => void>();
  /** Crashed or frozen: nothing more is sent. */
  private mute = false;
  /** `badFrameFromPrevAtStep` has fired. */
  private reportedBadFrame = false;

  private constructor(
    private readonly workerId: string,
    private readonly labels: EvalLabels,
    private readonly script: WorkerScript,
  ) {}

  /** Dials the coordinator, proves the secret in `hello` and answers from then on. */
  static async connect(options: ScriptedWorkerOptions): Promise<ScriptedWorker> {
    const worker = new ScriptedWorker(options.workerId, options.labels, options.script ?? {});
    // Replies go out from onMessage; the coordinator cannot answer the hello before `fake` is set
    // below (its reply is a later I/O event than this function's continuation).
    worker.fake = await fakeWorker(options.url, hello(options.workerId, options.hello), {
      onMessage: (message) => worker.onMessage(message),
    });
    void worker.fake.closed.then(() => worker.stopHeartbeat());
    return worker;
  }

  /** The messages of one type received so far. */
  messages<T extends Message['type']>(type: T): Extract<Message, { type: T }>[] {
    return this.fake.received.filter((m): m is Extract<Message, { type: T }> => m.type === type);
  }

  /** Waits (at most `timeoutMs`) for a message of `type` that satisfies `match`, received before or after the call. */
  waitFor<T extends Message['type']>(
    type: T,
    timeoutMs: number,
    match: (message: Extract<Message, { type: T }>) => boolean = () => true,
  ): Promise<Extract<Message, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages(type).find(match);
        if (found === undefined) return;
        this.watchers.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`worker '${this.workerId}' received no matching '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  /** Ends the connection (a test's clean-up; harmless when already closed). */
  close(): void {
    this.stopHeartbeat();
    this.fake.socket.terminate();
  }

  private onMessage(message: Message): void {
    for (const check of [...this.watchers]) check();
    if (this.mute) return;
    switch (message.type) {
      case 'welcome':
        this.welcome = message;
        this.startHeartbeat(message.heartbeatMs);
        return;
      case 'initialWeights':
        if (this.script.closeAtInitialWeights === true) {
          this.crash();
          return;
        }
        this.load(message);
        // The weights check runs between the workers on the ring: the coordinator only waits for `ready`.
        this.send({ type: 'ready', generation: message.generation });
        return;
      case 'roundStart':
        // A failed hold (the test's own wait) crashes the double, as an exception would a worker.
        this.step(message).catch((err: unknown) => {
          this.scriptError = err;
          this.crash();
        });
        return;
      case 'evalRequest':
        this.send(this.evaluate(message));
        return;
      case 'checkpointRequest':
        this.send({
          type: 'stateSnapshot',
          requestId: message.requestId,
          epoch: message.epoch,
          step: message.step,
          globalStep: message.globalStep,
          nextGlobalStep: this.nextGlobalStep,
          tensors: this.state.map(toWire),
          momentum: message.includeMomentum ? this.momentum.map(toWire) : [],
        });
        return;
      case 'leave':
        // Finished, evicted or shut down: the coordinator closes the socket; stop heartbeating now.
        this.stopHeartbeat();
        return;
      default:
        // heartbeat, roundAbort: recorded in `received`, nothing to answer.
        return;
    }
  }

  /** The state of `initialWeights`, or on a fresh run zeros of the plan's sizes (every real worker builds the same model from the seed). */
  private load(message: InitialWeights): void {
    this.nextGlobalStep = message.globalStep;
    if (message.tensors.length > 0) {
      this.state = message.tensors.map(fromWire);
      this.momentum = message.momentum.map(fromWire);
      return;
    }
    const welcome = this.welcomed();
    const params = welcome.buckets.reduce((sum, bucket) => sum + bucket.length, 0);
    const { buffers } = modelSize(welcome.model);
    this.state = [{ name: 'params', shape: [params], values: new Float32Array(params) }];
    if (buffers > 0) this.state.push({ name: 'batchNormStatistics', shape: [buffers], values: new Float32Array(buffers) });
    this.momentum = [{ name: 'params', shape: [params], values: new Float32Array(params) }];
  }

  private async step(start: RoundStart): Promise<void> {
    const { script } = this;
    const { globalStep } = start;
    if (globalStep === script.closeAtStep) {
      this.crash();
      return;
    }
    if (globalStep === script.silentAtStep) {
      this.mute = true;
      this.mutedAtMs = performance.now();
      this.stopHeartbeat();
      return;
    }
    if (globalStep === script.leaveAtStep) {
      this.send({ type: 'leave', reason: 'shutdown', message: 'stopped by SIGTERM (scripted)' });
      return;
    }
    if (globalStep === script.stuckAtStep) return;
    if (globalStep === script.badFrameFromPrevAtStep && !this.reportedBadFrame) {
      this.reportedBadFrame = true;
      const { rank, worldSize } = this.welcomed();
      const { prev } = ringNeighbours(rank, worldSize);
      this.send({
        type: 'roundFailed',
        round: start.round,
        code: BAD_FRAME_CODE,
        message: `reduce-scatter step 0: chunk from rank ${prev} did not decode (scripted)`,
        peerRank: prev,
      });
      return;
    }
    const started = performance.now();
    if (globalStep === script.holdAtStep?.globalStep) await script.holdAtStep.until();
    if (this.mute) return;
    const { rank, worldSize, hyper } = this.welcomed();
    const { start: first, end } = rankSlice(rank, worldSize, hyper.globalBatch);
    const count = end - first;
    const nanLoss = script.nanLossSteps?.includes(globalStep) ?? false;
    const skipped = nanLoss || (script.skippedSteps?.includes(globalStep) ?? false);
    // "Training": the first element counts the updates applied, so a state's history is visible.
    if (!skipped) this.state[0]!.values[0]! += 1;
    this.nextGlobalStep = globalStep + 1;
    const stepMs = performance.now() - started;
    this.send({
      type: 'metrics',
      round: start.round,
      epoch: start.epoch,
      step: start.step,
      loss: nanLoss ? Number.NaN : stepLoss(globalStep),
      correct: Math.floor(count / 2),
      count,
      timings: { dataMs: 0, computeMs: 0, reduceMs: 0, applyMs: 0, stepMs },
      skipped,
      memory: { numTensors: 1, rssBytes: 1, heapUsedBytes: 1 },
    });
  }

  /** Sums over images `[start, end)` of the split: true labels from `labels`, predictions from the script. */
  private evaluate(request: EvalRequest): Message {
    const labels = this.labels[request.split];
    const perClassCorrect = new Array<number>(CLASSES).fill(0);
    const perClassCount = new Array<number>(CLASSES).fill(0);
    const confusion = new Array<number>(CLASSES * CLASSES).fill(0);
    let correct = 0;
    for (let index = request.start; index < request.end; index += 1) {
      const label = labels[index]!;
      const predicted = rightOnEvenClasses(request.split, index, label);
      perClassCount[label]! += 1;
      confusion[label * CLASSES + predicted]! += 1;
      if (predicted === label) {
        perClassCorrect[label]! += 1;
        correct += 1;
      }
    }
    const count = request.end - request.start;
    const empty = count === 0;
    return {
      type: 'evalResult',
      evalId: request.evalId,
      epoch: request.epoch,
      split: request.split,
      start: request.start,
      end: request.end,
      lossSum: EVAL_LOSS_PER_IMAGE * count,
      correct,
      count,
      perClassCorrect,
      perClassCount,
      // The protocol wants no matrix for an empty shard.
      confusion: empty ? [] : confusion,
    };
  }

  /** Drops the connection without a word, as a killed process does. */
  private crash(): void {
    this.mute = true;
    this.mutedAtMs ??= performance.now();
    this.stopHeartbeat();
    this.fake.socket.terminate();
  }

  private welcomed(): Welcome {
    if (this.welcome === null) throw new Error(`worker '${this.workerId}' got a round message before any welcome`);
    return this.welcome;
  }

  private send(message: Message): void {
    if (this.mute || this.fake.socket.readyState !== this.fake.socket.OPEN) return;
    this.fake.socket.send(encodeMessage(message));
  }

  private startHeartbeat(periodMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', sentAtMs: Date.now() }), periodMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** The mean training loss it reports for a step. */
function stepLoss(globalStep: number): number {
  return 2.3 - 0.01 * globalStep;
}

function fromWire(tensor: WireTensor): HeldTensor {
  // A copy: tensorToFloat32 may view the received frame.
  return { name: tensor.name, shape: [...tensor.shape], values: Float32Array.from(tensorToFloat32(tensor)) };
}

function toWire(tensor: HeldTensor): WireTensor {
  return tensorFromFloat32(tensor.name, tensor.shape, tensor.values);
}
