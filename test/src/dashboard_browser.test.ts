// The live dashboard in a real browser (issue 5): a real coordinator with two real onednn workers
// trains a tiny GoogLeNet while headless chromium watches http://127.0.0.1:<port>/. The page must
// draw curves with data points, list both workers with their backend, update as steps complete,
// and end showing the finished run. A screenshot lands in test/artifacts/dashboard.png.
// Without chromium this test fails (it never skips): see CHROMIUM_PATH in dashboard_page.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from './cifar_dir.js';
import { launchChromium, readDashboard } from './dashboard_page.js';
import { coordinatorArgs, describe, finished, startGroup, type Group } from './distributed_group.js';

const TRAIN_IMAGES = 384;
const GLOBAL_BATCH = 24;
const EPOCHS = 2;
const TOTAL_STEPS = EPOCHS * (TRAIN_IMAGES / GLOBAL_BATCH);
const TIMEOUT_MS = 6 * 60_000;
const SCREENSHOT = join(REPO_ROOT, 'test', 'artifacts', 'dashboard.png');

test(
  'the dashboard draws live curves and both workers of a real two-worker run, then shows it finished',
  { timeout: TIMEOUT_MS + 60_000 },
  async (t) => {
    const started = performance.now();
    const browser: Browser = await launchChromium();
    const runDir = await mkdtemp(join(tmpdir(), 'dashboard-run-'));
    let group: Group | null = null;
    try {
      group = await startGroup({
        workers: 2,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs({
          epochs: EPOCHS,
          batchSize: GLOBAL_BATCH,
          lr: 0.05,
          seed: 3,
          trainLimit: TRAIN_IMAGES,
          evalLimit: 40,
          runDir,
          dashboardPort: 0,
          checkpointEverySteps: 0,
        }),
      });
      const listening = await group.coordinator.waitForLog((l) => l['msg'] === 'dashboard listening', 60_000);
      const url = listening['dashboard'] as string;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(group.coordinator.logs.filter((l) => l['msg'] === 'dashboard listening').length, 1, 'the URL is logged once');

      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(m.text());
      });
      await page.goto(url);

      // Live: opened while the workers join, the page sees the first steps arrive, then more.
      await page.waitForFunction(() => Number(document.body.dataset['steps']) >= 2, null, { timeout: TIMEOUT_MS });
      const first = await readDashboard(page);
      await page.waitForFunction((n) => Number(document.body.dataset['steps']) > n, first.steps, { timeout: TIMEOUT_MS });
      // One render period (250 ms) after the event, the charts hold its points.
      await page.waitForTimeout(600);
      const second = await readDashboard(page);
      t.diagnostic(`steps seen: ${first.steps}, then ${second.steps}; loss points ${first.points['loss']} → ${second.points['loss']}`);
      assert.ok(second.steps > first.steps, `the step count grows (${first.steps} → ${second.steps})`);
      for (const chart of ['loss', 'accuracy', 'throughput', 'steptime', 'lr']) {
        assert.ok(second.points[chart]! >= 2, `chart ${chart} has data points: ${JSON.stringify(second.points)}`);
      }
      assert.ok(second.points['loss']! > first.points['loss']!, 'the loss curve gains points as steps complete');
      assert.ok(second.canvases >= 5, `one uPlot canvas per chart (${second.canvases})`);
      assert.deepEqual(Object.keys(second.workers).sort(), ['w0', 'w1']);
      for (const [id, [backend, state]] of Object.entries(second.workers)) {
        assert.equal(backend, 'onednn', `${id}'s backend`);
        assert.equal(state, 'active', `${id}'s state`);
      }
      assert.equal(second.status, 'training');
      for (const key of ['width', 'batchSize', 'trainLimit', 'dashboardPort'])
        assert.ok(second.configKeys.includes(key), `config shows ${key}`);
      assert.ok(!second.configKeys.includes('token'), 'the secret is not shown');

      // The end: every step, the epochs' and the test's points, the run marked finished.
      const results = await finished(group);
      assert.equal(results.coordinator.code, 0, describe(results));
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'finished', null, { timeout: 30_000 });
      await page.waitForTimeout(600);
      const last = await readDashboard(page);
      assert.equal(last.steps, TOTAL_STEPS);
      // Step loss per step, plus per epoch: train and validation at each epoch end, and the test.
      assert.equal(last.points['loss'], TOTAL_STEPS + 2 * EPOCHS + 1);
      assert.deepEqual([...new Set(last.timelineKinds)].sort(), ['finished', 'generation', 'joined', 'started', 'checkpoint'].sort());
      // Per-class accuracy: the latest validation and the test, as the run folder records the test.
      const perClass = await page.evaluate(() => {
        const table = document.getElementById('per-class') as HTMLTableElement;
        const names = [...table.tHead!.rows[0]!.cells].slice(1).map((c) => c.textContent);
        const rows = [...table.tBodies[0]!.rows].map((r) => ({
          split: r.dataset['split'],
          cells: [...r.cells].slice(1).map((c) => c.textContent),
        }));
        return { names, rows };
      });
      const testRecord = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; perClassAccuracy?: Record<string, number> })
        .find((r) => r.kind === 'test');
      assert.ok(testRecord?.perClassAccuracy !== undefined, 'metrics.jsonl holds the test record');
      assert.deepEqual(perClass.names, Object.keys(testRecord.perClassAccuracy));
      assert.deepEqual(
        perClass.rows.map((r) => r.split),
        ['val', 'test'],
      );
      assert.deepEqual(
        perClass.rows[1]!.cells,
        Object.values(testRecord.perClassAccuracy).map((a) => `${(a * 100).toFixed(2)}%`),
      );
      assert.equal(perClass.rows[0]!.cells.length, 10);
      assert.deepEqual(pageErrors, [], 'no errors in the page');

      await mkdir(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      t.diagnostic(`screenshot: ${SCREENSHOT}`);
      t.diagnostic(`run time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await browser.close();
      if (group !== null) for (const p of [group.coordinator, ...group.workers]) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await rm(runDir, { recursive: true, force: true });
    }
  },
);
