import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { renderChartSvg, writeChartPng } from './chart.js';

const points = [
  { epoch: 1, trainLoss: 2.1, trainAccuracy: 0.22, valLoss: 1.9, valAccuracy: 0.3 },
  { epoch: 2, trainLoss: 1.6, trainAccuracy: 0.41, valLoss: 1.5, valAccuracy: 0.45 },
  { epoch: 3, trainLoss: 1.2, trainAccuracy: 0.57, valLoss: 1.3, valAccuracy: 0.52 },
];

test('SVG has both panels and both splits', async () => {
  const svg = await renderChartSvg(points, 'GoogLeNet on CIFAR-10');
  assert.match(svg, /^<svg/);
  for (const text of ['Loss', 'Accuracy', 'train', 'validation', 'GoogLeNet on CIFAR-10'])
    assert.ok(svg.includes(text), `missing '${text}'`);
  // One line mark per series: 2 panels x 2 splits.
  assert.equal((svg.match(/mark-line role-mark/g) ?? []).length, 4);
});

test('PNG is a real, non-blank image', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'chart-'));
  try {
    const path = join(dir, 'chart.png');
    await writeChartPng(path, points, 'run');
    const png = PNG.sync.read(await readFile(path));
    assert.ok(png.width > 600 && png.height > 300, `${png.width}x${png.height}`);
    let nonWhite = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i]! < 200 || png.data[i + 1]! < 200 || png.data[i + 2]! < 200) nonWhite++;
    assert.ok(nonWhite > 1000, `only ${nonWhite} non-white pixels`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
