// Training curves as a PNG, like the reference's figure: loss per epoch (train, validation) on the
// left, accuracy per epoch on the right. Drawn by Vega-Lite, headless (render_vega.ts), so no
// browser or native canvas is needed.
import { writeFile } from 'node:fs/promises';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg, svgToPng } from './render_vega.js';

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
  return renderSvg(spec);
}

/** Renders and writes `path` (PNG). */
export async function writeChartPng(path: string, points: readonly EpochPoint[], title: string): Promise<void> {
  const svg = await renderChartSvg(points, title);
  await writeFile(path, await svgToPng(svg));
}
