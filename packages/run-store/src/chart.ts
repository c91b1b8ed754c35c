// Training curves as a PNG, like the reference's figure: loss per epoch (train, validation) on the
// left, accuracy per epoch on the right. Drawn by Vega-Lite (compiled to Vega, rendered headless to
// SVG) and rasterised by resvg, so no browser or native canvas is needed.
import { writeFile } from 'node:fs/promises';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One epoch's figures as written to metrics.jsonl. */
export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

function longFormat(points: readonly EpochPoint[]): Array<{ epoch: number; metric: string; split: string; value: number }> {
  const rows: Array<{ epoch: number; metric: string; split: string; value: number }> = [];
  for (const p of points) {
    rows.push({ epoch: p.epoch, metric: 'loss', split: 'train', value: p.trainLoss });
    rows.push({ epoch: p.epoch, metric: 'accuracy', split: 'train', value: p.trainAccuracy });
    if (p.valLoss !== undefined) rows.push({ epoch: p.epoch, metric: 'loss', split: 'validation', value: p.valLoss });
    if (p.valAccuracy !== undefined) rows.push({ epoch: p.epoch, metric: 'accuracy', split: 'validation', value: p.valAccuracy });
  }
  return rows;
}

/** Renders the chart to an SVG string. */
export async function renderChartSvg(points: readonly EpochPoint[], title: string): Promise<string> {
  const panel = (metric: 'loss' | 'accuracy') => ({
    title: metric === 'loss' ? 'Loss' : 'Accuracy',
    width: 360,
    height: 260,
    transform: [{ filter: `datum.metric === '${metric}'` }],
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: {
        field: 'value',
        type: 'quantitative' as const,
        title: metric,
        scale: metric === 'accuracy' ? { domain: [0, 1] } : { zero: true },
        axis: metric === 'accuracy' ? { format: '.0%' } : {},
      },
      color: { field: 'split', type: 'nominal' as const, title: null },
    },
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    data: { values: longFormat(points) },
    hconcat: [panel('loss'), panel('accuracy')],
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders and writes `path` (PNG). */
export async function writeChartPng(path: string, points: readonly EpochPoint[], title: string): Promise<void> {
  const svg = await renderChartSvg(points, title);
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
  await writeFile(path, png);
}
