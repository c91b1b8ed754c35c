import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { renderConfusionSvg } from './confusion_chart.js';
import { ReportError } from './confusion_matrix.js';
import { reportMarkdown, type RunReport } from './report.js';
import { RunFolder, type EpochRecord } from './run_folder.js';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** 10 classes x 20 images; class k gets 20 - k right, the rest predicted as class k + 1 (mod 10). */
function diagonalHeavy(): number[][] {
  return CLASSES.map((_, t) => CLASSES.map((__, p) => (p === t ? 20 - t : p === (t + 1) % 10 ? t : 0)));
}
const CORRECT = CLASSES.reduce((s, _, k) => s + 20 - k, 0);

const epoch = (n: number, trainAccuracy: number, valAccuracy: number): EpochRecord => ({
  kind: 'epoch',
  epoch: n,
  steps: 10,
  images: 1280,
  seconds: 12.5,
  imagesPerSecond: 102.4,
  lr: 0.05,
  trainLoss: 2.5 - n * 0.3,
  trainAccuracy,
  valLoss: 2.4 - n * 0.25,
  valAccuracy,
});

function report(extra: Partial<RunReport> = {}): RunReport {
  return {
    title: 'GoogLeNet (width 0.25) on CIFAR-10, 2 workers (ring)',
    classes: CLASSES,
    epochs: [epoch(1, 0.21, 0.27), epoch(2, 0.34, 0.38)],
    test: { loss: 1.75, accuracy: CORRECT / 200, count: 200 },
    confusion: diagonalHeavy(),
    valImages: 500,
    details: [
      ['workers', 2],
      ['all-reduce', 'ring'],
    ],
    at: new Date('2025-01-02T03:04:05Z'),
    ...extra,
  };
}

test('a run folder gets report.md, confusion.png, confusion.json and confusion.csv', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'report-'));
  try {
    const folder = new RunFolder(dir);
    await folder.writeChart(report().epochs, 'curves');
    const written = await folder.writeReport(report());
    assert.deepEqual(written, {
      markdown: join(dir, 'report.md'),
      confusionPng: join(dir, 'confusion.png'),
      confusionJson: join(dir, 'confusion.json'),
      confusionCsv: join(dir, 'confusion.csv'),
    });

    const md = await readFile(written.markdown, 'utf8');
    assert.ok(md.startsWith('# GoogLeNet (width 0.25) on CIFAR-10, 2 workers (ring)\n'));
    assert.ok(md.includes('| train (epoch 2, mean over its steps) | 1280 | 1.9000 | 34.00% |'), md);
    assert.ok(md.includes('| validation (after epoch 2) | 500 | 1.9000 | 38.00% |'), md);
    assert.ok(md.includes(`| test | 200 | 1.7500 | ${((CORRECT / 200) * 100).toFixed(2)}% (${CORRECT} / 200) |`), md);
    assert.ok(md.includes('| workers | 2 |'));
    assert.ok(md.includes('![loss and accuracy per epoch](chart.png)'));
    assert.ok(md.includes('![test confusion matrix](confusion.png)'));
    // Class 3 (cat): 17 of 20 right, the other 3 predicted as deer.
    assert.ok(md.includes('| cat | 20 | 17 | 85.00% | deer (3) |'), md);
    assert.ok(md.includes('| airplane | 20 | 20 | 100.00% | — |'), md);

    const json = JSON.parse(await readFile(written.confusionJson, 'utf8')) as {
      matrix: number[][];
      classes: string[];
      images: number;
      correct: number;
      perClass: Array<{ name: string; accuracy: number }>;
    };
    assert.deepEqual(json.matrix, diagonalHeavy());
    assert.deepEqual(json.classes, CLASSES);
    assert.equal(json.images, 200);
    assert.equal(json.correct, CORRECT);
    assert.equal(json.perClass[9]!.accuracy, 11 / 20);

    const csv = (await readFile(written.confusionCsv, 'utf8')).trim().split('\n');
    assert.equal(csv.length, 11);
    assert.equal(csv[4], 'cat,0,0,0,17,3,0,0,0,0,0');

    const png = PNG.sync.read(await readFile(written.confusionPng));
    assert.ok(png.width > 500 && png.height > 500, `${png.width}x${png.height}`);
    // The diagonal cells are the darkest blue: many pixels far from white and grey.
    let blue = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i + 2]! - png.data[i]! > 80) blue++;
    assert.ok(blue > 20_000, `only ${blue} strongly blue pixels`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('report.md links chart.png only when the run has it', () => {
  assert.ok(!reportMarkdown(report(), false).includes('chart.png'));
  assert.ok(reportMarkdown(report(), true).includes('chart.png'));
});

test('the SVG has one cell and one count per pair of classes, in class order', async () => {
  const svg = await renderConfusionSvg(diagonalHeavy(), CLASSES, 'test confusion matrix');
  assert.equal((svg.match(/aria-roledescription="rect mark"/g) ?? []).length, 100);
  // The diagonal cell of airplane: 20 of its 20 images, so the full share.
  assert.ok(svg.includes('aria-label="predicted class: airplane; true class: airplane; share of true class: 100%"'));
  for (const text of ['true class', 'predicted class', 'share of true class', 'test confusion matrix', ...CLASSES])
    assert.ok(svg.includes(text), `missing '${text}'`);
  // Ten axis labels per axis in class order: airplane before truck on both.
  assert.ok(svg.indexOf('>airplane<') < svg.indexOf('>truck<'));
  const counts = [...svg.matchAll(/<text[^>]*>(\d+)<\/text>/g)].map((m) => Number(m[1]));
  // 100 cell labels (the legend's are percentages).
  assert.equal(counts.length, 100);
  assert.equal(
    counts.reduce((s, v) => s + v, 0),
    200,
  );
});

test('a matrix that does not count the test images is refused', async () => {
  const refuses = (r: RunReport, message: string): void =>
    assert.throws(
      () => reportMarkdown(r, false),
      (err: unknown) => err instanceof ReportError && err.code === 'REPORT_COUNT_MISMATCH' && err.message === message,
    );
  refuses(
    report({ test: { loss: 1, accuracy: CORRECT / 201, count: 201 } }),
    'the test confusion matrix must count the 201 test images, but counts 200',
  );
  refuses(
    report({ test: { loss: 1, accuracy: 0.5, count: 200 } }),
    `the test confusion matrix's diagonal (${CORRECT} of 200 correct) must match the test accuracy 0.5`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'report-'));
  try {
    await assert.rejects(
      new RunFolder(dir).writeReport(report({ confusion: [[1]] })),
      (err: unknown) => err instanceof ReportError && err.code === 'REPORT_BAD_CONFUSION',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
