// Soak benchmark: a real coordinator and real worker processes (wasm) train a narrow GoogLeNet for
// 1,000+ optimizer steps, with evaluations and checkpoints every epoch, while we watch for leaks.
// Workers run at --log-level debug, whose per-step 'step done' line carries numTensors, rssBytes
// and heapUsedBytes (packages/training memory_stats.ts); the coordinator's RSS is read from
// /proc/<pid>/status. Prints a table every --every steps, then per worker: numTensors min/max after
// warm-up (flat = equal), RSS after warm-up vs at the end (floors over --floor-window steps, which
// the verdict uses, see soak/soak_summary.ts; medians over --every steps; and single
// samples), and whether both meet the targets (numTensors flat, RSS growth < 10%). Exits 1 when a
// process fails or a worker misses steps; missed targets are reported, not an exit code.
//
// Run: node --conditions=source --import tsx bench/soak.bench.ts [--steps 1000] [--steps-per-epoch 100]
//      [--width 0.0625] [--batch-size 16] [--warmup-steps <one epoch + 50>] [--every 50] [--floor-window 200] [--workers 2]
//      [--eval-limit 100] [--lr 0.05] [--out soak.json] [--log-dir dir] [--timeout-min 120]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { processRssBytes, startApp, type StartedApp } from './soak/start_app.js';
import {
  RSS_GROWTH_TARGET_PCT,
  summarizeGrowth,
  summarizeWorker,
  type GrowthSummary,
  type StepSample,
  type WorkerSummary,
} from './soak/soak_summary.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    // 100 steps per epoch: ten evaluations and checkpoints in a 1,000-step soak, so their tensors count too.
    'steps-per-epoch': { type: 'string', default: '100' },
    width: { type: 'string', default: '0.0625' },
    'batch-size': { type: 'string', default: '16' },
    // Allocator pools, JIT and wasm memory settle in the first steps, and the first evaluation and
    // checkpoint allocate their buffers once; measure growth after them. Default: one epoch + 50 steps.
    'warmup-steps': { type: 'string' },
    every: { type: 'string', default: '50' },
    // Floors (lowest RSS and heap) over this many steps at each end: long enough to span a major GC.
    'floor-window': { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    'eval-limit': { type: 'string', default: '100' },
    lr: { type: 'string', default: '0.05' },
    out: { type: 'string', default: '' },
    'log-dir': { type: 'string', default: '' },
    'timeout-min': { type: 'string', default: '120' },
  },
});

/** A positive integer flag, or exit 2 naming it (a benchmark, so no error class of its own). */
function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`soak: --${flag} must be a positive integer, but got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const steps = positiveInt('steps', values.steps);
const stepsPerEpoch = Math.min(steps, positiveInt('steps-per-epoch', values['steps-per-epoch']));
const batchSize = positiveInt('batch-size', values['batch-size']);
const warmupSteps = values['warmup-steps'] === undefined ? stepsPerEpoch + 50 : positiveInt('warmup-steps', values['warmup-steps']);
const floorWindow = positiveInt('floor-window', values['floor-window']);
const every = positiveInt('every', values.every);
const workerCount = positiveInt('workers', values.workers);
const timeoutMs = positiveInt('timeout-min', values['timeout-min']) * 60_000;
const epochs = Math.ceil(steps / stepsPerEpoch);
const expectedSteps = epochs * stepsPerEpoch;
if (warmupSteps >= expectedSteps) {
  console.error(`soak: --warmup-steps (${warmupSteps}) must be below the steps run (${expectedSteps}); lower it or raise --steps`);
  process.exit(2);
}
if (batchSize % workerCount !== 0) {
  console.error(`soak: --batch-size (${batchSize}) must be a multiple of --workers (${workerCount})`);
  process.exit(2);
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const dataDir = process.env['CIFAR10_DIR'] || join(repoRoot, '..', 'shared', 'data', 'cifar-10-batches-bin');
const runDir = mkdtempSync(join(tmpdir(), 'soak-'));
const logDir = values['log-dir'];
if (logDir !== '') mkdirSync(logDir, { recursive: true });
const logFile = (name: string): string => (logDir === '' ? '' : join(logDir, `${name}.ndjson`));
// The workers must present it; any value works as long as both sides agree.
const env = { GNET_TOKEN: 'soak-bench-secret' };
const MiB = 1024 * 1024;

console.log(
  `soak: ${workerCount} workers (wasm), GoogLeNet width ${values.width}, global batch ${batchSize}, ${expectedSteps} steps = ` +
    `${epochs} epochs x ${stepsPerEpoch} (train-limit ${stepsPerEpoch * batchSize}, eval-limit ${values['eval-limit']}), warm-up ${warmupSteps} steps; ` +
    `node ${process.version}, ${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);

/** Per worker (start order): its rank once welcomed, and one sample per step. */
const workers = Array.from({ length: workerCount }, (_, i) => ({ id: `w${i}`, rank: -1, samples: [] as StepSample[], malformed: 0 }));
/** Coordinator RSS in bytes, one sample per step all workers have finished (null: no /proc). */
const coordinatorRss: (number | null)[] = [];
interface Row {
  step: number;
  numTensors: number[];
  rssMiB: number[];
  coordinatorRssMiB: number | null;
  /** Since the previous row, by the slower worker's clock. */
  msPerStep: number | null;
}
const rows: Row[] = [];
const readText = (path: string): string => readFileSync(path, 'utf8');
const children: StartedApp[] = [];

function printRow(step: number): void {
  if (rows.length === 0) {
    const cols = workers.map((worker) => `${worker.id} (rank ${worker.rank}) tensors | ${worker.id} RSS MiB`).join(' | ');
    console.log(`\n| step | ${cols} | coordinator RSS MiB | ms/step |`);
    console.log(`|---:|${workers.map(() => '---:|---:').join('|')}|---:|---:|`);
  }
  const slowest = (k: number): number => Math.max(...workers.map((worker) => worker.samples[k - 1]!.timeMs));
  const at = workers.map((worker) => worker.samples[step - 1]!);
  // From the previous row, or for the first row from step 1 (start-up is not a step).
  const previousStep = rows.at(-1)?.step ?? 1;
  const coordinator = coordinatorRss[step - 1] ?? null;
  const row: Row = {
    step,
    numTensors: at.map((s) => s.numTensors),
    rssMiB: at.map((s) => s.rssBytes / MiB),
    coordinatorRssMiB: coordinator === null ? null : coordinator / MiB,
    msPerStep: step === previousStep ? null : (slowest(step) - slowest(previousStep)) / (step - previousStep),
  };
  rows.push(row);
  const cells = at.map((s) => `${s.numTensors} | ${(s.rssBytes / MiB).toFixed(1)}`).join(' | ');
  console.log(`| ${step} | ${cells} | ${row.coordinatorRssMiB?.toFixed(1) ?? '-'} | ${row.msPerStep?.toFixed(0) ?? '-'} |`);
}

/** After a worker's step: sample the coordinator for each step every worker has now finished, print due rows. */
function onStep(): void {
  const done = Math.min(...workers.map((worker) => worker.samples.length));
  while (coordinatorRss.length < done) {
    coordinatorRss.push(processRssBytes(children[0]?.child.pid, readText));
    const step = coordinatorRss.length;
    if (step % every === 0 || step === expectedSteps) printRow(step);
  }
}

const stopChildren = (): void => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGTERM');
};
// A crash of this script must not leave a training run behind.
process.on('exit', stopChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopChildren();
    process.exit(130);
  });
}

const startedMs = performance.now();
let exitCode = 0;
try {
  let onListening!: (url: string) => void;
  const listening = new Promise<string>((resolve) => (onListening = resolve));
  const coordinator = startApp({
    name: 'coordinator',
    repoRoot,
    entry: 'apps/coordinator/src/main.ts',
    args: [
      ...['--workers', String(workerCount), '--port', '0', '--data-dir', dataDir, '--run-dir', runDir, '--log-level', 'info'],
      ...[
        '--width',
        values.width,
        '--batch-size',
        String(batchSize),
        '--epochs',
        String(epochs),
        '--warmup-epochs',
        '1',
        '--lr',
        values.lr,
      ],
      ...['--train-limit', String(stepsPerEpoch * batchSize), '--eval-limit', values['eval-limit'], '--join-timeout-ms', '300000'],
    ],
    env,
    timeoutMs,
    logFile: logFile('coordinator'),
    onLog: (line) => {
      if (line['msg'] === 'coordinator listening') onListening(line['url'] as string);
    },
  });
  children.push(coordinator);
  const url = await Promise.race([
    listening,
    coordinator.exited.then((e) => Promise.reject(new Error(`coordinator exited (${e.code}) before listening:\n${e.tail}`))),
  ]);
  for (const worker of workers) {
    children.push(
      startApp({
        name: worker.id,
        repoRoot,
        entry: 'apps/worker/src/serve_main.ts',
        args: ['--coordinator', url, '--worker-id', worker.id, '--backend', 'wasm', '--data-dir', dataDir, '--log-level', 'debug'],
        env,
        timeoutMs,
        logFile: logFile(worker.id),
        onLog: (line) => {
          if (line['msg'] === 'welcome') worker.rank = line['rank'] as number;
          if (line['msg'] !== 'step done') return;
          const fields = ['numTensors', 'rssBytes', 'heapUsedBytes', 'time'] as const;
          const missing = fields.filter((f) => typeof line[f] !== 'number');
          if (missing.length > 0) {
            // A worker without the memory fields makes the whole soak meaningless: say so once, fail at the end.
            if (worker.malformed++ === 0)
              console.error(`${worker.id}: 'step done' line lacks numeric ${missing.join(', ')}: ${JSON.stringify(line).slice(0, 300)}`);
            return;
          }
          worker.samples.push({
            step: worker.samples.length + 1,
            numTensors: line['numTensors'] as number,
            rssBytes: line['rssBytes'] as number,
            heapUsedBytes: line['heapUsedBytes'] as number,
            timeMs: line['time'] as number,
          });
          onStep();
        },
      }),
    );
  }
  const exits = await Promise.all(children.map((c) => c.exited));
  const failed = exits.map((e, i) => ({ e, name: children[i]!.name })).filter(({ e }) => e.code !== 0);
  for (const { e, name } of failed) {
    console.error(
      `\n${name} failed: exit ${e.code}${e.signal ? ` (${e.signal})` : ''}${e.timedOut ? `, killed after --timeout-min ${values['timeout-min']}` : ''}\n${e.tail}`,
    );
  }
  const short = workers.filter((worker) => worker.samples.length !== expectedSteps);
  for (const worker of short)
    console.error(
      `${worker.id}: logged ${worker.samples.length} usable 'step done' lines (${worker.malformed} without memory fields), expected ${expectedSteps}`,
    );
  if (failed.length > 0 || short.length > 0) {
    exitCode = 1;
  } else {
    report();
  }
} catch (err) {
  console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
  stopChildren();
  exitCode = 1;
} finally {
  rmSync(runDir, { recursive: true, force: true });
}
process.exit(exitCode);

function report(): void {
  const wallS = (performance.now() - startedMs) / 1000;
  // RSS medians over one table interval at each end (see soak/soak_summary.ts for why not single samples).
  const summaries: (WorkerSummary & { id: string; rank: number })[] = workers.map((worker) => ({
    id: worker.id,
    rank: worker.rank,
    ...summarizeWorker(worker.samples, warmupSteps, every, floorWindow),
  }));
  const coordinatorSeries = coordinatorRss.every((b): b is number => b !== null) ? (coordinatorRss as number[]) : null;
  const coordinator: GrowthSummary | null =
    coordinatorSeries === null ? null : summarizeGrowth(coordinatorSeries, warmupSteps, every, floorWindow);
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
  const mib = (b: number): string => (b / MiB).toFixed(1);
  console.log(
    `\nAfter warm-up (step ${warmupSteps} to ${expectedSteps}); targets: numTensors flat, RSS floor growth < ${RSS_GROWTH_TARGET_PCT}% ` +
      `(lowest RSS over the first ${floorWindow} steps after warm-up vs over the last ${floorWindow}: a leak raises the floor, uncollected garbage only the peaks; ` +
      `medians over ${every} steps and single samples at step ${warmupSteps} and ${expectedSteps} beside them)\n`,
  );
  console.log(
    '| process | steps | numTensors min | numTensors max | flat | RSS MiB floor warm-up -> end | RSS floor growth | RSS MiB median warm-up -> end | RSS MiB at step warm-up -> end | max RSS MiB | heap MiB floor warm-up -> end | heap MiB at step warm-up -> end | ms/step | within targets |',
  );
  console.log('|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const s of summaries) {
    console.log(
      `| ${s.id} (rank ${s.rank}) | ${s.steps} | ${s.numTensorsMin} | ${s.numTensorsMax} | ${s.numTensorsFlat ? 'yes' : 'NO'} | ${mib(s.rssWarmFloorBytes)} -> ${mib(s.rssEndFloorBytes)} | ${pct(s.rssFloorGrowthPct)} | ` +
        `${mib(s.rssWarmMedianBytes)} -> ${mib(s.rssEndMedianBytes)} (${pct(s.rssMedianGrowthPct)}) | ${mib(s.rssWarmBytes)} -> ${mib(s.rssEndBytes)} (${pct(s.rssGrowthPct)}) | ${mib(s.rssMaxBytes)} | ` +
        `${mib(s.heapWarmFloorBytes)} -> ${mib(s.heapEndFloorBytes)} | ${mib(s.heapWarmBytes)} -> ${mib(s.heapEndBytes)} (${pct(s.heapGrowthPct)}) | ${s.msPerStep.toFixed(0)} | ${s.withinTargets ? 'yes' : 'NO'} |`,
    );
  }
  if (coordinator !== null) {
    const c = coordinator;
    console.log(
      `| coordinator | - | - | - | - | ${mib(c.warmFloorBytes)} -> ${mib(c.endFloorBytes)} | ${pct(c.floorGrowthPct)} | ${mib(c.warmMedianBytes)} -> ${mib(c.endMedianBytes)} (${pct(c.medianGrowthPct)}) | ` +
        `${mib(c.warmBytes)} -> ${mib(c.endBytes)} (${pct(c.growthPct)}) | ${mib(c.maxBytes)} | - | - | - | ${c.withinTarget ? 'yes' : 'NO'} |`,
    );
  }
  const allWithin = summaries.every((s) => s.withinTargets);
  console.log(`\nworkers within targets: ${allWithin ? 'yes' : 'NO'}; wall ${(wallS / 60).toFixed(1)} min`);
  if (values.out !== '') {
    const result = {
      settings: {
        workers: workerCount,
        width: Number(values.width),
        batchSize,
        steps: expectedSteps,
        epochs,
        stepsPerEpoch,
        warmupSteps,
        evalLimit: Number(values['eval-limit']),
        lr: Number(values.lr),
        backend: 'wasm',
      },
      rssGrowthTargetPct: RSS_GROWTH_TARGET_PCT,
      workers: summaries,
      coordinator,
      allWorkersWithinTargets: allWithin,
      wallSeconds: wallS,
      rows,
    };
    writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n');
  }
}
