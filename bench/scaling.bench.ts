// Data-parallel scaling on this machine: the same training run with 1 and with 2 local workers
// (`coordinator:serve --local-workers N`, one compute thread each), reporting training images/s of
// the last epoch, the speed-up, and the share of step time spent in the all-reduce (including
// waiting for the slower worker), as the coordinator writes them to metrics.jsonl.
//
// With --wire-dtypes float32,float16 it also compares gradient compression on the wire: the same
// seeded run, so the accuracy columns show what fp16/bf16 all-reduce costs.
//
// Run: node --conditions=source --import tsx bench/scaling.bench.ts [--width 0.125] [--train-limit 1024]
//      [--batch-size 64] [--epochs 2] [--workers 1,2] [--algorithm ring] [--wire-dtypes float32]
//      [--lr 0.05] [--eval-limit 200] [--cutout 0] [--label-smoothing 0]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '0.125' },
    'train-limit': { type: 'string', default: '1024' },
    'batch-size': { type: 'string', default: '64' },
    epochs: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1,2' },
    algorithm: { type: 'string', default: 'ring' },
    'wire-dtypes': { type: 'string', default: 'float32' },
    lr: { type: 'string', default: '0.05' },
    'eval-limit': { type: 'string', default: '200' },
    // Off by default: these short runs learn more without the regularisers of the 100-epoch recipe.
    cutout: { type: 'string', default: '0' },
    'label-smoothing': { type: 'string', default: '0' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const dataDir = process.env['CIFAR10_DIR'] || join(repo, '..', 'shared', 'data', 'cifar-10-batches-bin');

interface Row {
  workers: number;
  wireDtype: string;
  imagesPerSecond: number;
  communicationShare: number;
  valAccuracy: number;
  testAccuracy: number;
}
const rows: Row[] = [];
const cases = values.workers.split(',').map(Number).flatMap((workers) => values['wire-dtypes'].split(',').map((wireDtype) => ({ workers, wireDtype })));
for (const { workers, wireDtype } of cases) {
  const runDir = mkdtempSync(join(tmpdir(), 'scaling-'));
  try {
    const args = [
      ...['--conditions=source', '--import', 'tsx', join(repo, 'apps/coordinator/src/main.ts')],
      ...['--local-workers', String(workers), '--backend', 'wasm', '--algorithm', values.algorithm, '--port', '0', '--wire-dtype', wireDtype],
      ...['--width', values.width, '--epochs', values.epochs, '--train-limit', values['train-limit'], '--eval-limit', values['eval-limit']],
      ...['--batch-size', values['batch-size'], '--warmup-epochs', '0', '--lr', values.lr, '--cutout', values.cutout, '--label-smoothing', values['label-smoothing']],
      ...['--data-dir', dataDir, '--run-dir', runDir],
    ];
    const result = spawnSync(process.execPath, args, { cwd: repo, encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 1 << 26 });
    if (result.status !== 0) throw new Error(`${workers} worker(s): coordinator exited ${result.status}: ${result.stderr.slice(-2000)}`);
    const records = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; imagesPerSecond?: number; communicationShare?: number; valAccuracy?: number; accuracy?: number });
    const last = records.filter((r) => r.kind === 'epoch').at(-1)!;
    const testRecord = records.find((r) => r.kind === 'test');
    rows.push({
      workers,
      wireDtype,
      imagesPerSecond: last.imagesPerSecond ?? NaN,
      communicationShare: last.communicationShare ?? NaN,
      valAccuracy: last.valAccuracy ?? NaN,
      testAccuracy: testRecord?.accuracy ?? NaN,
    });
    console.log(JSON.stringify(rows.at(-1)));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}
const base = rows.find((r) => r.workers === 1)?.imagesPerSecond ?? NaN;
console.log(`\nGoogLeNet width ${values.width}, global batch ${values['batch-size']}, ${values.algorithm}, last of ${values.epochs} epochs on ${values['train-limit']} images (wasm)\n`);
console.log('| workers | wire | images/s | speed-up vs 1 | all-reduce share of step | val accuracy | test accuracy |\n|---|---|---|---|---|---|---|');
for (const r of rows) {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(`| ${r.workers} | ${r.wireDtype} | ${r.imagesPerSecond.toFixed(1)} | ${Number.isNaN(base) ? "—" : `${(r.imagesPerSecond / base).toFixed(2)}x`} | ${pct(r.communicationShare)} | ${pct(r.valAccuracy)} | ${pct(r.testAccuracy)} |`);
}
