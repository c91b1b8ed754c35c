// The run as the dashboard's JSON snapshot (`GET /api/state`): the coordinator's live feed
// (run_events.ts) folded into the latest figures, the current group with each worker's latest step,
// the epochs and evaluations so far and a bounded membership timeline. The page draws its curves
// from the event stream itself; this is the "where are we now" view for scripts and tests.
import type { EpochRecord, TestRecord } from '@gnet/run-store';
import type { RunEvent, WorkerInfo } from '../run_events.js';

/** Timeline entries kept (oldest dropped first): a long elastic run must not grow the snapshot without bound. */
export const MAX_TIMELINE = 500;

/** A worker's latest step, in milliseconds; compute + reduce + wait is the round's wall time. */
export interface WorkerFigures {
  globalStep: number;
  loss: number;
  images: number;
  /** Images of its slice per second of its own step time (`count / stepMs`). */
  imagesPerSecond: number;
  /** Everything on the worker but the all-reduce: data, forward/backward, update (`stepMs - reduceMs`). */
  computeMs: number;
  /** The all-reduce (communication). */
  reduceMs: number;
  /** The round's wall time at the coordinator minus the worker's step time: waiting for the others. */
  waitMs: number;
  numTensors: number;
  rssBytes: number;
  heapUsedBytes: number;
}

/** A worker of the run, current or gone. */
export interface WorkerView extends WorkerInfo {
  /** In the current generation (false once lost or left out of a re-formed group). */
  active: boolean;
  last: WorkerFigures | null;
}

/** One line of the membership timeline. */
export interface TimelineEntry {
  atMs: number;
  kind: 'started' | 'joined' | 'lost' | 'generation' | 'checkpoint' | 'finished' | 'failed';
  text: string;
}

/** What `GET /api/state` answers. */
export interface RunState {
  status: 'waiting' | 'training' | 'finished' | 'failed';
  runId: string | null;
  /** The resolved configuration (without the secret). */
  config: Record<string, unknown> | null;
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: number;
  startedAtMs: number | null;
  updatedAtMs: number | null;
  /** Last completed global step (0-based), null before the first. */
  globalStep: number | null;
  epoch: number;
  lr: number | null;
  loss: number | null;
  accuracy: number | null;
  imagesPerSecond: number | null;
  /** Step events seen (a step recomputed after a re-form counts again). */
  stepsDone: number;
  skippedSteps: number;
  generation: number | null;
  worldSize: number;
  workers: WorkerView[];
  epochRecords: EpochRecord[];
  evaluations: Array<{ split: string; epoch: number; loss: number; accuracy: number; count: number }>;
  checkpoints: number;
  lastCheckpoint: { globalStep: number; path: string } | null;
  test: TestRecord | null;
  failure: { code: string; message: string } | null;
  timeline: TimelineEntry[];
}

/** Folds run events into a {@link RunState}. */
export class RunStateView {
  private readonly state: RunState = {
    status: 'waiting',
    runId: null,
    config: null,
    stepsPerEpoch: 0,
    totalSteps: 0,
    epochs: 0,
    startedAtMs: null,
    updatedAtMs: null,
    globalStep: null,
    epoch: 0,
    lr: null,
    loss: null,
    accuracy: null,
    imagesPerSecond: null,
    stepsDone: 0,
    skippedSteps: 0,
    generation: null,
    worldSize: 0,
    workers: [],
    epochRecords: [],
    evaluations: [],
    checkpoints: 0,
    lastCheckpoint: null,
    test: null,
    failure: null,
    timeline: [],
  };

  /** The snapshot (a live object: serialise it, do not keep it). */
  get snapshot(): Readonly<RunState> {
    return this.state;
  }

  apply(event: RunEvent): void {
    const state = this.state;
    state.updatedAtMs = event.atMs;
    switch (event.kind) {
      case 'started':
        Object.assign(state, {
          status: 'training',
          runId: event.runId,
          config: event.config,
          stepsPerEpoch: event.stepsPerEpoch,
          totalSteps: event.totalSteps,
          epochs: event.epochs,
          startedAtMs: event.atMs,
        });
        this.note(
          event.atMs,
          'started',
          event.resumedAtStep === null ? `run ${event.runId} started` : `run ${event.runId} resumed at step ${event.resumedAtStep}`,
        );
        break;
      case 'membership': {
        const worker = this.worker(event.workerId);
        if (event.event === 'lost' && worker !== undefined) worker.active = false;
        this.note(
          event.atMs,
          event.event,
          event.event === 'joined'
            ? `${event.workerId} joined (${event.reason})`
            : `${event.workerId} (rank ${event.rank ?? '?'}) lost: ${event.reason}`,
        );
        break;
      }
      case 'generation': {
        const members = new Set(event.workers.map((worker) => worker.workerId));
        for (const worker of state.workers) worker.active = members.has(worker.workerId);
        for (const info of event.workers) {
          const known = this.worker(info.workerId);
          if (known === undefined) state.workers.push({ ...info, active: true, last: null });
          else Object.assign(known, info, { active: true });
        }
        state.workers.sort((a, b) => Number(b.active) - Number(a.active) || a.rank - b.rank);
        Object.assign(state, { generation: event.generation, worldSize: event.worldSize });
        this.note(
          event.atMs,
          'generation',
          `generation ${event.generation} formed: ${event.worldSize} workers at step ${event.globalStep} (micro-batch ${event.microBatch})`,
        );
        break;
      }
      case 'step':
        Object.assign(state, {
          globalStep: event.globalStep,
          epoch: event.epoch,
          lr: event.lr,
          loss: event.loss,
          accuracy: event.accuracy,
          imagesPerSecond: event.imagesPerSecond,
        });
        state.stepsDone += 1;
        if (event.skipped) state.skippedSteps += 1;
        for (const report of event.workers) {
          const worker = this.worker(report.workerId);
          if (worker === undefined) continue;
          worker.last = {
            globalStep: event.globalStep,
            loss: report.loss,
            images: report.count,
            imagesPerSecond: report.timings.stepMs > 0 ? (report.count * 1000) / report.timings.stepMs : 0,
            computeMs: Math.max(0, report.timings.stepMs - report.timings.reduceMs),
            reduceMs: report.timings.reduceMs,
            waitMs: report.waitMs,
            numTensors: report.memory.numTensors,
            rssBytes: report.memory.rssBytes,
            heapUsedBytes: report.memory.heapUsedBytes,
          };
        }
        break;
      case 'epoch':
        // A rollback to a checkpoint re-records epochs: keep one record per epoch, the latest.
        state.epochRecords = [...state.epochRecords.filter((r) => r.epoch < event.record.epoch), event.record];
        break;
      case 'evaluation':
        state.evaluations.push({ split: event.split, epoch: event.epoch, loss: event.loss, accuracy: event.accuracy, count: event.count });
        break;
      case 'checkpoint':
        state.checkpoints += 1;
        state.lastCheckpoint = { globalStep: event.globalStep, path: event.path };
        this.note(event.atMs, 'checkpoint', `checkpoint at step ${event.globalStep}`);
        break;
      case 'finished':
        Object.assign(state, { status: 'finished', test: event.test });
        this.note(event.atMs, 'finished', `finished: test accuracy ${(event.test.accuracy * 100).toFixed(2)}%`);
        break;
      case 'failed':
        Object.assign(state, { status: 'failed', failure: { code: event.code, message: event.message } });
        this.note(event.atMs, 'failed', `failed (${event.code}): ${event.message}`);
        break;
    }
  }

  private worker(workerId: string): WorkerView | undefined {
    return this.state.workers.find((worker) => worker.workerId === workerId);
  }

  private note(atMs: number, kind: TimelineEntry['kind'], text: string): void {
    const timeline = this.state.timeline;
    timeline.push({ atMs, kind, text });
    if (timeline.length > MAX_TIMELINE) timeline.splice(0, timeline.length - MAX_TIMELINE);
  }
}
