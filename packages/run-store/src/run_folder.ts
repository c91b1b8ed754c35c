// The run folder: everything a run leaves behind, in one place a person or a script can read.
//   config.json          resolved configuration (written once at start)
//   metrics.jsonl        one JSON object per line: {kind:'epoch',...} per epoch, {kind:'test',...} at the end
//   chart.png            loss and accuracy per epoch (train, validation)
//   summary.json         final figures (test accuracy, per-class accuracy, timings)
//   report.md            end-of-run report: final accuracy table, per epoch, per class (report.ts)
//   confusion.png/.json/.csv  the test split's confusion matrix as an image and as data
//   checkpoints/         ckpt-<global step>.ckpt, the newest few (CheckpointStore), written atomically;
//                        latest.ckpt in runs written before the store
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { writeChartPng, type EpochPoint } from './chart.js';
import { CheckpointStore, DEFAULT_KEEP_CHECKPOINTS } from './checkpoint_store.js';
import { writeRunReport, type RunReport, type WrittenReport } from './report.js';

export interface EpochRecord extends EpochPoint {
  kind: 'epoch';
  steps: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  lr: number;
}

export interface TestRecord {
  kind: 'test';
  split: 'test';
  loss: number;
  accuracy: number;
  perClassAccuracy: Record<string, number>;
  count: number;
}

export class RunFolder {
  readonly checkpointsDir: string;
  constructor(readonly dir: string) {
    this.checkpointsDir = join(dir, 'checkpoints');
  }

  async init(config: unknown): Promise<void> {
    await mkdir(this.checkpointsDir, { recursive: true });
    await writeFileAtomic(join(this.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  /** The run's checkpoints (`<run>/checkpoints/ckpt-<step>.ckpt`), keeping the newest `keep`. */
  checkpoints(keep = DEFAULT_KEEP_CHECKPOINTS): CheckpointStore {
    return new CheckpointStore(this.checkpointsDir, { keep });
  }

  /** The single-file checkpoint of runs written before `checkpoints()`. */
  get latestCheckpoint(): string {
    return join(this.checkpointsDir, 'latest.ckpt');
  }

  epochCheckpoint(epoch: number): string {
    return join(this.checkpointsDir, `epoch-${String(epoch).padStart(3, '0')}.ckpt`);
  }

  async append(record: EpochRecord | TestRecord): Promise<void> {
    await appendFile(join(this.dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Rewrites metrics.jsonl from the records a checkpoint carries, so a resumed run's file has no duplicate epochs. */
  async rewriteMetrics(records: readonly EpochRecord[]): Promise<void> {
    await writeFileAtomic(join(this.dir, 'metrics.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  async readMetrics(): Promise<Array<EpochRecord | TestRecord>> {
    const text = await readFile(join(this.dir, 'metrics.jsonl'), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as EpochRecord | TestRecord);
  }

  async writeChart(epochs: readonly EpochPoint[], title: string): Promise<void> {
    await writeChartPng(join(this.dir, 'chart.png'), epochs, title);
  }

  async writeSummary(summary: unknown): Promise<void> {
    await writeFile(join(this.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }

  /** The end-of-run report: report.md and the test confusion matrix (PNG, JSON, CSV). */
  async writeReport(report: RunReport): Promise<WrittenReport> {
    return writeRunReport(this.dir, report);
  }
}
