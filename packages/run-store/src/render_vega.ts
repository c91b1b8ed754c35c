// A Vega-Lite spec drawn headless: compiled to Vega, rendered to SVG, rasterised by resvg (no
// browser or native canvas). chart.ts and confusion_chart.ts draw through here. The renderers are
// imported on first use: vega, vega-lite and resvg take about half a second of CPU to load, which
// a process that never draws (worker:serve, any command's --help) should not pay at start-up.
import type { TopLevelSpec } from 'vega-lite';

/** Renders `spec` to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises `svg` at twice its size, with the system's fonts. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
}
