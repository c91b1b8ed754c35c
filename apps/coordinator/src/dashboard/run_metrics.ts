// The run's Prometheus figures (`GET /metrics`), fed by the coordinator's live feed
// (run_events.ts) through prom-client. One registry per run, not prom-client's global one, so a
// process (or a test) can hold several. Names follow Prometheus' conventions: base units
// (seconds, bytes), `_total` on counters, the split and the worker as labels.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunEvent, RunEvents } from '../run_events.js';

/** Step phases from 1 ms to 2 min: wasm workers take seconds, GPUs milliseconds. */
const PHASE_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** prom-client metrics of one run. */
export class RunMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;

  private readonly metrics = (() => {
    const registers = [this.registry];
    const workerLabel = ['worker'] as const;
    const splitLabel = ['split'] as const;
    return {
      steps: new Counter({
        name: 'gnet_steps_total',
        help: 'Optimizer steps completed (skipped ones and steps recomputed after a re-form included).',
        registers,
      }),
      skipped: new Counter({
        name: 'gnet_skipped_steps_total',
        help: 'Steps skipped because the reduced gradient held a NaN or infinity.',
        registers,
      }),
      images: new Counter({ name: 'gnet_train_images_total', help: 'Training images processed over all workers.', registers }),
      globalStep: new Gauge({ name: 'gnet_global_step', help: 'Last completed global step (0-based).', registers }),
      totalSteps: new Gauge({
        name: 'gnet_planned_steps',
        help: 'Global steps the run is planned to take (epochs x steps per epoch).',
        registers,
      }),
      epochsDone: new Gauge({ name: 'gnet_epochs_completed', help: 'Epochs completed (validated).', registers }),
      stepLoss: new Gauge({ name: 'gnet_step_loss', help: 'Training loss of the last step over the global batch.', registers }),
      stepAccuracy: new Gauge({
        name: 'gnet_step_accuracy',
        help: 'Top-1 accuracy of the last step over the global batch (training mode).',
        registers,
      }),
      loss: new Gauge({
        name: 'gnet_loss',
        help: 'Loss of the last completed epoch (train, val) or of the final test evaluation.',
        labelNames: splitLabel,
        registers,
      }),
      accuracy: new Gauge({
        name: 'gnet_accuracy',
        help: 'Top-1 accuracy of the last completed epoch (train, val) or of the final test evaluation.',
        labelNames: splitLabel,
        registers,
      }),
      lr: new Gauge({ name: 'gnet_learning_rate', help: 'Learning rate of the last step.', registers }),
      imagesPerSecond: new Gauge({
        name: 'gnet_images_per_second',
        help: 'Training images per second of the last step over all workers (round wall time at the coordinator).',
        registers,
      }),
      stepSeconds: new Histogram({
        name: 'gnet_step_seconds',
        help: 'Wall time of a round at the coordinator.',
        buckets: PHASE_BUCKETS_S,
        registers,
      }),
      workerImagesPerSecond: new Gauge({
        name: 'gnet_worker_images_per_second',
        help: "A worker's images per second of its own step time, last step.",
        labelNames: workerLabel,
        registers,
      }),
      compute: new Histogram({
        name: 'gnet_worker_compute_seconds',
        help: 'Per step and worker: everything but the all-reduce (data, forward/backward, update).',
        labelNames: workerLabel,
        buckets: PHASE_BUCKETS_S,
        registers,
      }),
      reduce: new Histogram({
        name: 'gnet_worker_reduce_seconds',
        help: 'Per step and worker: the gradient all-reduce (communication).',
        labelNames: workerLabel,
        buckets: PHASE_BUCKETS_S,
        registers,
      }),
      wait: new Histogram({
        name: 'gnet_worker_wait_seconds',
        help: "Per step and worker: round wall time minus the worker's step time (waiting for the others).",
        labelNames: workerLabel,
        buckets: PHASE_BUCKETS_S,
        registers,
      }),
      numTensors: new Gauge({
        name: 'gnet_worker_num_tensors',
        help: "A worker's live TF.js tensors after its last step (flat unless something leaks).",
        labelNames: workerLabel,
        registers,
      }),
      rss: new Gauge({
        name: 'gnet_worker_resident_memory_bytes',
        help: "A worker's resident set size after its last step.",
        labelNames: workerLabel,
        registers,
      }),
      heap: new Gauge({
        name: 'gnet_worker_heap_used_bytes',
        help: "A worker's V8 heap in use after its last step.",
        labelNames: workerLabel,
        registers,
      }),
      worldSize: new Gauge({ name: 'gnet_world_size', help: 'Workers in the current generation.', registers }),
      generation: new Gauge({
        name: 'gnet_generation',
        help: 'Current generation (the group re-forms with the next one after a loss or a join).',
        registers,
      }),
      joined: new Counter({ name: 'gnet_workers_joined_total', help: 'Workers that said hello and were accepted.', registers }),
      lost: new Counter({
        name: 'gnet_workers_lost_total',
        help: 'Workers lost from a formed group (closed, failed, silent, evicted).',
        registers,
      }),
      checkpoints: new Counter({ name: 'gnet_checkpoints_total', help: 'Checkpoints written.', registers }),
      checkpointStep: new Gauge({ name: 'gnet_last_checkpoint_step', help: 'Global step of the newest checkpoint.', registers }),
      finished: new Gauge({ name: 'gnet_run_finished', help: '1 once the run finished (test evaluated), else 0.', registers }),
      failed: new Gauge({ name: 'gnet_run_failed', help: '1 once the run failed, else 0.', registers }),
    };
  })();

  /** Folds the run so far (`events.history`), then follows `events`. */
  constructor(events: RunEvents) {
    this.metrics.finished.set(0);
    this.metrics.failed.set(0);
    for (const event of events.history) this.apply(event);
    this.unsubscribe = events.subscribe((e) => this.apply(e));
  }

  /** The `Content-Type` of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.unsubscribe();
  }

  private apply(event: RunEvent): void {
    const metrics = this.metrics;
    switch (event.kind) {
      case 'started':
        metrics.totalSteps.set(event.totalSteps);
        break;
      case 'generation':
        metrics.worldSize.set(event.worldSize);
        metrics.generation.set(event.generation);
        // Gauges describe the current group: a worker that left it has no current figures.
        for (const gauge of [metrics.workerImagesPerSecond, metrics.numTensors, metrics.rss, metrics.heap]) gauge.reset();
        break;
      case 'membership':
        (event.event === 'joined' ? metrics.joined : metrics.lost).inc();
        break;
      case 'step':
        metrics.steps.inc();
        if (event.skipped) metrics.skipped.inc();
        metrics.images.inc(event.images);
        metrics.globalStep.set(event.globalStep);
        // A diverged loss (NaN, ±Infinity) is still reported: the text format spells them NaN, +Inf, -Inf.
        metrics.stepLoss.set(event.loss);
        metrics.stepAccuracy.set(event.accuracy);
        metrics.lr.set(event.lr);
        metrics.imagesPerSecond.set(event.imagesPerSecond);
        metrics.stepSeconds.observe(event.seconds);
        for (const report of event.workers) {
          const worker = { worker: report.workerId };
          metrics.compute.observe(worker, Math.max(0, report.timings.stepMs - report.timings.reduceMs) / 1000);
          metrics.reduce.observe(worker, report.timings.reduceMs / 1000);
          metrics.wait.observe(worker, report.waitMs / 1000);
          metrics.workerImagesPerSecond.set(worker, report.timings.stepMs > 0 ? (report.count * 1000) / report.timings.stepMs : 0);
          metrics.numTensors.set(worker, report.memory.numTensors);
          metrics.rss.set(worker, report.memory.rssBytes);
          metrics.heap.set(worker, report.memory.heapUsedBytes);
        }
        break;
      case 'epoch':
        metrics.epochsDone.set(event.record.epoch);
        metrics.loss.set({ split: 'train' }, event.record.trainLoss);
        metrics.accuracy.set({ split: 'train' }, event.record.trainAccuracy);
        break;
      case 'evaluation':
        metrics.loss.set({ split: event.split }, event.loss);
        metrics.accuracy.set({ split: event.split }, event.accuracy);
        break;
      case 'checkpoint':
        metrics.checkpoints.inc();
        metrics.checkpointStep.set(event.globalStep);
        break;
      case 'finished':
        metrics.finished.set(1);
        break;
      case 'failed':
        metrics.failed.set(1);
        break;
    }
  }
}
