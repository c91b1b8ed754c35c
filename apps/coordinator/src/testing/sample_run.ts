// Test helpers for the dashboard: a small run's events as coordinator.ts emits them (two workers, a
// skipped step, an epoch with validation, a loss and a re-formed group, a checkpoint, the test),
// a quiet logger that keeps its lines, and a reader of Server-Sent Events over real HTTP.
import { get, type IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { RunEvent, WorkerStep } from '../run_events.js';

const timings = (stepMs: number, reduceMs: number) => ({ dataMs: 5, computeMs: stepMs - reduceMs - 10, reduceMs, applyMs: 5, stepMs });

function worker(rank: number, workerId: string, stepMs: number, reduceMs: number, waitMs: number): WorkerStep {
  return {
    rank,
    workerId,
    loss: 2 + rank / 10,
    count: 12,
    correct: 3 + rank,
    timings: timings(stepMs, reduceMs),
    waitMs,
    memory: { numTensors: 400 + rank, rssBytes: (300 + rank) * 2 ** 20, heapUsedBytes: 50 * 2 ** 20 },
  };
}

/** A step of the sample run with two workers (or only `w0` from generation 1 on). */
export function stepEvent(
  globalStep: number,
  options: { skipped?: boolean; generation?: number; loss?: number } = {},
): Extract<RunEvent, { kind: 'step' }> {
  const generation = options.generation ?? 0;
  const workers = generation === 0 ? [worker(0, 'w0', 900, 300, 100), worker(1, 'w1', 1000, 310, 0)] : [worker(0, 'w0', 800, 0, 50)];
  const images = workers.reduce((s, worker) => s + worker.count, 0);
  return {
    kind: 'step',
    atMs: 1_000 + globalStep * 1000,
    globalStep,
    epoch: Math.floor(globalStep / 4),
    step: globalStep % 4,
    lr: 0.05,
    loss: options.loss ?? 2.3 - globalStep * 0.01,
    accuracy: 0.25,
    images,
    seconds: 1,
    imagesPerSecond: images,
    skipped: options.skipped ?? false,
    generation,
    workers,
  };
}

/** The sample run: 4 steps per epoch, 2 epochs; w1 is lost in epoch 2 and w0 carries on alone. */
export function sampleRun(): RunEvent[] {
  const gen0Workers = [
    { rank: 0, workerId: 'w0', backend: 'wasm', device: 'cpu (wasm simd)' },
    { rank: 1, workerId: 'w1', backend: 'wasm', device: 'cpu (wasm simd)' },
  ];
  const epoch1 = {
    kind: 'epoch' as const,
    epoch: 1,
    steps: 4,
    images: 96,
    seconds: 4,
    imagesPerSecond: 24,
    lr: 0.05,
    trainLoss: 2.28,
    trainAccuracy: 0.25,
    valLoss: 2.2,
    valAccuracy: 0.3,
    communicationShare: 0.3,
  };
  return [
    {
      kind: 'started',
      atMs: 0,
      runId: 'run-1',
      config: { width: 0.0625, batchSize: 24, epochs: 2 },
      stepsPerEpoch: 4,
      totalSteps: 8,
      epochs: 2,
      resumedAtStep: null,
    },
    { kind: 'membership', atMs: 10, event: 'joined', workerId: 'w0', rank: null, reason: 'wasm on cpu (wasm simd)' },
    { kind: 'membership', atMs: 20, event: 'joined', workerId: 'w1', rank: null, reason: 'wasm on cpu (wasm simd)' },
    { kind: 'generation', atMs: 30, generation: 0, worldSize: 2, globalStep: 0, workers: gen0Workers, microBatch: 12 },
    stepEvent(0),
    stepEvent(1, { skipped: true, loss: Number.NaN }),
    stepEvent(2),
    stepEvent(3),
    { kind: 'evaluation', atMs: 5_000, split: 'val', epoch: 0, loss: 2.2, accuracy: 0.3, count: 40, perClassAccuracy: {}, confusion: [] },
    { kind: 'epoch', atMs: 5_001, record: epoch1 },
    { kind: 'checkpoint', atMs: 5_100, globalStep: 4, path: '/runs/x/checkpoints/ckpt-4.ckpt' },
    stepEvent(4),
    { kind: 'membership', atMs: 6_500, event: 'lost', workerId: 'w1', rank: 1, reason: 'socket closed' },
    { kind: 'generation', atMs: 7_000, generation: 1, worldSize: 1, globalStep: 5, workers: [gen0Workers[0]!], microBatch: 12 },
    stepEvent(5, { generation: 1 }),
  ];
}

/** The sample run's ending: steps 6 and 7, the second epoch, the test. */
export function sampleRunEnd(): RunEvent[] {
  const epoch2 = {
    kind: 'epoch' as const,
    epoch: 2,
    steps: 4,
    images: 72,
    seconds: 4,
    imagesPerSecond: 18,
    lr: 0.05,
    trainLoss: 2.2,
    trainAccuracy: 0.3,
    valLoss: 2.1,
    valAccuracy: 0.4,
    communicationShare: 0.1,
  };
  return [
    stepEvent(6, { generation: 1 }),
    stepEvent(7, { generation: 1 }),
    { kind: 'evaluation', atMs: 9_000, split: 'val', epoch: 1, loss: 2.1, accuracy: 0.4, count: 40, perClassAccuracy: {}, confusion: [] },
    { kind: 'epoch', atMs: 9_001, record: epoch2 },
    {
      kind: 'evaluation',
      atMs: 9_500,
      split: 'test',
      epoch: 1,
      loss: 2.05,
      accuracy: 0.45,
      count: 40,
      perClassAccuracy: {},
      confusion: [],
    },
    { kind: 'finished', atMs: 9_600, test: { kind: 'test', split: 'test', loss: 2.05, accuracy: 0.45, perClassAccuracy: {}, count: 40 } },
  ];
}

/** A logger whose NDJSON lines land in `lines` instead of stdout. */
export function quietLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** One Server-Sent Event as received. */
export interface SseMessage {
  event: string;
  data: string;
}

/** An open `/events` stream and what arrived so far. */
export interface SseReader {
  response: IncomingMessage;
  messages: SseMessage[];
  /** Resolves once `count` messages (of any event type) have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<SseMessage[]>;
  ended: Promise<void>;
  close(): void;
}

/** Opens `url` (an `/events` URL) and parses the stream as it comes (the WHATWG format, as much as the server uses). */
export function readSse(url: string): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const req = get(url, (response) => {
      const messages: SseMessage[] = [];
      const waiters = new Set<() => void>();
      let rest = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const blocks = (rest + chunk).split('\n\n');
        rest = blocks.pop() ?? '';
        for (const block of blocks) {
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) messages.push({ event, data: data.join('\n') });
        }
        for (const waiter of waiters) waiter();
      });
      const ended = new Promise<void>((done) => response.on('close', () => done()));
      const waitFor = (count: number, timeoutMs: number): Promise<SseMessage[]> =>
        new Promise((ok, fail) => {
          const check = (): void => {
            if (messages.length < count) return;
            clearTimeout(timer);
            waiters.delete(check);
            ok(messages);
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`only ${messages.length} of ${count} server-sent events arrived within ${timeoutMs} ms`));
          }, timeoutMs);
          waiters.add(check);
          check();
        });
      resolve({ response, messages, waitFor, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}
