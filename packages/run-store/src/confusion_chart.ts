// The test split's confusion matrix as a PNG heat map (scikit-learn's ConfusionMatrixDisplay
// layout: true class down, predicted class across, the count in each cell). Drawn the way chart.ts
// draws the training curves (render_vega.ts). Cells are coloured by the share of their row (the
// true class), so a class's recall reads the same whatever its size; the number printed is the
// image count.
import { writeFile } from 'node:fs/promises';
import type { TopLevelSpec } from 'vega-lite';
import { checkConfusion, type ConfusionMatrix } from './confusion_matrix.js';
import { renderSvg, svgToPng } from './render_vega.js';

interface Cell {
  actual: string;
  predicted: string;
  count: number;
  /** count / images of the true class (0 for an empty row). */
  share: number;
}

function cells(matrix: ConfusionMatrix, classes: readonly string[]): Cell[] {
  const out: Cell[] = [];
  matrix.forEach((row, t) => {
    const images = row.reduce((s, v) => s + v, 0);
    row.forEach((count, p) => out.push({ actual: classes[t]!, predicted: classes[p]!, count, share: images > 0 ? count / images : 0 }));
  });
  return out;
}

/** Renders the matrix (`matrix[t][p]`: images of true class t predicted as p) to an SVG string. */
export async function renderConfusionSvg(matrix: ConfusionMatrix, classes: readonly string[], title: string): Promise<string> {
  checkConfusion(matrix, classes);
  const axis = (name: 'actual' | 'predicted') => ({
    field: name,
    type: 'nominal' as const,
    // Class order, not alphabetical: the diagonal must be the diagonal.
    sort: [...classes],
    title: name === 'actual' ? 'true class' : 'predicted class',
    axis: name === 'predicted' ? { labelAngle: -40, orient: 'bottom' as const } : {},
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    data: { values: cells(matrix, classes) },
    width: 44 * classes.length,
    height: 44 * classes.length,
    encoding: { x: axis('predicted'), y: axis('actual') },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            title: 'share of true class',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: { format: '.0%' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          // Dark cells get white digits so every count stays readable.
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
  return renderSvg(spec);
}

/** Renders and writes `path` (PNG, twice the SVG's size like chart.png). */
export async function writeConfusionPng(path: string, matrix: ConfusionMatrix, classes: readonly string[], title: string): Promise<void> {
  const svg = await renderConfusionSvg(matrix, classes, title);
  await writeFile(path, await svgToPng(svg));
}
