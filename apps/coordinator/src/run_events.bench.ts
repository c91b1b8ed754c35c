// Memory per step of the coordinator's live feed with every consumer attached (the dashboard
// server and its state, /metrics, the final report): emits step events as a 2-worker run would,
// and prints the V8 heap growth per event after forced GCs. The feed keeps up to 20,000 step
// events for late dashboard viewers (run_events.ts), so the expected figure is that history's cost
// and nothing more; a consumer that kept per-step data would show above it.
//
// Run: node --expose-gc --conditions=source --import tsx apps/coordinator/src/run_events.bench.ts [events]
import pino from 'pino';
import { openDashboard } from './dashboard/open_dashboard.js';
import { FinalReport } from './final_report.js';
import { RunEvents, type RunEvent, type WorkerStep } from './run_events.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const events = Number(process.argv[2] ?? 5000);

function worker(rank: number): WorkerStep {
  return {
    rank,
    workerId: `w${rank}`,
    loss: Math.random(),
    count: 8,
    correct: 3,
    timings: {
      dataMs: Math.random(),
      computeMs: 1000 * Math.random(),
      reduceMs: Math.random(),
      applyMs: Math.random(),
      stepMs: 1000 * Math.random(),
    },
    waitMs: Math.random(),
    memory: { numTensors: 295, rssBytes: 5e8 + Math.random(), heapUsedBytes: 1e8 + Math.random() },
  };
}
function step(i: number): RunEvent {
  return {
    kind: 'step',
    atMs: Date.now(),
    globalStep: i,
    epoch: 1 + Math.floor(i / 100),
    step: i % 100,
    lr: Math.random(),
    loss: Math.random(),
    accuracy: Math.random(),
    images: 16,
    seconds: Math.random(),
    imagesPerSecond: 100 * Math.random(),
    skipped: false,
    generation: 0,
    workers: [worker(0), worker(1)],
  };
}
async function settledHeap(): Promise<number> {
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc!();
  return process.memoryUsage().heapUsed;
}

// The history alone: a feed with no consumer.
const bare = new RunEvents();
for (let i = 0; i < 500; i += 1) bare.emit(step(i));
const bareBefore = await settledHeap();
for (let i = 500; i < 500 + events; i += 1) bare.emit(step(i));
const barePerEvent = ((await settledHeap()) - bareBefore) / events;

const feed = new RunEvents();
const dashboard = await openDashboard({ dashboard: true, dashboardPort: 0, host: '127.0.0.1' }, feed, pino({ level: 'silent' }));
new FinalReport(feed);
feed.emit({
  kind: 'started',
  atMs: Date.now(),
  runId: 'bench',
  config: {},
  stepsPerEpoch: 100,
  totalSteps: 10 * events,
  epochs: events,
  resumedAtStep: null,
});
// Warm-up: JIT, the dashboard's first allocations.
for (let i = 0; i < 500; i += 1) feed.emit(step(i));
const before = await settledHeap();
for (let i = 500; i < 500 + events; i += 1) feed.emit(step(i));
const after = await settledHeap();
const perEvent = (after - before) / events;
console.log(`${events} step events (2 workers each) with the dashboard, /metrics and the final report attached:`);
console.log(
  `heap +${((after - before) / 2 ** 20).toFixed(2)} MiB, ${perEvent.toFixed(0)} B per step (the feed's history alone: ${barePerEvent.toFixed(0)} B); the 20,000-step history cap bounds it at ~${((perEvent * 20_000) / 2 ** 20).toFixed(0)} MiB`,
);
await dashboard?.close();
