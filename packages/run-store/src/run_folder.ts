// The run folder: everything a run leaves behind, in one place a person or a script can read.
//   config.json          resolved configuration (written once at start)
//   metrics.jsonl        one JSON object per line: {kind:'epoch',...} per epoch, {kind:'test',...} at the end
//   chart.png            loss and accuracy per epoch (train, validation)
//   summary.json         final figures (test accuracy, per-class accuracy, timings)
//   report.md            end-of-run report: final accuracy table, per epoch, per class (report.ts)
//   confusion.png/.json/.csv  the test split's confusion matrix as an image and as data
//   checkpoints/         ckpt-<global step>.ckpt, the newest few (CheckpointStore), written atomically;
//                        latest.ckpt in runs written before the store
// A write that fails for want of space, quota or permission throws RunStoreWriteError naming the
// file and what to do (write_error.ts), and leaves no half-written file.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeChartPng, type EpochPoint } from './chart.js';
import { CheckpointStore, DEFAULT_KEEP_CHECKPOINTS } from './checkpoint_store.js';
import { appendFileWhole, makeFolder, writeFileDurable } from './durable_write.js';
import { writeRunReport, type RunReport, type WrittenReport } from './report.js';
import { isWriteErrno, toWriteError } from './write_error.js';

/** `text` as UTF-8 bytes, for the durable writer. */
const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');

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
  /** `null` for a class with no evaluated image (records.ts). */
  perClassAccuracy: Record<string, number | null>;
  count: number;
}

export class RunFolder {
  readonly checkpointsDir: string;
  constructor(readonly dir: string) {
    this.checkpointsDir = join(dir, 'checkpoints');
  }

  async init(config: unknown): Promise<void> {
    await makeFolder(this.checkpointsDir);
    await writeFileDurable(join(this.dir, 'config.json'), utf8(JSON.stringify(config, null, 2) + '\n'));
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

  /** Appends one line to metrics.jsonl: the whole line or, when the write fails, nothing. */
  async append(record: EpochRecord | TestRecord): Promise<void> {
    await appendFileWhole(join(this.dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Rewrites metrics.jsonl from the records a checkpoint carries, so a resumed run's file has no duplicate epochs. */
  async rewriteMetrics(records: readonly EpochRecord[]): Promise<void> {
    await writeFileDurable(join(this.dir, 'metrics.jsonl'), utf8(records.map((r) => JSON.stringify(r) + '\n').join('')));
  }

  async readMetrics(): Promise<Array<EpochRecord | TestRecord>> {
    const text = await readFile(join(this.dir, 'metrics.jsonl'), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as EpochRecord | TestRecord);
  }

  async writeChart(epochs: readonly EpochPoint[], title: string): Promise<void> {
    const path = join(this.dir, 'chart.png');
    try {
      await writeChartPng(path, epochs, title);
    } catch (err) {
      // Out of space part-way: the chart was truncated when opened; no half an image stays.
      if (isOutOfSpace(err)) await rm(path, { force: true });
      throw await toWriteError(err, path, null);
    }
  }

  async writeSummary(summary: unknown): Promise<void> {
    await writeFileDurable(join(this.dir, 'summary.json'), utf8(JSON.stringify(summary, null, 2) + '\n'));
  }

  /** The end-of-run report: report.md and the test confusion matrix (PNG, JSON, CSV). */
  async writeReport(report: RunReport): Promise<WrittenReport> {
    try {
      return await writeRunReport(this.dir, report);
    } catch (err) {
      const path = (err as NodeJS.ErrnoException | null)?.path;
      throw await toWriteError(err, typeof path === 'string' ? path : this.dir, null);
    }
  }
}

function isOutOfSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return isWriteErrno(err) && (code === 'ENOSPC' || code === 'EDQUOT');
}
