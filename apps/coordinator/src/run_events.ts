// The coordinator's live feed: everything a watcher of the run wants (the dashboard, the
// Prometheus endpoint, terminal progress) as typed events, published by coordinator.ts as the run
// goes. Listeners never slow or break the run: a throwing listener is logged and dropped. A
// bounded history lets a late subscriber (a browser opened mid-run) replay the run so far.
import type { EvalSplit, StepTimings, WorkerMemory } from '@gnet/protocol';
import type { EpochRecord, TestRecord } from '@gnet/run-store';

/** A worker as the dashboard lists it. */
export interface WorkerInfo {
  rank: number;
  workerId: string;
  backend: string;
  device: string;
}

/** One worker's part of a finished step. */
export interface WorkerStep {
  rank: number;
  workerId: string;
  loss: number;
  count: number;
  correct: number;
  timings: StepTimings;
  /** The round's wall time at the coordinator minus this worker's own step time: time spent waiting for others. */
  waitMs: number;
  memory: WorkerMemory;
}

export type RunEvent =
  | {
      kind: 'started';
      atMs: number;
      runId: string;
      config: Record<string, unknown>;
      stepsPerEpoch: number;
      totalSteps: number;
      epochs: number;
      resumedAtStep: number | null;
    }
  | {
      kind: 'generation';
      atMs: number;
      generation: number;
      worldSize: number;
      globalStep: number;
      workers: WorkerInfo[];
      microBatch: number;
    }
  | { kind: 'membership'; atMs: number; event: 'joined' | 'lost'; workerId: string; rank: number | null; reason: string }
  | {
      kind: 'step';
      atMs: number;
      globalStep: number;
      epoch: number;
      step: number;
      lr: number;
      loss: number;
      accuracy: number;
      images: number;
      seconds: number;
      imagesPerSecond: number;
      skipped: boolean;
      generation: number;
      workers: WorkerStep[];
    }
  | { kind: 'epoch'; atMs: number; record: EpochRecord & { communicationShare?: number } }
  | {
      kind: 'evaluation';
      atMs: number;
      split: EvalSplit;
      epoch: number;
      loss: number;
      accuracy: number;
      count: number;
      perClassAccuracy: Record<string, number | null>;
      confusion: number[];
    }
  | { kind: 'checkpoint'; atMs: number; globalStep: number; path: string }
  | { kind: 'finished'; atMs: number; test: TestRecord }
  | { kind: 'failed'; atMs: number; code: string; message: string };

export type RunEventListener = (event: RunEvent) => void;

/** Events kept for late subscribers (steps beyond this are dropped oldest first; others kept). */
const MAX_STEP_HISTORY = 20_000;

/** A typed, bounded, failure-isolated event feed. */
export class RunEvents {
  private readonly listeners = new Set<RunEventListener>();
  private readonly kept: RunEvent[] = [];
  private steps = 0;

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  /** Events so far (steps possibly thinned to the last MAX_STEP_HISTORY), oldest first. */
  get history(): readonly RunEvent[] {
    return this.kept;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: RunEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: RunEvent): void {
    this.kept.push(event);
    if (event.kind === 'step' && ++this.steps > MAX_STEP_HISTORY) {
      const i = this.kept.findIndex((e) => e.kind === 'step');
      this.kept.splice(i, 1);
      this.steps -= 1;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.listeners.delete(listener);
        this.onListenerError(err);
      }
    }
  }
}
