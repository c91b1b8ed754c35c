// One process of the all-reduce benchmark (see ../allreduce.bench.ts): a ring or star worker, the
// star hub, or one end of the raw TCP throughput test. Talks to the parent over IPC: gets its
// job, reports where it listens, gets everyone's addresses, runs, reports its timings, exits.
import net from 'node:net';
import {
  acceptStarWorkers,
  connectRing,
  connectStarWorker,
  GradientReducer,
  planBuckets,
  RingAllReduce,
  StarAllReduce,
  StarHub,
  WsPeerListener,
  type BucketAllReduce,
  type Transport,
} from '@gnet/collective';
import { selfSignedCert } from '@gnet/collective/testing';
import { CHUNK_HEADER_BYTES } from '@gnet/protocol';
import { TcpTransport } from './tcp_transport.js';

/** What the parent asks a child to do. */
export interface ChildJob {
  /**
   * `ring-ws-plain`: the ring over ws's own receiver (no WsFrameReader), for comparison;
   * `ring-wss`: the ring over TLS (each rank's own self-signed certificate, trusted by its dialer).
   */
  algorithm: 'ring-ws' | 'ring-ws-plain' | 'ring-wss' | 'ring-tcp' | 'star-ws' | 'tcp-throughput';
  /** Worker rank; `worldSize` is the star hub. */
  rank: number;
  worldSize: number;
  chunkBytes: number;
  /** Timed rounds, after WARMUP_ROUNDS untimed ones. */
  rounds: number;
  /** Gradient length in float32 elements. */
  floats: number;
  /** tcp-throughput: both processes send at once. */
  bothWays: boolean;
}

/** What a child reports. */
export interface ChildReport {
  rank: number;
  /** Milliseconds of each timed all-reduce (empty for the hub and throughput ends). */
  roundMs: number[];
  /** tcp-throughput receivers: bytes per second received. */
  bytesPerSecond: number;
  /** Minor page faults per timed round (first touches of fresh memory). */
  faultsPerRound?: number;
  /** CPU time (user + system) per timed round, in milliseconds. */
  cpuMsPerRound?: number;
}

const WARMUP_ROUNDS = 3;
/** Bytes each sender pushes in the throughput test. */
const THROUGHPUT_BYTES = 512 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

function nextMessage<T>(type: string): Promise<T> {
  return new Promise<T>((resolve) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      process.off('message', onMessage);
      resolve(message as T);
    };
    process.on('message', onMessage);
  });
}

function send(message: object): void {
  process.send!(message);
}

/** Entry point of a child process. */
export async function runChild(): Promise<void> {
  // The job comes in argv, not over IPC: a message sent before this process listens is lost.
  const job = JSON.parse(process.argv[3]!) as ChildJob;
  let report: ChildReport;
  switch (job.algorithm) {
    case 'tcp-throughput':
      report = await throughput(job);
      break;
    case 'ring-tcp':
      report = await ringTcp(job);
      break;
    case 'ring-ws':
    case 'ring-ws-plain':
    case 'ring-wss':
      report = await ringWs(job);
      break;
    case 'star-ws':
      report = await starWs(job);
      break;
  }
  send({ type: 'report', report });
  process.disconnect();
  // Sockets may linger in their close handshakes; the numbers are in.
  setTimeout(() => process.exit(0), 200).unref();
}

function gradient(floats: number, rank: number): Float32Array {
  const out = new Float32Array(floats);
  let seed = rank + 1;
  for (let i = 0; i < floats; i += 1) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = seed / 2 ** 31 - 1;
  }
  return out;
}

async function timeRounds(
  job: ChildJob,
  algorithm: BucketAllReduce,
): Promise<{ roundMs: number[]; faultsPerRound: number; cpuMsPerRound: number }> {
  const buckets = planBuckets([job.floats], job.floats * 4);
  const reducer = new GradientReducer({ algorithm, buckets });
  const grad = gradient(job.floats, job.rank);
  const roundMs: number[] = [];
  let faults = 0;
  let cpu = process.cpuUsage();
  for (let round = 1; round <= WARMUP_ROUNDS + job.rounds; round += 1) {
    if (round === WARMUP_ROUNDS + 1) {
      faults = process.resourceUsage().minorPageFault;
      cpu = process.cpuUsage();
    }
    const started = performance.now();
    await reducer.allReduce(grad, { round });
    if (round > WARMUP_ROUNDS) roundMs.push(performance.now() - started);
  }
  const used = process.cpuUsage(cpu);
  return {
    roundMs,
    faultsPerRound: (process.resourceUsage().minorPageFault - faults) / job.rounds,
    cpuMsPerRound: (used.user + used.system) / 1000 / job.rounds,
  };
}

async function ringWs(job: ChildJob): Promise<ChildReport> {
  const tls = job.algorithm === 'ring-wss' ? await selfSignedCert() : null;
  const listener = await WsPeerListener.listen({ tls });
  // A wss:// rank sends its certificate with its address: its left neighbour dials it and must trust it.
  send({ type: 'listening', address: listener.url, cert: tls?.cert ?? null });
  const { addresses, certs } = await nextMessage<{ addresses: string[]; certs: (string | null)[] }>('addresses');
  const peers = addresses.map((url, rank) => ({ rank, url }));
  const right = (job.rank + 1) % job.worldSize;
  const transport = await connectRing({
    ca: certs[right] ?? null,
    listener,
    rank: job.rank,
    worldSize: job.worldSize,
    runId: 'bench',
    generation: 0,
    peers,
    timeoutMs: TIMEOUT_MS,
    fastReceive: job.algorithm === 'ring-ws',
  });
  const ring = new RingAllReduce({
    transport,
    rank: job.rank,
    worldSize: job.worldSize,
    chunkBytes: job.chunkBytes,
    timeoutMs: TIMEOUT_MS,
  });
  const timed = await timeRounds(job, ring);
  await transport.close();
  await listener.close();
  return { rank: job.rank, ...timed, bytesPerSecond: 0 };
}

async function starWs(job: ChildJob): Promise<ChildReport> {
  const { rank, worldSize, chunkBytes } = job;
  if (rank === worldSize) {
    const listener = await WsPeerListener.listen();
    send({ type: 'listening', address: listener.url });
    await nextMessage('addresses');
    const transport = await acceptStarWorkers({ listener, worldSize, runId: 'bench', generation: 0, timeoutMs: TIMEOUT_MS });
    const hub = new StarHub({
      transport,
      worldSize,
      buckets: planBuckets([job.floats], job.floats * 4),
      chunkBytes,
      timeoutMs: TIMEOUT_MS,
    });
    for (let round = 1; round <= WARMUP_ROUNDS + job.rounds; round += 1) await hub.reduceRound(round);
    await transport.close();
    await listener.close();
    return { rank, roundMs: [], bytesPerSecond: 0 };
  }
  send({ type: 'listening', address: '' });
  const { addresses } = await nextMessage<{ addresses: string[] }>('addresses');
  const transport = await connectStarWorker({
    url: addresses[worldSize]!,
    rank,
    worldSize,
    runId: 'bench',
    generation: 0,
    timeoutMs: TIMEOUT_MS,
  });
  const star = new StarAllReduce({ transport, rank, worldSize, chunkBytes, timeoutMs: TIMEOUT_MS });
  const timed = await timeRounds(job, star);
  await transport.close();
  return { rank, ...timed, bytesPerSecond: 0 };
}

/** Listens on 127.0.0.1; resolves with the server and a function that waits for the next peer's socket and rank greeting. */
async function listenTcp(): Promise<{ server: net.Server; port: number; nextPeer: () => Promise<{ rank: number; socket: net.Socket }> }> {
  const waiting: { rank: number; socket: net.Socket }[] = [];
  const wakers: (() => void)[] = [];
  const server = net.createServer((socket) => {
    // The dialer's first 4 bytes are its rank; it sends nothing else on this connection.
    socket.once('data', (data: Buffer) => {
      socket.pause();
      waiting.push({ rank: data.readUInt32LE(0), socket });
      wakers.shift()?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const nextPeer = async (): Promise<{ rank: number; socket: net.Socket }> => {
    while (waiting.length === 0) await new Promise<void>((resolve) => wakers.push(resolve));
    return waiting.shift()!;
  };
  return { server, port, nextPeer };
}

function rankBytes(rank: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32LE(rank, 0);
  return buf;
}

async function ringTcp(job: ChildJob): Promise<ChildReport> {
  const { rank, worldSize } = job;
  const { server, port, nextPeer } = await listenTcp();
  send({ type: 'listening', address: String(port) });
  const { addresses } = await nextMessage<{ addresses: string[] }>('addresses');
  const transport = new TcpTransport(rank, CHUNK_HEADER_BYTES + job.chunkBytes);
  // Receive from rank + 1 on the connection we dial; send to rank - 1 on the one we accept.
  const right = (rank + 1) % worldSize;
  await transport.dialReceiver(right, Number(addresses[right]), rankBytes(rank));
  const peer = await nextPeer();
  transport.attachSender(peer.rank, peer.socket);
  const ring = new RingAllReduce({ transport: transport as Transport, rank, worldSize, chunkBytes: job.chunkBytes, timeoutMs: TIMEOUT_MS });
  const timed = await timeRounds(job, ring);
  await transport.close();
  server.close();
  return { rank, ...timed, bytesPerSecond: 0 };
}

async function throughput(job: ChildJob): Promise<ChildReport> {
  const { rank } = job;
  const { server, port, nextPeer } = await listenTcp();
  send({ type: 'listening', address: String(port) });
  const { addresses } = await nextMessage<{ addresses: string[] }>('addresses');
  const other = 1 - rank;
  const sending = rank === 0 || job.bothWays;
  const receiving = rank === 1 || job.bothWays;
  // Receive on a socket we dial (onread into one reused buffer), send on one we accept.
  let received = 0;
  let firstMs = 0;
  let lastMs = 0;
  let done!: () => void;
  const allReceived = new Promise<void>((resolve) => (done = resolve));
  const readBuffer = Buffer.alloc(256 * 1024);
  const socket = net.connect({
    host: '127.0.0.1',
    port: Number(addresses[other]),
    onread: {
      buffer: readBuffer,
      callback: (nread) => {
        if (received === 0) firstMs = performance.now();
        received += nread;
        if (received >= THROUGHPUT_BYTES) {
          lastMs = performance.now();
          done();
        }
        return true;
      },
    },
  });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(rankBytes(rank));
  const peer = await nextPeer();
  if (sending) {
    const block = Buffer.alloc(4 * 1024 * 1024, 1);
    // Two writes in flight: one being flushed while the next is queued.
    let inFlight = 0;
    let wake: (() => void) | null = null;
    for (let sent = 0; sent < THROUGHPUT_BYTES; sent += block.byteLength) {
      while (inFlight >= 2) await new Promise<void>((resolve) => (wake = resolve));
      inFlight += 1;
      peer.socket.write(block, () => {
        inFlight -= 1;
        const resume = wake;
        wake = null;
        resume?.();
      });
    }
  }
  if (receiving) await allReceived;
  // Let the other side finish receiving before anything closes.
  await new Promise((resolve) => setTimeout(resolve, sending && !receiving ? 2000 : 100));
  socket.destroy();
  peer.socket.destroy();
  server.close();
  return { rank, roundMs: [], bytesPerSecond: receiving ? received / ((lastMs - firstMs) / 1000) : 0 };
}
