// Ring all-reduce at cluster scale: each worker a separate process in its own host network
// namespace (infra/netns), with its own address, on links shaped by tc's tbf to 1 Gbit/s and
// 100 Mbit/s, the whole width-1 GoogLeNet gradient (countParams from @gnet/model: every trainable
// parameter, aux heads included, as a worker reduces it) summed by @gnet/collective's
// RingAllReduce over the same WebSocket connections a worker opens (connectRing), for 2, 3 and 4
// workers, fp32 and fp16 on the wire. Each figure: the median over timed rounds (after warm-up)
// of the slowest rank's time, against the ring's bandwidth bound 2(N-1)/N × bytes on the wire /
// link rate (nccl-tests' bus bandwidth). For reference, `tcp` rows send the same ring pattern
// (each rank 2(N-1)/N × fp32 bytes to its right neighbour while receiving as much from its left)
// over raw TCP sockets: what the links give any sender, without chunking, framing or adding.
// Ends with what a 1 Gbit link means for a width-1 step.
//
// Needs root, iproute2 and network namespaces (it says what is missing otherwise).
// Run: node --conditions=source --import tsx bench/cluster_allreduce.bench.ts [--rates 1000,100] [--workers 2,3,4]
//      [--dtypes float32,float16] [--rounds 8] [--slow-rounds 3] [--chunk-bytes 2097152] [--floats N] [--mtu 1500] [--no-tcp]
//      [--tbf-burst bytes] [--tbf-latency-ms ms] [--codec native|js]
import net from 'node:net';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectRing, DEFAULT_CHUNK_BYTES, RingAllReduce, WsPeerListener } from '@gnet/collective';
import { countParams } from '@gnet/model';
import { nativeFloat16Codec } from '@gnet/native-cpu';
import { BYTES_PER_ELEMENT, setFloat16Codec, type WireDtype } from '@gnet/protocol';
import { createHostNetwork, netnsUnavailableReason, type HostNetwork } from '@gnet/infra/netns';
import { median } from './stats.js';

/** What the parent asks of one worker process. */
interface Job {
  rank: number;
  addresses: string[];
  floats: number;
  chunkBytes: number;
  dtypes: WireDtype[];
  warmup: number;
  rounds: number;
  tcp: boolean;
  /** fp16 conversion: 'native' (the addon's F16C loops, what a worker uses where the addon loads) or 'js'. */
  codec: 'native' | 'js';
}

/** One worker's timings of one case (a wire dtype, or raw TCP). */
interface CaseReport {
  type: 'case';
  name: string;
  rank: number;
  roundMs: number[];
  cpuMsPerRound: number;
}

/** The ring listener's port, and the raw-TCP one: fixed, since each namespace is fresh. */
const RING_PORT = 29600;
const TCP_PORT = 29601;
/** Bound on each send / receive and on connecting, in milliseconds: a 100 Mbit round of 4 workers takes ~5 s. */
const WAIT_MS = 120_000;
/** Bound on a whole (rate, workers) case, in milliseconds. */
const CASE_TIMEOUT_MS = 10 * 60_000;
/**
 * Width-1 training speed for the step-time figure: onednn, 2 threads, batch 128 on this
 * machine's 2 cores, 22.2 images/s (README, "CPU backends against PyTorch").
 */
const WIDTH1_IMAGES_PER_S = 22.2;
const WIDTH1_BATCH = 128;

if (process.argv[2] === '--child') {
  await runChild(JSON.parse(process.argv[3]!) as Job);
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '1000,100' },
      workers: { type: 'string', default: '2,3,4' },
      dtypes: { type: 'string', default: 'float32,float16' },
      rounds: { type: 'string', default: '8' },
      'slow-rounds': { type: 'string', default: '3' },
      'chunk-bytes': { type: 'string', default: String(DEFAULT_CHUNK_BYTES) },
      floats: { type: 'string', default: String(countParams({ width: 1 }).total) },
      mtu: { type: 'string', default: '1500' },
      // tbf overrides (default: infra/netns's tbfSettings), for experiments with queue depth and burst.
      'tbf-burst': { type: 'string' },
      'tbf-latency-ms': { type: 'string' },
      'no-tcp': { type: 'boolean', default: false },
      // fp16 conversion: native (what a worker uses where the oneDNN addon loads) or the JS loops.
      codec: { type: 'string', default: 'native' },
    },
  });
  const reason = await netnsUnavailableReason();
  if (reason !== null) {
    console.log(`cluster_allreduce.bench needs hosts in network namespaces: ${reason}`);
    process.exitCode = 2;
    return;
  }
  const floats = Number(values.floats);
  const isWidth1 = floats === countParams({ width: 1 }).total;
  const dtypes = values.dtypes.split(',') as WireDtype[];
  const codec = values.codec;
  if (codec !== 'native' && codec !== 'js') throw new Error(`--codec must be native or js, but got '${codec}'`);
  const chunkBytes = Number(values['chunk-bytes']);
  const mtu = Number(values.mtu);
  const tbf = {
    ...(values['tbf-burst'] === undefined ? {} : { burstBytes: Number(values['tbf-burst']) }),
    ...(values['tbf-latency-ms'] === undefined ? {} : { latencyMs: Number(values['tbf-latency-ms']) }),
  };
  console.log(
    `ring all-reduce of ${floats.toLocaleString('en-US')} floats (${((floats * 4) / 1e6).toFixed(1)} MB fp32${isWidth1 ? '; width-1 GoogLeNet with aux heads' : ''}), chunk ${chunkBytes} B, ` +
      `fp16 conversion ${codec}, MTU ${mtu}, tbf ${JSON.stringify(tbf)}, each worker in its own netns, links shaped by tbf (both directions); node ${process.version}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log('');
  console.log(
    '| link | workers | wire | MB sent per rank | bound ms | median ms | min ms | % of bound | bus Gbit/s | CPU ms / round (rank 0) |',
  );
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  const width1: { rateMbit: number; workers: number; ms: number }[] = [];
  for (const rateMbit of values.rates.split(',').map(Number)) {
    // 100 Mbit rounds take seconds: fewer of them.
    const slow = rateMbit < 1000;
    const rounds = Number(slow ? values['slow-rounds'] : values.rounds);
    const warmup = slow ? 1 : 2;
    for (const workers of values.workers.split(',').map(Number)) {
      const reports = await runCase({
        rateMbit,
        workers,
        mtu,
        tbf,
        job: { floats, chunkBytes, dtypes, warmup, rounds, tcp: !values['no-tcp'], codec },
      });
      for (const name of [...dtypes, ...(values['no-tcp'] ? [] : ['tcp'])]) {
        const mine = reports.filter((r) => r.name === name);
        const perRound = mine[0]!.roundMs.map((_, i) => Math.max(...mine.map((r) => r.roundMs[i]!)));
        const bytes = floats * (name === 'tcp' ? 4 : BYTES_PER_ELEMENT[name as WireDtype]);
        const sent = ((2 * (workers - 1)) / workers) * bytes;
        const boundMs = ((sent * 8) / (rateMbit * 1e6)) * 1000;
        const ms = median(perRound);
        if (isWidth1 && name === 'float32' && rateMbit === 1000) width1.push({ rateMbit, workers, ms });
        const rank0 = mine.find((r) => r.rank === 0)!;
        console.log(
          `| ${rateMbit >= 1000 ? `${rateMbit / 1000} Gbit` : `${rateMbit} Mbit`} | ${workers} | ${name === 'tcp' ? 'raw TCP (fp32 bytes)' : name} | ${(sent / 1e6).toFixed(1)} | ` +
            `${boundMs.toFixed(0)} | ${ms.toFixed(0)} | ${Math.min(...perRound).toFixed(0)} | ${((boundMs / ms) * 100).toFixed(1)}% | ${((sent * 8) / (ms / 1000) / 1e9).toFixed(3)} | ${rank0.cpuMsPerRound.toFixed(0)} |`,
        );
      }
    }
  }
  console.log('');
  console.log(
    `(TCP over Ethernet frames of MTU ${mtu} carries at most ${(((mtu - 52) / (mtu + 14)) * 100).toFixed(1)}% of the link rate as payload: 52 bytes of IP + TCP headers with timestamps, 14 of Ethernet, per frame.)`,
  );
  const stepS = WIDTH1_BATCH / WIDTH1_IMAGES_PER_S;
  for (const { workers, ms } of width1) {
    console.log(
      `width 1 on a 1 Gbit link, ${workers} workers: all-reduce ${(ms / 1000).toFixed(2)} s per step, ${((ms / 1000 / stepS) * 100).toFixed(1)}% of a ${stepS.toFixed(2)} s step ` +
        `(batch ${WIDTH1_BATCH} at ${WIDTH1_IMAGES_PER_S} images/s per worker on 2 cores) if not overlapped with the backward pass`,
    );
  }
  console.log(
    `load after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

/** Builds `workers` hosts on `rateMbit` links, runs one worker process in each, and collects their reports. */
async function runCase(options: {
  rateMbit: number;
  workers: number;
  mtu: number;
  tbf: { burstBytes?: number; latencyMs?: number };
  job: Omit<Job, 'rank' | 'addresses'>;
}): Promise<CaseReport[]> {
  const network: HostNetwork = await createHostNetwork({
    hosts: Array.from({ length: options.workers }, (_, i) => ({ name: `w${i}`, rateMbit: options.rateMbit })),
    mtu: options.mtu,
    tbf: options.tbf,
  });
  const killer = setTimeout(() => void network.destroy(), CASE_TIMEOUT_MS);
  try {
    const addresses = network.hosts.map((h) => h.address);
    const file = fileURLToPath(import.meta.url);
    const children = network.hosts.map((h, rank) =>
      network.spawn(
        h.name,
        process.execPath,
        ['--conditions=source', '--import', 'tsx', file, '--child', JSON.stringify({ ...options.job, rank, addresses })],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      ),
    );
    const reports: CaseReport[] = [];
    const listening = children.map(
      (child, rank) =>
        new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`bench worker ${rank} exited with ${String(code)} before it listened`)));
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const message = JSON.parse(line) as { type: string };
            if (message.type === 'listening') resolve();
            else if (message.type === 'case') reports.push(message as CaseReport);
          });
        }),
    );
    await Promise.all(listening);
    // Everyone listens: now everyone may dial (a dial to a port not yet open would fail at once).
    for (const child of children) child.stdin!.end('go\n');
    const codes = await Promise.all(
      children.map(
        (child) =>
          new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve))),
      ),
    );
    if (codes.some((code) => code !== 0)) throw new Error(`bench workers exited with ${codes.join(', ')}`);
    return reports;
  } finally {
    clearTimeout(killer);
    await network.destroy();
  }
}

/** One worker: listen on our address, wait for `go`, connect the ring, time each case, report on stdout. */
async function runChild(job: Job): Promise<void> {
  const { rank, addresses, floats } = job;
  if (job.codec === 'native') {
    const { codec, reason } = nativeFloat16Codec();
    if (codec === null) throw new Error(`--codec native: ${reason}`);
    setFloat16Codec(codec);
  }
  const worldSize = addresses.length;
  const say = (message: object): void => void process.stdout.write(JSON.stringify(message) + '\n');
  const listener = await WsPeerListener.listen({ host: addresses[rank]!, port: RING_PORT });
  const tcp = job.tcp ? await listenTcp(addresses[rank]!) : null;
  say({ type: 'listening' });
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  const transport = await connectRing({
    listener,
    rank,
    worldSize,
    runId: 'cluster-bench',
    generation: 0,
    peers: addresses.map((a, r) => ({ rank: r, url: `ws://${a}:${RING_PORT}` })),
    timeoutMs: WAIT_MS,
  });
  // Seeded values in [-1, 1); refilled before every round so sums stay finite in fp16.
  const template = Float32Array.from({ length: floats }, (_, i) => Math.sin(i * 0.37 + rank));
  const data = new Float32Array(floats);
  let round = 0;
  const timeCase = async (name: string, once: () => Promise<void>): Promise<void> => {
    const roundMs: number[] = [];
    let cpu = process.cpuUsage();
    for (let i = 0; i < job.warmup + job.rounds; i += 1) {
      if (i === job.warmup) cpu = process.cpuUsage();
      data.set(template);
      const started = performance.now();
      await once();
      if (i >= job.warmup) roundMs.push(performance.now() - started);
    }
    const used = process.cpuUsage(cpu);
    say({ type: 'case', name, rank, roundMs, cpuMsPerRound: (used.user + used.system) / 1000 / job.rounds } satisfies CaseReport);
  };
  for (const wireDtype of job.dtypes) {
    const ring = new RingAllReduce({ transport, rank, worldSize, chunkBytes: job.chunkBytes, wireDtype, timeoutMs: WAIT_MS });
    await timeCase(wireDtype, () => ring.reduceBucket(data, { bucket: 0, offset: 0, length: floats }, { round: (round += 1) }));
  }
  await transport.close();
  await listener.close();
  if (tcp !== null) {
    const bytes = Math.round((((2 * (worldSize - 1)) / worldSize) * floats * 4) / 4) * 4;
    const ring = await tcp.connect(addresses[(rank - 1 + worldSize) % worldSize]!);
    await timeCase('tcp', () => ring.round(bytes));
    ring.close();
  }
  process.exit(0);
}

/** The raw-TCP reference ring: each rank sends to its right neighbour and receives from its left, one connection per direction. */
interface TcpRing {
  /** Sends `bytes` right and resolves once as many have arrived from the left (and ours are flushed). */
  round(bytes: number): Promise<void>;
  close(): void;
}

/** Listens on `host`:TCP_PORT for our right neighbour, who dials us to receive what we send. */
async function listenTcp(host: string): Promise<{ connect(left: string): Promise<TcpRing> }> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(TCP_PORT, host, resolve));
  return {
    connect: async (left: string): Promise<TcpRing> => {
      // We receive on the socket we dial: `onread` reads into one reused buffer (no allocation per read).
      let received = 0;
      let want = 0;
      let wake: (() => void) | null = null;
      const fromLeft = net.connect({
        host: left,
        port: TCP_PORT,
        onread: {
          buffer: Buffer.alloc(1 << 20),
          callback: (n: number) => {
            received += n;
            if (received >= want && wake !== null) {
              const resume = wake;
              wake = null;
              resume();
            }
            return true;
          },
        },
      });
      await new Promise<void>((resolve, reject) => fromLeft.once('connect', resolve).once('error', reject));
      const toRight = await accepted;
      toRight.setNoDelay(true);
      const block = Buffer.alloc(4 << 20, 1);
      return {
        round: async (bytes: number): Promise<void> => {
          want += bytes;
          const arrived = received >= want ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve));
          for (let left = bytes; left > 0; left -= block.length) {
            if (!toRight.write(block.subarray(0, Math.min(left, block.length))))
              await new Promise((resolve) => toRight.once('drain', resolve));
          }
          await arrived;
        },
        close: () => {
          fromLeft.destroy();
          toRight.destroy();
          server.close();
        },
      };
    },
  };
}
