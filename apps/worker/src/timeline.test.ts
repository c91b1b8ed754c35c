import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Timeline, type TraceEvent } from './timeline.js';

interface Trace {
  displayTimeUnit: string;
  traceEvents: TraceEvent[];
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'timeline-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const facts = { round: 7, epoch: 1, step: 2, globalStep: 12, generation: 0, loss: 2.25, skipped: false };

test('a step becomes one event with its four phases nested inside, in trace-event format', () =>
  withDir(async (dir) => {
    const path = join(dir, 'nested', 'timeline.json');
    const timeline = Timeline.open(path, { processName: 'worker w0', pid: 4242 });
    const t0 = performance.now();
    timeline.trainStep(facts, [t0, t0 + 1.5, t0 + 10, t0 + 14.25, t0 + 15]);
    timeline.close();
    const trace = JSON.parse(await readFile(path, 'utf8')) as Trace;
    assert.equal(trace.displayTimeUnit, 'ms');
    const [meta, step, ...phases] = trace.traceEvents;
    assert.deepEqual(meta, { name: 'process_name', ph: 'M', pid: 4242, tid: 0, args: { name: 'worker w0' } });
    assert.deepEqual({ ...step, ts: 0 }, { name: 'step', cat: 'step', ph: 'X', ts: 0, dur: 15_000, pid: 4242, tid: 0, args: facts });
    // Microseconds since the Unix epoch, so traces of several processes line up.
    assert.ok(Math.abs(step!.ts! / 1000 - Date.now()) < 60_000, `ts ${step!.ts} is not near now`);
    assert.deepEqual(
      phases.map((e) => [e.name, e.cat, e.ts! - step!.ts!, e.dur]),
      [
        ['data', 'step', 0, 1500],
        ['compute', 'step', 1500, 8500],
        ['all-reduce', 'collective', 10_000, 4250],
        ['apply', 'step', 14_250, 750],
      ],
    );
    // Nested: every phase lies within the step.
    for (const e of phases) assert.ok(e.ts! >= step!.ts! && e.ts! + e.dur! <= step!.ts! + step!.dur! + 1, e.name);
  }));

test('the file is complete JSON after every event, so a killed worker leaves a readable trace', () =>
  withDir(async (dir) => {
    const path = join(dir, 'timeline.json');
    const timeline = Timeline.open(path, { processName: 'w' });
    assert.deepEqual((JSON.parse(await readFile(path, 'utf8')) as Trace).traceEvents.length, 1);
    const t = performance.now();
    for (let i = 0; i < 200; i += 1) {
      timeline.span('evaluation', 'eval', t + i, t + i + 0.5, { split: 'val', i });
      if (i % 50 === 0) assert.equal((JSON.parse(await readFile(path, 'utf8')) as Trace).traceEvents.length, i + 2);
    }
    // Not closed: as a process that died here would leave it.
    const trace = JSON.parse(await readFile(path, 'utf8')) as Trace;
    assert.equal(trace.traceEvents.length, 201);
    assert.equal(timeline.count, 201);
    assert.deepEqual(trace.traceEvents.at(-1)!.args, { split: 'val', i: 199 });
    timeline.close();
  }));

test('a failing file (disk full) stops the timeline once and the caller goes on', () => {
  const errors: Error[] = [];
  // Linux's /dev/full refuses every write with ENOSPC.
  const timeline = Timeline.open('/dev/full', { processName: 'w', onError: (err) => errors.push(err) });
  timeline.span('data', 'step', 0, 1);
  timeline.trainStep(facts, [0, 1, 2, 3, 4]);
  timeline.close();
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
  assert.equal(timeline.count, 0);
});
