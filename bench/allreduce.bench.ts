// Benchmark of @gnet/collective's all-reduce between separate Node processes on 127.0.0.1: a full
// GoogLeNet-sized gradient (6,166,250 float32 ≈ 24.7 MB: the size the README's loopback figures
// were measured with and kept so they stay comparable; today's width-1 model with both auxiliary
// heads has 10,222,398 parameters, `BENCH_FLOATS=10222398`, as bench/cluster_allreduce uses) summed by the
// ring over WebSocket, the star over WebSocket (hub in its own process, like the coordinator),
// and the same ring over raw TCP (bench/allreduce/tcp_transport.ts), for 2 and 4 workers; plus
// raw loopback TCP throughput between two processes, one way and both ways at once. Prints ms
// per all-reduce (median over rounds of the slowest rank), bus bandwidth 2(N-1)/N · bytes / time
// (nccl-tests' definition, for star too), and ws-ring / tcp-ring measured in the same run.
// Also ring-ws-plain: the ring over ws's own receiver instead of WsFrameReader, for comparison, and
// ring-wss: the ring over TLS (self-signed certificates; TLS connections are read through ws).
// Each world size runs the algorithm list BENCH_REPEATS times (default 3), interleaved, and pools
// the timed rounds: the machine's speed drifts from minute to minute, and interleaving spreads a
// slow spell over every algorithm instead of one. The ratios also print per repeat.
// Knobs (environment): BENCH_ALGORITHMS=ring-ws,ring-ws-plain,ring-wss,ring-tcp,star-ws BENCH_WORLD_SIZES=2,4 BENCH_REPEATS=3
// BENCH_SKIP_THROUGHPUT=1 BENCH_FLOATS=100000 BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
//
// Run: node --conditions=source --import tsx bench/allreduce.bench.ts [rounds] [chunkBytes]
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHUNK_BYTES } from '@gnet/collective';
import { runChild, type ChildJob, type ChildReport } from './allreduce/child.js';

/** Gradient length (see the header: the README's figures use it); BENCH_FLOATS overrides it (a smoke run uses a small one). */
const GRADIENT_FLOATS = Number(process.env.BENCH_FLOATS ?? 6_166_250);
const ALGORITHMS = (process.env.BENCH_ALGORITHMS ?? 'ring-ws,ring-tcp,star-ws,ring-ws-plain,ring-wss').split(
  ',',
) as ChildJob['algorithm'][];
const WORLD_SIZES = (process.env.BENCH_WORLD_SIZES ?? '2,4').split(',').map(Number);
const SKIP_THROUGHPUT = process.env.BENCH_SKIP_THROUGHPUT === '1';
/** Interleaved repeats of the algorithm list per world size (this machine's speed drifts). */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

if (process.argv[2] === '--child') {
  await runChild();
} else {
  await main();
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 10);
  const chunkBytes = Number(process.argv[3] ?? DEFAULT_CHUNK_BYTES);
  const bytes = GRADIENT_FLOATS * 4;
  console.log(
    `all-reduce of ${GRADIENT_FLOATS.toLocaleString('en-US')} float32 (${(bytes / 1e6).toFixed(1)} MB), ${REPEATS} x ${rounds} rounds after 3 warm-up, ` +
      `chunk ${chunkBytes} B, node ${process.version}, ${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );

  if (!SKIP_THROUGHPUT) {
    const oneWay = await runGroup('tcp-throughput', 2, { chunkBytes, rounds, floats: GRADIENT_FLOATS, bothWays: false });
    const bothWays = await runGroup('tcp-throughput', 2, { chunkBytes, rounds, floats: GRADIENT_FLOATS, bothWays: true });
    console.log(`raw TCP loopback, one way:          ${gbps(oneWay)} GB/s`);
    console.log(`raw TCP loopback, both ways at once: ${gbps(bothWays)} GB/s per direction`);
  }

  console.log('');
  console.log(
    '| workers | algorithm     | ms / all-reduce (median) | min ms | bus GB/s | CPU ms / round (rank 0) | page faults / round (rank 0) |',
  );
  console.log(
    '|--------:|---------------|-------------------------:|-------:|---------:|------------------------:|-----------------------------:|',
  );
  const ratios: string[] = [];
  for (const worldSize of WORLD_SIZES) {
    // Repeats go round the algorithms in turn, so a slow spell of this shared machine hits them
    // alike; the table pools every timed round of every repeat.
    const pooled = new Map<string, { perRound: number[]; cpuMs: number[]; faults: number[] }>();
    const perRepeat: Record<string, number>[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat += 1) {
      const medians: Record<string, number> = {};
      for (const algorithm of ALGORITHMS) {
        const reports = await runGroup(algorithm, worldSize, { chunkBytes, rounds, floats: GRADIENT_FLOATS, bothWays: false });
        const perRound = slowestPerRound(reports);
        const rank0 = reports.find((r) => r.rank === 0)!;
        const entry = pooled.get(algorithm) ?? { perRound: [], cpuMs: [], faults: [] };
        entry.perRound.push(...perRound);
        entry.cpuMs.push(rank0.cpuMsPerRound ?? 0);
        entry.faults.push(rank0.faultsPerRound ?? 0);
        pooled.set(algorithm, entry);
        medians[algorithm] = percentile(perRound, 0.5);
      }
      perRepeat.push(medians);
    }
    const results: Record<string, number> = {};
    for (const [algorithm, { perRound, cpuMs, faults }] of pooled) {
      const median = percentile(perRound, 0.5);
      results[algorithm] = median;
      const bus = (((2 * (worldSize - 1)) / worldSize) * bytes) / (median / 1000) / 1e9;
      console.log(
        `| ${worldSize} | ${algorithm.padEnd(13)} | ${median.toFixed(1).padStart(24)} | ${Math.min(...perRound)
          .toFixed(1)
          .padStart(6)} | ${bus.toFixed(2).padStart(8)} | ` +
          `${percentile(cpuMs, 0.5).toFixed(1).padStart(23)} | ${Math.round(percentile(faults, 0.5)).toString().padStart(28)} |`,
      );
    }
    const ratio = (a: string, b: string, what: string): void => {
      if (results[a] === undefined || results[b] === undefined) return;
      const each = perRepeat.map((m) => (m[a]! / m[b]!).toFixed(2));
      ratios.push(
        `N=${worldSize}: ${what} = ${(results[a] / results[b]).toFixed(2)}${REPEATS > 1 ? ` (per repeat: ${each.join(', ')})` : ''}`,
      );
    };
    ratio('ring-ws', 'ring-tcp', 'ws-ring / tcp-ring');
    ratio('ring-wss', 'ring-ws', 'wss-ring / ws-ring (the cost of TLS)');
  }
  console.log('');
  for (const line of ratios) console.log(line);
  console.log(
    `load after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

/** Per round, the slowest rank's milliseconds (workers only). */
function slowestPerRound(reports: readonly ChildReport[]): number[] {
  const workers = reports.filter((r) => r.roundMs.length > 0);
  return workers[0]!.roundMs.map((_, i) => Math.max(...workers.map((r) => r.roundMs[i]!)));
}

function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function gbps(reports: readonly ChildReport[]): string {
  const rates = reports.filter((r) => r.bytesPerSecond > 0).map((r) => r.bytesPerSecond / 1e9);
  return rates.map((r) => r.toFixed(2)).join(' / ');
}

/**
 * Forks one process per member (workers, plus the hub for star), passes every member's address
 * to all once they listen, and collects their reports.
 */
async function runGroup(
  algorithm: ChildJob['algorithm'],
  worldSize: number,
  settings: Pick<ChildJob, 'chunkBytes' | 'rounds' | 'floats' | 'bothWays'>,
): Promise<ChildReport[]> {
  const members = algorithm === 'star-ws' ? worldSize + 1 : worldSize;
  const file = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [];
  const listening: Promise<{ address: string; cert?: string | null }>[] = [];
  const reports: Promise<ChildReport>[] = [];
  for (let rank = 0; rank < members; rank += 1) {
    const job: ChildJob = { algorithm, rank, worldSize, ...settings };
    const child = fork(file, ['--child', JSON.stringify(job)], {
      // BENCH_NODE_FLAGS: extra node flags for the children, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
      execArgv: ['--conditions=source', '--import', 'tsx', ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    listening.push(waitFor<{ address: string; cert?: string | null }>(child, 'listening'));
    reports.push(waitFor<{ report: ChildReport }>(child, 'report').then((m) => m.report));
  }
  const listened = await Promise.all(listening);
  const addresses = listened.map((m) => m.address);
  const certs = listened.map((m) => m.cert ?? null);
  for (const child of children) child.send({ type: 'addresses', addresses, certs });
  const all = await Promise.all(reports);
  await Promise.all(
    children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))),
  );
  return all;
}

function waitFor<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`bench child exited with ${code} before '${type}'`)));
  });
}
