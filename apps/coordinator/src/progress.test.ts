import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { expectedEvalImages, formatSeconds, ProgressModel, TerminalProgress, type BarChange, type ProgressStream } from './progress.js';
import { RunEvents, type RunEvent } from './run_events.js';

const T0 = 1_700_000_000_000;
const STEPS = 4;

const started: RunEvent = {
  kind: 'started',
  atMs: T0,
  runId: 'r',
  config: {},
  stepsPerEpoch: STEPS,
  totalSteps: 2 * STEPS,
  epochs: 2,
  resumedAtStep: null,
};

/** Step `step` of `epoch`, 64 images, ending at `atMs` after `seconds` of round time. */
function step(epoch: number, stepInEpoch: number, atMs: number, seconds = 0.5, loss = 2): RunEvent {
  return {
    kind: 'step',
    atMs,
    globalStep: epoch * STEPS + stepInEpoch,
    epoch,
    step: stepInEpoch,
    lr: 0.1,
    loss,
    accuracy: 0.2,
    images: 64,
    seconds,
    imagesPerSecond: 128,
    skipped: false,
    generation: 0,
    workers: [],
  };
}

function evaluation(split: 'val' | 'test', atMs: number, count: number, accuracy: number): RunEvent {
  return { kind: 'evaluation', atMs, split, epoch: 0, loss: 1.5, accuracy, count, perClassAccuracy: {}, confusion: [] };
}

const ops = (changes: BarChange[]): string[] => changes.map((c) => `${c.op} ${c.bar.label}`);

test('an epoch bar counts steps, with images/s and an ETA from the steps so far', () => {
  const model = new ProgressModel();
  assert.deepEqual(model.onEvent(started), []);
  // The first step took 0.5 s and ended at T0 + 500: the epoch started at T0.
  const first = model.onEvent(step(0, 0, T0 + 500));
  assert.deepEqual(ops(first), ['start epoch 1/2', 'update epoch 1/2']);
  assert.equal(first[0]!.bar.rate, '—');
  assert.deepEqual(first[1]!.bar, {
    label: 'epoch 1/2',
    value: 1,
    total: STEPS,
    progress: `1/${STEPS} steps`,
    rate: '128.0 img/s',
    eta: '2s',
    info: 'loss 2.000',
  });
  // Second step at T0 + 2000: 2 steps in 2 s, 1 s a step, 2 to go.
  const second = model.onEvent(step(0, 1, T0 + 2000, 0.5, 1.8765));
  assert.deepEqual(ops(second), ['update epoch 1/2']);
  assert.equal(second[0]!.bar.eta, '2s');
  assert.equal(second[0]!.bar.rate, '64.0 img/s');
  assert.equal(second[0]!.bar.info, 'loss 1.877');
  model.onEvent(step(0, 2, T0 + 3000));
  // The epoch's last step: its bar stops and the validation bar starts (size and rate unknown yet).
  const last = model.onEvent(step(0, 3, T0 + 4000));
  assert.deepEqual(ops(last), ['update epoch 1/2', 'stop epoch 1/2', 'start validation 1/2']);
  assert.equal(last[1]!.bar.eta, '0s');
  assert.deepEqual(last[2]!.bar, {
    label: 'validation 1/2',
    value: 0,
    total: 1,
    progress: '? images',
    rate: '—',
    eta: '?',
    info: 'elapsed 0s',
  });
});

test('an evaluation bar estimates from the previous evaluation and ends on the measured figures', () => {
  const model = new ProgressModel({ val: 500 });
  model.onEvent(started);
  for (let s = 0; s < STEPS; s += 1) model.onEvent(step(0, s, T0 + 1000 * (s + 1)));
  // First validation: size known from --eval-limit, rate not yet.
  assert.deepEqual(model.tick(T0 + 5000)?.bar, {
    label: 'validation 1/2',
    value: 0,
    total: 500,
    progress: '?/500 images',
    rate: '—',
    eta: '?',
    info: 'elapsed 1s',
  });
  // It took 2 s: 250 images/s.
  const done = model.onEvent(evaluation('val', T0 + 6000, 500, 0.312));
  assert.deepEqual(ops(done), ['update validation 1/2', 'stop validation 1/2']);
  assert.deepEqual(done[0]!.bar, {
    label: 'validation 1/2',
    value: 500,
    total: 500,
    progress: '500/500 images',
    rate: '250.0 img/s',
    eta: '0s',
    info: 'accuracy 31.20%, loss 1.500, took 2.0s',
  });
  assert.equal(model.tick(T0 + 6100), null, 'no evaluation in progress');
  model.onEvent({
    kind: 'epoch',
    atMs: T0 + 6000,
    record: {
      kind: 'epoch',
      epoch: 1,
      steps: STEPS,
      images: 256,
      seconds: 4,
      imagesPerSecond: 64,
      lr: 0.1,
      trainLoss: 2,
      trainAccuracy: 0.2,
    },
  });
  for (let s = 0; s < STEPS; s += 1) model.onEvent(step(1, s, T0 + 7000 + 1000 * s));
  // Second validation started at T0 + 10000; 1 s in, at 250 images/s: ~250 of 500, 1 s to go.
  assert.deepEqual(model.tick(T0 + 11_000)?.bar, {
    label: 'validation 2/2',
    value: 250,
    total: 500,
    progress: '~250/500 images',
    rate: '~250.0 img/s',
    eta: '1s',
    info: 'elapsed 1s',
  });
  // Slower than the estimate: held below the total until the results are in.
  assert.equal(model.tick(T0 + 20_000)?.bar.value, 499);
  model.onEvent(evaluation('val', T0 + 20_000, 500, 0.4));
  model.onEvent({
    kind: 'epoch',
    atMs: T0 + 20_000,
    record: {
      kind: 'epoch',
      epoch: 2,
      steps: STEPS,
      images: 256,
      seconds: 4,
      imagesPerSecond: 64,
      lr: 0.1,
      trainLoss: 1.9,
      trainAccuracy: 0.3,
    },
  });
  // The checkpoint at the end of training: the test evaluation follows, estimated at the last rate (50 images/s).
  assert.deepEqual(ops(model.onEvent({ kind: 'checkpoint', atMs: T0 + 21_000, globalStep: 2 * STEPS, path: 'x' })), ['start test']);
  assert.deepEqual(model.tick(T0 + 23_000)?.bar, {
    label: 'test',
    value: 0,
    total: 1,
    progress: '? images',
    rate: '~50.0 img/s',
    eta: '?',
    info: 'elapsed 2s',
  });
  assert.deepEqual(ops(model.onEvent(evaluation('test', T0 + 25_000, 1000, 0.41))), ['update test', 'stop test']);
  assert.deepEqual(
    model.onEvent({
      kind: 'finished',
      atMs: T0 + 25_000,
      test: { kind: 'test', split: 'test', loss: 1, accuracy: 0.41, perClassAccuracy: {}, count: 1000 },
    }),
    [],
  );
});

test('a resumed run starts its bar at the step it resumed from; a failure stops the bar saying why', () => {
  const model = new ProgressModel();
  model.onEvent({ ...started, resumedAtStep: 6 } as RunEvent);
  const first = model.onEvent(step(1, 2, T0 + 1000, 1));
  assert.equal(first[0]!.bar.label, 'epoch 2/2');
  // 1 step in 1 s this process; 1 step left.
  assert.deepEqual([first[1]!.bar.value, first[1]!.bar.eta], [3, '1s']);
  const failed = model.onEvent({ kind: 'failed', atMs: T0 + 2000, code: 'COORD_WORKER_LOST', message: 'lost' });
  assert.deepEqual(
    failed.map((c) => [c.op, c.bar.info]),
    [['stop', 'failed: COORD_WORKER_LOST']],
  );
});

test('not a terminal: no bars (the log lines are the progress)', () => {
  const stream = new Writable({ write: (_chunk, _enc, done) => done() }) as ProgressStream;
  assert.equal(TerminalProgress.create(stream), null);
  assert.equal(TerminalProgress.create(Object.assign(stream, { isTTY: false })), null);
});

test('at a terminal, cli-progress draws the bars from the feed and prints log lines above them', async () => {
  let written = '';
  const stream = Object.assign(new Writable({ write: (chunk: Buffer, _enc, done) => ((written += chunk.toString()), done()) }), {
    isTTY: true,
    columns: 160,
  }) as ProgressStream;
  const events = new RunEvents((err) => assert.fail(err as Error));
  const progress = TerminalProgress.create(stream);
  assert.ok(progress !== null);
  progress.write('before the run\n');
  progress.attach(events, { expectedEvalImages: { val: 500, test: 1000 } });
  try {
    events.emit(started);
    events.emit(step(0, 0, T0 + 1000));
    progress.write('a log line\n');
    for (let s = 1; s < STEPS; s += 1) events.emit(step(0, s, T0 + 1000 * (s + 1)));
    events.emit(evaluation('val', T0 + 6000, 500, 0.312));
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    progress.detach();
  }
  assert.ok(written.startsWith('before the run\n'), 'no bar: straight through');
  // 256 images in the 3.5 s from the first step's start (T0 + 500) to the last one's end.
  assert.match(written, /epoch 1\/2 \|[█░]+\| 4\/4 steps \| 73\.1 img\/s \| eta 0s \| loss 2\.000/);
  assert.match(written, /validation 1\/2 \|█+\| 500\/500 images \| 250\.0 img\/s \| eta 0s \| accuracy 31\.20%, loss 1\.500, took 2\.0s/);
  // The log line is on a line of its own (the bar's line cleared first), and the bar is drawn again below it.
  const at = written.indexOf('a log line\n');
  assert.ok(at > 0 && written.indexOf('epoch 1/2', at) > at, written);
  assert.doesNotMatch(written, /steps[^\n]*a log line/);
});

test('durations and evaluation sizes', () => {
  assert.deepEqual(
    [formatSeconds(0), formatSeconds(59.4), formatSeconds(187), formatSeconds(7500), formatSeconds(Number.NaN)],
    ['0s', '59s', '3m07s', '2h05m', '?'],
  );
  assert.deepEqual(expectedEvalImages(0), { val: 5000, test: 10_000 });
  assert.deepEqual(expectedEvalImages(700), { val: 700, test: 700 });
  assert.deepEqual(expectedEvalImages(8000), { val: 5000, test: 8000 });
});
