// The end-of-run report in the run folder, for a person to open first: report.md (final train /
// validation / test accuracy, the per-epoch table, per-class test accuracy, links to the images),
// confusion.png (test confusion matrix, confusion_chart.ts), and the same matrix as data in
// confusion.json and confusion.csv. chart.png (training curves) is the per-epoch chart the run
// already keeps up to date; the report links it.
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeConfusionPng } from './confusion_chart.js';
import { checkConfusion, classFigures, confusionCsv, confusionTotals, ReportError, type ConfusionMatrix } from './confusion_matrix.js';
import type { EpochRecord } from './run_folder.js';

/** What a finished run knows, for {@link writeRunReport}. */
export interface RunReport {
  /** First heading and the confusion chart's title, e.g. "GoogLeNet (width 1) on CIFAR-10, 4 workers (ring)". */
  title: string;
  /** Class names in label order (CIFAR10_CLASSES). */
  classes: readonly string[];
  /** Every epoch's record, oldest first (metrics.jsonl). */
  epochs: readonly EpochRecord[];
  test: { loss: number; accuracy: number; count: number };
  /** The test split's matrix, `confusion[t][p]`: images of true class t predicted as p. */
  confusion: ConfusionMatrix;
  /** Images of the validation split, when known (its row of the accuracy table). */
  valImages?: number;
  /** Lines of the report's "Run" table (world size, algorithm, backend...), in order. */
  details?: ReadonlyArray<readonly [string, string | number]>;
  /** When the report is written (default: now). */
  at?: Date;
}

/** Paths of the files {@link writeRunReport} wrote. */
export interface WrittenReport {
  markdown: string;
  confusionPng: string;
  confusionJson: string;
  confusionCsv: string;
}

const percent = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(2)}%`;
const fixed = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const row = (cells: ReadonlyArray<string | number>): string => `| ${cells.join(' | ')} |`;

/** Throws `REPORT_COUNT_MISMATCH` unless the matrix counts exactly the test images and their correct ones. */
function checkAgainstTest(report: RunReport): { images: number; correct: number } {
  checkConfusion(report.confusion, report.classes);
  const totals = confusionTotals(report.confusion);
  if (totals.images !== report.test.count) {
    throw new ReportError(
      'REPORT_COUNT_MISMATCH',
      `the test confusion matrix must count the ${report.test.count} test images, but counts ${totals.images}`,
    );
  }
  // Both are correct / count of the same images; any difference means they are not the same evaluation.
  if (Math.abs(totals.correct / Math.max(1, totals.images) - report.test.accuracy) > 1e-9) {
    throw new ReportError(
      'REPORT_COUNT_MISMATCH',
      `the test confusion matrix's diagonal (${totals.correct} of ${totals.images} correct) must match the test accuracy ${report.test.accuracy}`,
    );
  }
  return totals;
}

/** report.md's text; `hasChart` says whether chart.png is there to link. */
export function reportMarkdown(report: RunReport, hasChart: boolean): string {
  const totals = checkAgainstTest(report);
  const last = report.epochs.at(-1);
  const lines: string[] = [`# ${report.title}`, '', `End-of-run report, written ${(report.at ?? new Date()).toISOString()}.`, ''];
  if (report.details !== undefined && report.details.length > 0) {
    lines.push('## Run', '', row(['setting', 'value']), row(['---', '---']), ...report.details.map(([k, v]) => row([k, v])), '');
  }
  lines.push('## Final accuracy', '', row(['split', 'images', 'loss', 'accuracy']), row(['---', '---:', '---:', '---:']));
  if (last !== undefined) {
    // The train figures are the running mean over the last epoch's steps (augmented, dropout on), as in metrics.jsonl.
    lines.push(
      row([`train (epoch ${last.epoch}, mean over its steps)`, last.images, fixed(last.trainLoss, 4), percent(last.trainAccuracy)]),
    );
    lines.push(row([`validation (after epoch ${last.epoch})`, report.valImages ?? '—', fixed(last.valLoss, 4), percent(last.valAccuracy)]));
  }
  lines.push(
    row(['test', report.test.count, fixed(report.test.loss, 4), `${percent(report.test.accuracy)} (${totals.correct} / ${totals.images})`]),
    '',
  );
  if (report.epochs.length > 0) {
    lines.push('## Per epoch', '');
    if (hasChart) lines.push('![loss and accuracy per epoch](chart.png)', '');
    lines.push(row(['epoch', 'train loss', 'train accuracy', 'validation loss', 'validation accuracy', 'lr', 'images/s', 'seconds']));
    lines.push(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const record of report.epochs) {
      lines.push(
        row([
          record.epoch,
          fixed(record.trainLoss, 4),
          percent(record.trainAccuracy),
          fixed(record.valLoss, 4),
          percent(record.valAccuracy),
          fixed(record.lr, 5),
          fixed(record.imagesPerSecond, 1),
          fixed(record.seconds, 1),
        ]),
      );
    }
    lines.push('');
  }
  lines.push(
    '## Per-class test accuracy',
    '',
    row(['class', 'images', 'correct', 'accuracy', 'most often mistaken for']),
    row(['---', '---:', '---:', '---:', '---']),
  );
  for (const c of classFigures(report.confusion, report.classes)) {
    lines.push(
      row([
        c.name,
        c.images,
        c.correct,
        percent(c.accuracy),
        c.confusedWith === null ? '—' : `${c.confusedWith.name} (${c.confusedWith.images})`,
      ]),
    );
  }
  lines.push('', '## Test confusion matrix', '', '![test confusion matrix](confusion.png)', '');
  lines.push(
    'Rows are true classes, columns predicted classes; cells are image counts, shaded by their share of the row. As data: [confusion.json](confusion.json), [confusion.csv](confusion.csv).',
    '',
  );
  return lines.join('\n');
}

/**
 * Writes report.md, confusion.png, confusion.json and confusion.csv into `dir` (report.md last, so
 * its presence means the rest is there). Throws `ReportError` when the matrix does not fit the
 * classes or the test figures.
 */
export async function writeRunReport(dir: string, report: RunReport): Promise<WrittenReport> {
  const totals = checkAgainstTest(report);
  const paths: WrittenReport = {
    markdown: join(dir, 'report.md'),
    confusionPng: join(dir, 'confusion.png'),
    confusionJson: join(dir, 'confusion.json'),
    confusionCsv: join(dir, 'confusion.csv'),
  };
  const json = {
    split: 'test',
    layout: 'matrix[t][p] = test images of true class t predicted as class p',
    classes: report.classes,
    images: totals.images,
    correct: totals.correct,
    accuracy: report.test.accuracy,
    matrix: report.confusion,
    perClass: classFigures(report.confusion, report.classes),
  };
  await writeConfusionPng(paths.confusionPng, report.confusion, report.classes, `${report.title}: test confusion matrix`);
  await writeFile(paths.confusionJson, JSON.stringify(json, null, 2) + '\n');
  await writeFile(paths.confusionCsv, confusionCsv(report.confusion, report.classes));
  const hasChart = await access(join(dir, 'chart.png')).then(
    () => true,
    () => false,
  );
  await writeFile(paths.markdown, reportMarkdown(report, hasChart));
  return paths;
}
