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

  apply(e: RunEvent): void {
    const s = this.state;
    s.updatedAtMs = e.atMs;
    switch (e.kind) {
      case 'started':
        Object.assign(s, {
          status: 'training',
          runId: e.runId,
          config: e.config,
          stepsPerEpoch: e.stepsPerEpoch,
          totalSteps: e.totalSteps,
          epochs: e.epochs,
          startedAtMs: e.atMs,
        });
        this.note(
          e.atMs,
          'started',
          e.resumedAtStep === null ? `run ${e.runId} started` : `run ${e.runId} resumed at step ${e.resumedAtStep}`,
        );
        break;
      case 'membership': {
        const worker = this.worker(e.workerId);
        if (e.event === 'lost' && worker !== undefined) worker.active = false;
        this.note(
          e.atMs,
          e.event,
          e.event === 'joined' ? `${e.workerId} joined (${e.reason})` : `${e.workerId} (rank ${e.rank ?? '?'}) lost: ${e.reason}`,
        );
        break;
      }
      case 'generation': {
        const members = new Set(e.workers.map((worker) => worker.workerId));
        for (const worker of s.workers) worker.active = members.has(worker.workerId);
        for (const info of e.workers) {
          const known = this.worker(info.workerId);
          if (known === undefined) s.workers.push({ ...info, active: true, last: null });
          else Object.assign(known, info, { active: true });
        }
        s.workers.sort((a, b) => Number(b.active) - Number(a.active) || a.rank - b.rank);
        Object.assign(s, { generation: e.generation, worldSize: e.worldSize });
        this.note(
          e.atMs,
          'generation',
          `generation ${e.generation} formed: ${e.worldSize} workers at step ${e.globalStep} (micro-batch ${e.microBatch})`,
        );
        break;
      }
      case 'step':
        Object.assign(s, {
          globalStep: e.globalStep,
          epoch: e.epoch,
          lr: e.lr,
          loss: e.loss,
          accuracy: e.accuracy,
          imagesPerSecond: e.imagesPerSecond,
        });
        s.stepsDone += 1;
        if (e.skipped) s.skippedSteps += 1;
        for (const report of e.workers) {
          const worker = this.worker(report.workerId);
          if (worker === undefined) continue;
          worker.last = {
            globalStep: e.globalStep,
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
        s.epochRecords = [...s.epochRecords.filter((r) => r.epoch < e.record.epoch), e.record];
        break;
      case 'evaluation':
        s.evaluations.push({ split: e.split, epoch: e.epoch, loss: e.loss, accuracy: e.accuracy, count: e.count });
        break;
      case 'checkpoint':
        s.checkpoints += 1;
        s.lastCheckpoint = { globalStep: e.globalStep, path: e.path };
        this.note(e.atMs, 'checkpoint', `checkpoint at step ${e.globalStep}`);
        break;
      case 'finished':
        Object.assign(s, { status: 'finished', test: e.test });
        this.note(e.atMs, 'finished', `finished: test accuracy ${(e.test.accuracy * 100).toFixed(2)}%`);
        break;
      case 'failed':
        Object.assign(s, { status: 'failed', failure: { code: e.code, message: e.message } });
        this.note(e.atMs, 'failed', `failed (${e.code}): ${e.message}`);
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
