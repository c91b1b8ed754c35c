// The export's index.html: its scripts parse, it loads model.json with tf.loadLayersModel, and its
// resize gives the same 8-bit pixels as the predict command's (image_input.ts) on odd sizes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '@gnet/data';
import { browserPageHtml, TFJS_BROWSER_URL } from './browser_page.js';
import { rgbaOverWhite } from './image_decode.js';
import { toCifarRecord } from './image_input.js';

type PageResize = (rgba: Uint8Array, w: number, h: number, n: number) => Float32Array;

function inlineScripts(html: string): Map<string, string> {
  const scripts = new Map<string, string>();
  let k = 0;
  for (const m of html.matchAll(/<script( id="(\w+)")?>([\s\S]*?)<\/script>/g)) scripts.set(m[2] ?? `inline${k++}`, m[3]!);
  return scripts;
}

describe('browser page', () => {
  const html = browserPageHtml();
  const scripts = inlineScripts(html);

  it('loads tfjs 4.22.0 and model.json, and every inline script parses', () => {
    assert.match(html, new RegExp(`<script src="${TFJS_BROWSER_URL.replaceAll('.', '\\.')}"></script>`));
    assert.match(TFJS_BROWSER_URL, /@tensorflow\/tfjs@4\.22\.0\//);
    assert.equal(scripts.size, 2);
    for (const [name, code] of scripts) assert.doesNotThrow(() => new Function(code), `script ${name}`);
    assert.match(scripts.get('inline0')!, /tf\.loadLayersModel\('model\.json'\)/);
  });

  it('resizes like the predict command (RGBA over white, area / bilinear, rounded)', () => {
    const resize = new Function(`${scripts.get('resize')!}; return resize;`)() as PageResize;
    const rng = new Rng(3);
    for (const [w, h] of [
      [50, 41],
      [17, 90],
      [32, 32],
      [5, 3],
    ] as const) {
      const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : rng.int(256)));
      const page = resize(rgba, w, h, 32); // [32, 32, 3] interleaved
      const record = toCifarRecord({ width: w, height: h, rgb: rgbaOverWhite(rgba, w * h) }); // [3, 32, 32] planar
      for (let p = 0; p < 1024; p++) {
        for (let c = 0; c < 3; c++) assert.equal(page[3 * p + c], record[c * 1024 + p], `${w}x${h} pixel ${p} channel ${c}`);
      }
    }
  });
});
