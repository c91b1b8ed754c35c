// Data-parallel scaling on this machine: the same training run with 1 and with 2 local workers
// (`coordinator:serve --local-workers N`, each worker with its share of the cores: on onednn one
// worker computes with 2 threads on 2 cores, two with 1 each), reporting training images/s of
// the last epoch, the speed-up, the share of step time spent in the all-reduce (including waiting
// for the slower worker) and the mean step split, as the coordinator writes them to metrics.jsonl.
//
// --batch-size is the global batch, split across the workers (strong scaling: each worker's batch
// halves with 2 workers, and small batches run less efficiently on wasm). --per-worker-batch b
// instead gives N workers a global batch of N·b (weak scaling, how Horovod reports its scaling).
//
// --ceiling also runs N independent single-worker trainings at the same time (no communication at
// all) and sums their images/s: what N processes can compute on these cores, the bound for any
// data-parallel trainer here. Distributed efficiency = N-worker images/s / that ceiling.
//
// With --wire-dtypes float32,float16 it also compares gradient compression on the wire: the same
// seeded run, so the accuracy columns show what fp16/bf16 all-reduce costs.
//
// Run: node --conditions=source --import tsx bench/scaling.bench.ts [--width 0.125] [--train-limit 1024]
//      [--batch-size 64 | --per-worker-batch 32] [--epochs 2] [--workers 1,2] [--algorithm ring]
//      [--wire-dtypes float32] [--lr 0.05] [--eval-limit 200] [--cutout 0] [--label-smoothing 0] [--ceiling] [--repeats 1]
//      [--backend onednn]
//
// This machine's speed drifts by ±20% from minute to minute (other tenants): --repeats R runs every
// case R times, interleaved, and reports medians with their range.
import { availableParallelism } from 'node:os';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'onednn' },
    width: { type: 'string', default: '0.125' },
    'train-limit': { type: 'string', default: '1024' },
    'batch-size': { type: 'string', default: '64' },
    'per-worker-batch': { type: 'string' },
    epochs: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1,2' },
    algorithm: { type: 'string', default: 'ring' },
    'wire-dtypes': { type: 'string', default: 'float32' },
    lr: { type: 'string', default: '0.05' },
    'eval-limit': { type: 'string', default: '200' },
    // Off by default: these short runs learn more without the regularisers of the 100-epoch recipe.
    cutout: { type: 'string', default: '0' },
    'label-smoothing': { type: 'string', default: '0' },
    ceiling: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '1' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const dataDir = process.env['CIFAR10_DIR'] || join(repo, '..', 'shared', 'data', 'cifar-10-batches-bin');

interface StepSplit {
  computeMs: number;
  reduceMs: number;
  stepMs: number;
}
interface EpochRecord {
  kind: 'epoch';
  imagesPerSecond: number;
  communicationShare: number;
  valAccuracy: number;
  meanStepMs?: StepSplit;
}
interface RunResult {
  epoch: EpochRecord;
  testAccuracy: number;
}
interface Row extends RunResult {
  workers: number;
  wireDtype: string;
}

/** The batch each run gets: the global one, or N·b under --per-worker-batch. */
function globalBatch(workers: number): number {
  const perWorker = values['per-worker-batch'];
  return perWorker === undefined ? Number(values['batch-size']) : Number(perWorker) * workers;
}

/** One `coordinator:serve --local-workers N` run; resolves with its last epoch record and test accuracy. */
async function train(workers: number, batch: number, wireDtype: string, workerThreads?: number): Promise<RunResult> {
  const runDir = mkdtempSync(join(tmpdir(), 'scaling-'));
  try {
    const args = [
      ...['--conditions=source', '--import', 'tsx', join(repo, 'apps/coordinator/src/main.ts')],
      ...[
        '--local-workers',
        String(workers),
        '--backend',
        values.backend,
        '--algorithm',
        values.algorithm,
        '--port',
        '0',
        '--wire-dtype',
        wireDtype,
      ],
      ...['--width', values.width, '--epochs', values.epochs, '--train-limit', values['train-limit'], '--eval-limit', values['eval-limit']],
      ...[
        '--batch-size',
        String(batch),
        '--warmup-epochs',
        '0',
        '--lr',
        values.lr,
        '--cutout',
        values.cutout,
        '--label-smoothing',
        values['label-smoothing'],
      ],
      ...['--data-dir', dataDir, '--run-dir', runDir, '--no-dashboard'],
      ...(workerThreads === undefined ? [] : ['--local-worker-args', `--threads ${workerThreads}`]),
    ];
    const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30 * 60_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`${workers} worker(s): coordinator exited ${code}: ${stderr.slice(-2000)}`);
    const records = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; accuracy?: number });
    const epoch = records.filter((r): r is EpochRecord => r.kind === 'epoch').at(-1)!;
    return { epoch, testAccuracy: records.find((r) => r.kind === 'test')?.accuracy ?? NaN };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

console.log(
  `node ${process.version}, load before ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const repeats = Number(values.repeats);
const cases = values.workers
  .split(',')
  .map(Number)
  .flatMap((workers) => values['wire-dtypes'].split(',').map((wireDtype) => ({ workers, wireDtype })));
const rows: Row[] = [];
/** Images/s of N independent single-worker runs at once, per repeat. */
const ceilings = new Map<number, number[]>();
// Repeats go round all cases in turn, so slow spells of this shared machine hit every case alike.
for (let repeat = 1; repeat <= repeats; repeat += 1) {
  for (const { workers, wireDtype } of cases) {
    const result = await train(workers, globalBatch(workers), wireDtype);
    rows.push({ workers, wireDtype, ...result });
    console.log(JSON.stringify({ repeat, ...rows.at(-1) }));
  }
  if (values.ceiling) {
    for (const workers of new Set(cases.map((c) => c.workers).filter((n) => n > 1))) {
      // N separate single-worker runs at once, each with one worker's share of the batch.
      // Each with the cores one of N workers gets, as the distributed run's workers do.
      const share = Math.max(1, Math.floor(availableParallelism() / workers));
      const results = await Promise.all(Array.from({ length: workers }, () => train(1, globalBatch(workers) / workers, 'float32', share)));
      const total = results.reduce((sum, r) => sum + r.epoch.imagesPerSecond, 0);
      ceilings.set(workers, [...(ceilings.get(workers) ?? []), total]);
      console.log(
        JSON.stringify({ repeat, independentRuns: workers, imagesPerSecond: results.map((r) => r.epoch.imagesPerSecond), total }),
      );
    }
  }
}

const ofCase = (workers: number, wireDtype: string): Row[] => rows.filter((r) => r.workers === workers && r.wireDtype === wireDtype);
const base = median(rows.filter((r) => r.workers === 1 && r.wireDtype === 'float32').map((r) => r.epoch.imagesPerSecond));
const batchText =
  values['per-worker-batch'] === undefined ? `global batch ${values['batch-size']}` : `batch ${values['per-worker-batch']} per worker`;
console.log(
  `\nGoogLeNet width ${values.width}, ${batchText}, ${values.algorithm}, last of ${values.epochs} epochs on ${values['train-limit']} images (${values.backend}); ` +
    `median of ${repeats} interleaved repeat(s) (range in brackets); load after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
);
console.log(
  '| workers | wire | images/s | speed-up vs 1 | of ceiling | mean step ms (compute / all-reduce) | all-reduce share | val accuracy | test accuracy |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const range = (xs: number[]): string => (xs.length > 1 ? ` [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]` : '');
for (const { workers, wireDtype } of cases) {
  const runs = ofCase(workers, wireDtype);
  const ips = runs.map((r) => r.epoch.imagesPerSecond);
  const m = median(ips);
  const ceiling = ceilings.get(workers);
  const splits = runs.map((r) => r.epoch.meanStepMs).filter((x): x is StepSplit => x !== undefined);
  const split =
    splits.length === 0
      ? '—'
      : `${median(splits.map((x) => x.stepMs)).toFixed(0)} (${median(splits.map((x) => x.computeMs)).toFixed(0)} / ${median(splits.map((x) => x.reduceMs)).toFixed(0)})`;
  console.log(
    `| ${workers} | ${wireDtype} | ${m.toFixed(1)}${range(ips)} | ${Number.isNaN(base) ? '—' : `${(m / base).toFixed(2)}x`} | ${ceiling === undefined ? '—' : pct(m / median(ceiling))} | ` +
      `${split} | ${pct(median(runs.map((r) => r.epoch.communicationShare)))} | ${pct(median(runs.map((r) => r.epoch.valAccuracy)))} | ${pct(median(runs.map((r) => r.testAccuracy)))} |`,
  );
}
for (const [workers, totals] of ceilings) {
  const m = median(totals);
  console.log(
    `| ${workers} independent 1-worker runs at once (no communication) | float32 | ${m.toFixed(1)}${range(totals)} | ${Number.isNaN(base) ? '—' : `${(m / base).toFixed(2)}x`} | 100% | — | — | — | — |`,
  );
}
