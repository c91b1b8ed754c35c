// The exported model in a real browser (issue 5): `worker:export` writes model.json, its weight
// shard and index.html; headless chromium opens that page from a real HTTP server on 127.0.0.1,
// the page loads the model with tf.loadLayersModel, and classifies PNG files picked in its file
// input (one 32x32, one of an odd size that the page resizes on a canvas). What the page prints
// must be what `worker:predict` prints for the same files.
//
// One stand-in: the page loads tfjs from the jsDelivr CDN, which this machine cannot reach. The
// test answers that one URL with the same tfjs 4.22.0 release from node_modules (core, cpu
// backend and layers bundles, which together define the global `tf` the page uses).
// Without chromium this test fails (it never skips): see CHROMIUM_PATH in dashboard_page.ts.
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import type { Browser } from 'playwright-core';
import { BATCH_IMAGE_FLOATS, CIFAR10_PLANE_BYTES, makeBatch, readCifar10, type CifarSet } from '@gnet/data';
import { createGoogLeNet } from '@gnet/model';
import { CheckpointStore } from '@gnet/run-store';
import { Replica, selectBackend } from '@gnet/training';
import { CIFAR10_TEST_DIR, REPO_ROOT } from './cifar_dir.js';
import { launchChromium } from './dashboard_page.js';

const COMMAND_TIMEOUT_MS = 180_000;
const WIDTH = 0.0625;
/** The page prints probabilities with one decimal (in %): rounding plus cpu-vs-wasm float32 differences. */
const PERCENT_TOLERANCE = 0.06;

interface Prediction {
  file: string;
  top: { label: number; name: string; probability: number }[];
}

async function runTool(tool: 'predict' | 'export', args: string[]): Promise<string> {
  const env = { ...process.env, CIFAR10_DIR: CIFAR10_TEST_DIR, GNET_BACKEND: 'wasm' };
  const entry = join(REPO_ROOT, 'apps', 'worker', 'src', 'tools', `${tool}_main.ts`);
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', entry, ...args], {
    cwd: REPO_ROOT,
    env,
    timeout: COMMAND_TIMEOUT_MS,
  });
  return stdout;
}

/** Test image `index` as a `width` x `height` PNG (nearest-neighbour scaled). */
function pngOf(set: CifarSet, index: number, width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = Math.floor((y * 32) / height) * 32 + Math.floor((x * 32) / width);
      for (let c = 0; c < 3; c++)
        png.data[4 * (y * width + x) + c] = set.images[index * 3 * CIFAR10_PLANE_BYTES + c * CIFAR10_PLANE_BYTES + p]!;
      png.data[4 * (y * width + x) + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** The tfjs bundles standing in for the CDN's tf.min.js (see the header). */
function tfjsBundle(): string {
  const require = createRequire(join(REPO_ROOT, 'apps', 'worker', 'package.json'));
  const parts = [
    '@tensorflow/tfjs-core/dist/tf-core.min.js',
    '@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js',
    '@tensorflow/tfjs-layers/dist/tf-layers.min.js',
  ];
  return parts.map((p) => readFileSync(require.resolve(p), 'utf8')).join('\n;\n');
}

/** A static file server for `root` on 127.0.0.1, port 0. */
async function serveFolder(root: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.json': 'application/json', '.bin': 'application/octet-stream' };
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    readFile(join(root, path))
      .then((body) => res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body))
      .catch(() => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

test(
  'the exported model loads in chromium from index.html and classifies files as the predict command does',
  { timeout: 8 * 60_000 },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gnet-export-browser-'));
    let browser: Browser | null = null;
    let server: Server | null = null;
    try {
      // A checkpoint as a coordinator leaves it, with BatchNorm statistics moved off their start so
      // the export's folded biases matter and the class probabilities are far from uniform.
      await selectBackend({ requested: 'wasm', log: { info: () => undefined } });
      const testSet = await readCifar10(CIFAR10_TEST_DIR, 'test');
      const model = createGoogLeNet({ width: WIDTH }, 5);
      tf.tidy(() => {
        const batch = makeBatch(testSet, [9000, 9001, 9002, 9003, 9004, 9005], new Float32Array(6 * BATCH_IMAGE_FLOATS), { augment: null });
        model.forward(tf.tensor4d(batch, [6, 32, 32, 3]), { training: true, seed: 1 });
      });
      const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 0 });
      const meta = {
        runId: 'browser',
        position: { epoch: 1, stepInEpoch: 0, globalStep: 2 },
        epochs: [],
        hyper: {},
        model: { width: WIDTH, auxHeads: true, batchNorm: true, dropout: 0.4, auxDropout: 0.7 },
        worldSize: 1,
      };
      await new CheckpointStore(join(dir, 'run', 'checkpoints')).save(replica.snapshot(meta), 2);
      model.dispose();

      const files = [join(dir, 'images', 'cat-32x32.png'), join(dir, 'images', 'ship-45x37.png')];
      await mkdir(join(dir, 'images'));
      await writeFile(files[0]!, pngOf(testSet, 0, 32, 32));
      await writeFile(files[1]!, pngOf(testSet, 1, 45, 37));

      const exported = join(dir, 'export');
      await runTool('export', ['--checkpoint', join(dir, 'run'), '--out', exported]);
      const { predictions } = JSON.parse(
        await runTool('predict', ['--checkpoint', join(dir, 'run'), '--top-k', '10', '--json', ...files]),
      ) as { predictions: Prediction[] };

      const html = await readFile(join(exported, 'index.html'), 'utf8');
      const cdnUrl = /<script src="(https:[^"]+)"><\/script>/.exec(html)?.[1];
      assert.ok(cdnUrl !== undefined, 'index.html loads tfjs from a script URL');
      const served = await serveFolder(exported);
      server = served.server;

      browser = await launchChromium();
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(m.text());
      });
      const bundle = tfjsBundle();
      await page.route(cdnUrl, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: bundle }));
      await page.route(
        (url) => url.origin !== new URL(served.url).origin && url.href !== cdnUrl,
        (route) => route.abort(),
      );
      await page.goto(`${served.url}index.html`);
      await page
        .waitForFunction(() => document.getElementById('out')?.textContent?.startsWith('Model loaded') === true, null, { timeout: 60_000 })
        .catch(async (err: unknown) => {
          throw new Error(
            `index.html did not load the model: it shows ${JSON.stringify(await page.textContent('#out'))}; page errors ${JSON.stringify(pageErrors)}`,
            { cause: err },
          );
        });

      for (const [i, file] of files.entries()) {
        const before = await page.textContent('#out');
        await page.setInputFiles('#file', file);
        await page
          .waitForFunction((old) => document.getElementById('out')?.textContent !== old, before, { timeout: 60_000 })
          .catch(async (err: unknown) => {
            throw new Error(
              `index.html did not classify ${file}: it shows ${JSON.stringify(await page.textContent('#out'))}; page errors ${JSON.stringify(pageErrors)}`,
              { cause: err },
            );
          });
        const text = (await page.textContent('#out')) ?? '';
        const shown = text.split('\n').map((line) => {
          const m = /^(\w+)\s+(\d+\.\d)%$/.exec(line);
          assert.ok(m !== null, `page line ${JSON.stringify(line)} of ${JSON.stringify(text)}`);
          return { name: m[1]!, percent: Number(m[2]) };
        });
        const expected = predictions[i]!;
        t.diagnostic(
          `${file}: page ${shown.map((s) => `${s.name} ${s.percent}%`).join(', ')}; predict ${expected.top
            .slice(0, 3)
            .map((c) => `${c.name} ${(100 * c.probability).toFixed(2)}%`)
            .join(', ')}`,
        );
        assert.equal(shown.length, 3, 'top 3 classes');
        const third = expected.top[2]!.probability;
        for (const s of shown) {
          const c = expected.top.find((x) => x.name === s.name);
          assert.ok(c !== undefined, `${s.name} is a class`);
          assert.ok(
            Math.abs(100 * c.probability - s.percent) <= PERCENT_TOLERANCE,
            `${file} ${s.name}: page ${s.percent}% vs predict ${(100 * c.probability).toFixed(3)}%`,
          );
          assert.ok(c.probability >= third - PERCENT_TOLERANCE / 100, `${s.name} is among predict's top 3`);
        }
        assert.ok(
          shown.every((s, k) => k === 0 || s.percent <= shown[k - 1]!.percent),
          'most probable first',
        );
      }
      // Not uniform: the most and least probable classes lie far more than the tolerance apart, so the
      // comparison above is not between two flat lists.
      for (const p of predictions) {
        const spread = p.top[0]!.probability - p.top.at(-1)!.probability;
        assert.ok(spread > 30 * (PERCENT_TOLERANCE / 100), `${p.file}: probabilities span only ${spread}`);
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser?.close();
      server?.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
