// The executor's records of what the run machine decided: a step's log line and live-feed event,
// an epoch's line in metrics.jsonl (with chart.png), and the finished run's test line and
// summary.json. Writing only: no decision is taken here.
import type { Logger } from 'pino';
import { epochLogFields, type EpochRecord, type RunFolder, type TestRecord, type TrainingEpochRecord } from '@gnet/run-store';
import type { Generation } from './generation.js';
import type { StepSummary } from './run_machine_types.js';
import type { RunEvents, WorkerStep } from './run_events.js';

/** The `step` event of the live feed and the `round done` log line (info when `infoLine`, warn when skipped, else debug). */
export function reportStep(
  summary: StepSummary,
  generation: Generation,
  options: { events: RunEvents; log: Logger; atMs: number; infoLine: boolean },
): void {
  const { metrics, seconds } = summary;
  const images = metrics.reduce((sum, m) => sum + m.count, 0);
  const loss = metrics.reduce((sum, m) => sum + m.loss * m.count, 0) / Math.max(1, images);
  const workers: WorkerStep[] = metrics.map((m, rank) => ({
    rank,
    workerId: generation.group.members[rank]!.hello.workerId,
    loss: m.loss,
    count: m.count,
    correct: m.correct,
    timings: m.timings,
    waitMs: Math.max(0, seconds * 1000 - m.timings.stepMs),
    memory: m.memory,
  }));
  options.events.emit({
    kind: 'step',
    atMs: options.atMs,
    globalStep: summary.globalStep,
    epoch: summary.epoch,
    step: summary.step,
    lr: summary.lr,
    loss,
    accuracy: metrics.reduce((sum, m) => sum + m.correct, 0) / Math.max(1, images),
    images,
    seconds,
    imagesPerSecond: images / Math.max(1e-9, seconds),
    skipped: summary.skipped,
    generation: summary.generation,
    workers,
  });
  const fields = {
    round: summary.round,
    epoch: summary.epoch,
    step: summary.step,
    globalStep: summary.globalStep,
    lr: summary.lr,
    loss,
    skipped: summary.skipped,
    ms: Math.round(seconds * 1000),
    reduceMs: metrics.map((m) => Math.round(m.timings.reduceMs)),
  };
  if (summary.skipped) options.log.warn(fields, 'round done');
  else if (options.infoLine) options.log.info(fields, 'round done');
  else options.log.debug(fields, 'round done');
}

/** The finished epoch's line in metrics.jsonl, chart.png over `epochs`, its live-feed event and log line. */
export async function recordEpoch(
  record: TrainingEpochRecord,
  epochs: readonly EpochRecord[],
  generation: Generation,
  options: { events: RunEvents; folder: RunFolder; log: Logger; atMs: number },
): Promise<void> {
  options.events.emit({ kind: 'epoch', atMs: options.atMs, record });
  await options.folder.append(record);
  await options.folder.writeChart(
    [...epochs],
    `GoogLeNet (width ${generation.plan.model.width}) on CIFAR-10, ${generation.plan.worldSize} workers (${generation.plan.allReduce.algorithm})`,
  );
  options.log.info(
    {
      ...epochLogFields(record),
      rssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    },
    'epoch done',
  );
}

/** Step 5's records: the test line, summary.json, then `leave` (finished) to every worker. */
export async function recordFinish(
  test: TestRecord,
  epochs: readonly EpochRecord[],
  generation: Generation,
  options: { events: RunEvents; folder: RunFolder; atMs: number; generations: number },
): Promise<void> {
  await options.folder.append(test);
  options.events.emit({ kind: 'finished', atMs: options.atMs, test });
  const last = epochs.at(-1) as (EpochRecord & { communicationShare: number }) | undefined;
  await options.folder.writeSummary({
    testAccuracy: test.accuracy,
    testLoss: test.loss,
    perClassAccuracy: test.perClassAccuracy,
    testImages: test.count,
    epochs: epochs.length,
    lastEpoch: last ?? null,
    worldSize: generation.plan.worldSize,
    generations: options.generations,
    algorithm: generation.plan.allReduce.algorithm,
    workers: generation.group.members.map((m) => ({
      rank: m.rank,
      workerId: m.hello.workerId,
      backend: m.hello.backend,
      device: m.hello.device,
    })),
  });
  await generation.group.close({ type: 'leave', reason: 'finished', message: `test accuracy ${(test.accuracy * 100).toFixed(2)}%` });
}
