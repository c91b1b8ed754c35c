// Tests of the run machine (run_machine.ts): whole runs driven by event sequences, no process,
// socket or timer. A scripted executor answers each action with its usual outcome unless a test
// answers otherwise; the trace of actions is what the coordinator would have done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankSlice } from '@gnet/data';
import type { Metrics } from '@gnet/protocol';
import { EpochMeter, type EpochRecord } from '@gnet/run-store';
import { NoProgressError, PhaseTimeoutError, TrainingDivergedError, WorkerLostError, BadReplyError } from './errors.js';
import type { EvalTotals } from './evaluation.js';
import { StopRequestedError } from './graceful_stop.js';
import { RunMachine, RunMachineStateError } from './run_machine.js';
import type { FormedGeneration, RunAction, RunMachineEvent, RunMachineOptions, RunStart } from './run_machine_types.js';

const CLASSES = ['a', 'b'];
const SPE = 3;
const GLOBAL_BATCH = 4;
const OPTIONS: RunMachineOptions = {
  stepsPerEpoch: SPE,
  epochs: 2,
  maxWorkers: 2,
  maxSkippedSteps: 2,
  maxReforms: 2,
  checkpointEverySteps: 0,
  classes: CLASSES,
};
const FRESH: RunStart = { globalStep: 0, epochs: [], epochSoFar: null };

function generation(number: number, worldSize: number): FormedGeneration {
  return {
    generation: number,
    workerIds: Array.from({ length: worldSize }, (_, rank) => `w${rank}`),
    batchNorm: true,
    globalBatch: GLOBAL_BATCH,
    schedule: { lrPeak: 0.1, warmupSteps: 0, totalSteps: SPE * 2 },
  };
}

/** Each rank's honest `metrics` for `action` (its share of the global batch, one correct image). */
function honestMetrics(action: Extract<RunAction, { kind: 'startRound' }>, round: number, worldSize: number, skipped = false): Metrics[] {
  return Array.from({ length: worldSize }, (_, rank) => {
    const { start, end } = rankSlice(rank, worldSize, GLOBAL_BATCH);
    return {
      type: 'metrics',
      round,
      epoch: action.epoch,
      step: action.step,
      loss: skipped ? Number.NaN : 2,
      correct: 1,
      count: end - start,
      timings: { dataMs: 1, computeMs: 2, reduceMs: 3, applyMs: 1, stepMs: 7 },
      skipped,
      memory: { numTensors: 1, rssBytes: 1, heapUsedBytes: 1 },
    };
  });
}

function totals(split: 'val' | 'test', images = 10): EvalTotals {
  return {
    split,
    lossSum: images,
    correct: images / 2,
    count: images,
    perClassCorrect: [images / 2, 0],
    perClassCount: [images / 2, images / 2],
    confusion: [images / 2, 0, images / 2, 0],
  };
}

/** One action in a short text, for traces. */
function label(a: RunAction): string {
  switch (a.kind) {
    case 'startRound':
      return `round ${a.globalStep}`;
    case 'stepDone':
      return `done ${a.globalStep}${a.skipped ? ' skipped' : ''}`;
    case 'evaluate':
      return `evaluate ${a.split} ${a.epoch}${a.averageBatchNorm ? ' +bn' : ''}`;
    case 'epochDone':
      return `epoch ${a.record.epoch}`;
    case 'checkpoint':
      return `checkpoint ${a.globalStep}`;
    case 'admit':
      return `admit ${a.globalStep}`;
    case 'recover':
      return `recover ${a.snapshotFrom} ${a.globalStep}`;
    case 'refuse':
      return `refuse ${a.refusals.map((r) => r.rank).join(',')}`;
    case 'rewriteMetrics':
      return `rewrite ${a.epochs.length}`;
    default:
      return a.kind;
  }
}

/** What the test answers instead of the usual outcome (undefined: the usual one). */
type Script = (action: RunAction, ctx: { machine: RunMachine; round: number; worldSize: number }) => RunMachineEvent | undefined;

interface Ran {
  trace: string[];
  end: RunAction;
  actions: RunAction[];
  machine: RunMachine;
}

/** Drives a machine from `start` until it finishes or fails; at most 200 actions (a loop is a failure). */
function drive(
  script: Script = () => undefined,
  setup: { options?: Partial<RunMachineOptions>; start?: RunStart; worldSize?: number } = {},
): Ran {
  const machine = new RunMachine({ ...OPTIONS, ...setup.options });
  const trace: string[] = [];
  const actions: RunAction[] = [];
  let worldSize = setup.worldSize ?? 2;
  let gen = 0;
  let round = 100;
  let next: RunAction[] = machine.handle({ kind: 'started', ...(setup.start ?? FRESH) });
  for (let i = 0; i < 200; i += 1) {
    let outcome: RunMachineEvent | null = null;
    for (const action of next) {
      trace.push(label(action));
      actions.push(action);
      if (action.kind === 'finish' || action.kind === 'fail') return { trace, end: action, actions, machine };
      const scripted = script(action, { machine, round, worldSize });
      if (scripted !== undefined) {
        if (scripted.kind === 'formed') worldSize = scripted.workerIds.length;
        if (scripted.kind === 'workersWaiting' || scripted.kind === 'stopRequested') {
          // A fact, then the usual outcome.
          machine.handle(scripted);
        } else {
          outcome = scripted;
          continue;
        }
      }
      outcome = usualOutcome(action, round, worldSize, () => gen++) ?? outcome;
      if (action.kind === 'startRound') round += 1;
      // One joiner per admission.
      if (action.kind === 'admit') worldSize += 1;
    }
    if (outcome === null) throw new Error(`nothing to answer after ${trace.join(' | ')}`);
    next = machine.handle(outcome);
  }
  throw new Error(`no end after 200 actions: ${trace.join(' | ')}`);
}

function usualOutcome(action: RunAction, round: number, worldSize: number, nextGeneration: () => number): RunMachineEvent | null {
  switch (action.kind) {
    case 'form':
      return { kind: 'formed', ...generation(nextGeneration(), worldSize) };
    case 'startRound':
      return { kind: 'roundDone', round, metrics: honestMetrics(action, round, worldSize), roundMs: 50 };
    case 'evaluate':
      return { kind: 'evaluated', totals: totals(action.split) };
    case 'checkpoint':
      return { kind: 'checkpointed', globalStep: action.globalStep };
    case 'admit':
      return { kind: 'admitted' };
    case 'recover':
      return { kind: 'recovered', globalStep: action.globalStep, rolledBackTo: null };
    case 'refuse':
      return { kind: 'groupFailed', error: new WorkerLostError(action.refusals[0]!.rank, 'w', 'round', 'refused') };
    default:
      return null;
  }
}

const lost = (rank = 1): WorkerLostError => new WorkerLostError(rank, `w${rank}`, 'round 7 (epoch 1, step 1)', 'connection lost');

test('a clean 2-epoch run: rounds, validation with BatchNorm averaged after each epoch, checkpoints, test, finish', () => {
  const { trace, end, actions } = drive();
  assert.deepEqual(trace, [
    'form',
    'round 0',
    'done 0',
    'round 1',
    'done 1',
    'round 2',
    'done 2',
    'evaluate val 0 +bn',
    'epoch 1',
    'checkpoint 3',
    'round 3',
    'done 3',
    'round 4',
    'done 4',
    'round 5',
    'done 5',
    'evaluate val 1 +bn',
    'epoch 2',
    'checkpoint 6',
    // No step since the last average: the statistics are current.
    'evaluate test 1',
    'finish',
  ]);
  assert.equal(end.kind, 'finish');
  if (end.kind !== 'finish') return;
  assert.equal(end.epochs.length, 2);
  assert.equal(end.test.count, 10);
  assert.equal(end.test.accuracy, 0.5);
  const record = end.epochs[0] as EpochRecord & { steps: number; images: number; lr: number; worldSize: number };
  assert.equal(record.steps, 3);
  assert.equal(record.images, 3 * GLOBAL_BATCH);
  assert.equal(record.worldSize, 2);
  // The cosine schedule: step 0 at the peak, the epoch's record keeps its last step's rate.
  const lrs = actions.flatMap((a) => (a.kind === 'startRound' ? [a.lr] : []));
  assert.equal(lrs[0], 0.1);
  assert.ok(lrs.every((lr, i) => i === 0 || lr < lrs[i - 1]!));
  assert.equal(record.lr, lrs[2]);
});

test('--checkpoint-every-steps checkpoints mid-epoch, and not twice at an epoch end', () => {
  const { trace } = drive(undefined, { options: { checkpointEverySteps: 2 } });
  assert.deepEqual(
    trace.filter((t) => t.startsWith('checkpoint')),
    ['checkpoint 2', 'checkpoint 3', 'checkpoint 4', 'checkpoint 6'],
  );
});

test('a worker lost mid-round: recover from a survivor, re-form, continue at the step the survivor trains next', () => {
  let failed = false;
  const { trace, end } = drive((action) => {
    if (action.kind === 'startRound' && action.globalStep === 4 && !failed) {
      failed = true;
      return { kind: 'groupFailed', error: lost() };
    }
    // The survivor applied the aborted round: it trains step 5 next.
    if (action.kind === 'recover') return { kind: 'recovered', globalStep: 5, rolledBackTo: null };
    if (action.kind === 'form' && failed) return { kind: 'formed', ...generation(1, 1) };
    return undefined;
  });
  const at = trace.indexOf('round 4');
  assert.deepEqual(trace.slice(at, at + 6), ['round 4', 'recover survivor 4', 'form', 'round 5', 'done 5', 'evaluate val 1 +bn']);
  assert.equal(end.kind, 'finish');
  if (end.kind === 'finish') assert.equal((end.epochs[1] as EpochRecord & { worldSize: number }).worldSize, 1);
});

test('a failure with no survivor rolls back to the checkpoint: its records replace ours and metrics.jsonl is rewritten', () => {
  let failed = false;
  const firstEpoch: EpochRecord[] = [];
  const { trace, end } = drive((action, { machine }) => {
    if (action.kind === 'checkpoint' && action.globalStep === 3) firstEpoch.push(...machine.records.epochs);
    if (action.kind === 'startRound' && action.globalStep === 5 && !failed) {
      failed = true;
      return { kind: 'groupFailed', error: lost(0) };
    }
    if (action.kind === 'recover') return { kind: 'recovered', globalStep: 3, rolledBackTo: { epochs: firstEpoch, epochSoFar: null } };
    return undefined;
  });
  const at = trace.indexOf('recover survivor 5');
  assert.deepEqual(trace.slice(at, at + 4), ['recover survivor 5', 'rewrite 1', 'form', 'round 3']);
  assert.equal(end.kind, 'finish');
  if (end.kind === 'finish') {
    assert.equal(end.epochs.length, 2);
    // The second epoch's figures restart from the checkpoint: its three steps, not five.
    assert.equal((end.epochs[1] as EpochRecord & { steps: number }).steps, 3);
  }
});

test('a worker waiting to join is admitted at the next step boundary, up to --max-workers', () => {
  let admitted = false;
  const { trace, end } = drive(
    (action) => {
      // The joiner arrives while step 1 is in flight; the executor syncs the count before the round's outcome.
      if (action.kind === 'startRound' && action.globalStep === 1) return { kind: 'workersWaiting', count: 1 };
      if (action.kind === 'admit') admitted = true;
      // The executor took the joiner off the waiting list.
      if (action.kind === 'form' && admitted) return { kind: 'workersWaiting', count: 0 };
      return undefined;
    },
    { worldSize: 1 },
  );
  const at = trace.indexOf('done 1');
  assert.deepEqual(trace.slice(at, at + 4), ['done 1', 'admit 2', 'form', 'round 2']);
  assert.equal(trace.filter((t) => t.startsWith('admit')).length, 1);
  assert.ok(end.kind === 'finish');
  assert.equal((end.epochs[0] as EpochRecord & { worldSize: number }).worldSize, 2);
  // A full group admits nobody, however many wait.
  const full = drive((action) => (action.kind === 'startRound' ? { kind: 'workersWaiting', count: 3 } : undefined));
  assert.ok(!full.trace.some((t) => t.startsWith('admit')));
});

test('a rank whose metrics disagree with its share is refused (evicted) and the group re-forms without it', () => {
  let refusedOnce = false;
  const ran = drive((action, { round, worldSize }) => {
    if (action.kind === 'startRound' && action.globalStep === 1 && !refusedOnce) {
      refusedOnce = true;
      const metrics = honestMetrics(action, round, worldSize);
      metrics[1] = { ...metrics[1]!, count: 2 ** 53 - 1 };
      return { kind: 'roundDone', round, metrics, roundMs: 50 };
    }
    if (action.kind === 'form' && refusedOnce) return { kind: 'formed', ...generation(1, 1) };
    return undefined;
  });
  const at = ran.trace.indexOf('refuse 1');
  assert.ok(at > 0, ran.trace.join(' | '));
  const refuse = ran.actions[at]!;
  assert.ok(refuse.kind === 'refuse' && refuse.refusals[0]!.error.code === 'PROTO_BAD_REPLY');
  // Every rank applied the refused round's step, so the survivor trains step 2 next.
  assert.deepEqual(ran.trace.slice(at, at + 4), ['refuse 1', 'recover survivor 1', 'form', 'round 1']);
  assert.equal(ran.end.kind, 'finish');
});

test('ranks that disagree on skipping a step end the run with BadReplyError: the replicas diverged', () => {
  const { end } = drive((action, { round, worldSize }) => {
    if (action.kind !== 'startRound' || action.globalStep !== 2) return undefined;
    const metrics = honestMetrics(action, round, worldSize);
    metrics[0] = { ...metrics[0]!, skipped: true };
    return { kind: 'roundDone', round, metrics, roundMs: 50 };
  });
  assert.ok(end.kind === 'fail' && end.error instanceof BadReplyError, JSON.stringify(end));
  assert.match(end.error.message, /ranks disagree on skipping round 102/);
});

test('--resume: the checkpoint position and records carry on, the resumed epoch counts its steps before the restart', () => {
  const first = drive().actions.find((a) => a.kind === 'epochDone');
  assert.ok(first?.kind === 'epochDone');
  const meter = new EpochMeter();
  meter.addRound(honestMetrics({ kind: 'startRound', epoch: 1, step: 0, globalStep: 3, lr: 0.1 }, 1, 2), 0.05);
  const { trace, end } = drive(undefined, { start: { globalStep: 4, epochs: [first.record], epochSoFar: meter.state() } });
  assert.deepEqual(trace.slice(0, 3), ['form', 'round 4', 'done 4']);
  assert.ok(end.kind === 'finish');
  assert.equal(end.epochs.length, 2);
  assert.deepEqual(end.epochs[0], first.record);
  assert.equal((end.epochs[1] as EpochRecord & { steps: number }).steps, 3);
  // A checkpoint of an epoch end written before its record: the validation comes first.
  const atBoundary = drive(undefined, { start: { globalStep: 3, epochs: [], epochSoFar: null } });
  assert.deepEqual(atBoundary.trace.slice(0, 4), ['form', 'evaluate val 0 +bn', 'epoch 1', 'checkpoint 3']);
});

test('a NaN-skipped step is counted and does not dirty BatchNorm; --max-skipped-steps in a row checkpoint and stop', () => {
  // One skipped step, then good ones: the run finishes.
  const once = drive((action, { round, worldSize }) =>
    action.kind === 'startRound' && action.globalStep === 1
      ? { kind: 'roundDone', round, metrics: honestMetrics(action, round, worldSize, true), roundMs: 50 }
      : undefined,
  );
  assert.ok(once.trace.includes('done 1 skipped'));
  assert.equal(once.end.kind, 'finish');
  // Every step of epoch 2 skipped after one good one... two in a row: checkpoint, then TrainingDivergedError.
  const { trace, end } = drive((action, { round, worldSize }) => {
    if (action.kind !== 'startRound' || action.globalStep < 4) return undefined;
    const metrics = honestMetrics(action, round, worldSize, true);
    metrics[0] = { ...metrics[0]!, loss: 2 };
    return { kind: 'roundDone', round, metrics, roundMs: 50 };
  });
  assert.deepEqual(trace.slice(-6), ['round 4', 'done 4 skipped', 'round 5', 'done 5 skipped', 'checkpoint 6', 'fail']);
  assert.ok(end.kind === 'fail' && end.error instanceof TrainingDivergedError);
  assert.match(end.error.message, /^2 steps in a row \(up to global step 5\).*limit --max-skipped-steps 2/);
  // Only rank 1's loss was not finite: the advice names that worker.
  assert.match(end.error.message, /only rank 1 \(worker 'w1'\) computed a non-finite loss/);
});

test('skipped steps only: no BatchNorm average before the validation (the weights did not move)', () => {
  const { trace } = drive(
    (action, { round, worldSize }) =>
      action.kind === 'startRound' && action.globalStep >= 3
        ? { kind: 'roundDone', round, metrics: honestMetrics(action, round, worldSize, action.globalStep === 4), roundMs: 50 }
        : undefined,
    { options: { maxSkippedSteps: 5 } },
  );
  assert.ok(trace.includes('evaluate val 1 +bn'));
  const onlySkipped = drive(
    (action, { round, worldSize }) =>
      action.kind === 'startRound' && action.globalStep >= 3
        ? { kind: 'roundDone', round, metrics: honestMetrics(action, round, worldSize, true), roundMs: 50 }
        : undefined,
    { options: { maxSkippedSteps: 5 } },
  );
  assert.ok(onlySkipped.trace.includes('evaluate val 1'), onlySkipped.trace.join(' | '));
});

test('--max-reforms broken generations in a row without a completed step end the run with NoProgressError', () => {
  const { trace, end } = drive((action) =>
    action.kind === 'startRound' && action.globalStep === 2 ? { kind: 'groupFailed', error: lost() } : undefined,
  );
  assert.equal(trace.filter((t) => t === 'recover survivor 2').length, 2);
  assert.ok(end.kind === 'fail' && end.error instanceof NoProgressError);
  assert.match(end.error.message, /re-formed 2 times in a row without completing a step \(limit --max-reforms 2\); last failure: Rank 1/);
  // A completed step in between resets the count: two failures at step 2, two at step 4, and the run finishes.
  const failures = new Map<number, number>();
  const recovering = drive((action) => {
    if (action.kind !== 'startRound' || (action.globalStep !== 2 && action.globalStep !== 4)) return undefined;
    const count = failures.get(action.globalStep) ?? 0;
    failures.set(action.globalStep, count + 1);
    return count < 2 ? { kind: 'groupFailed', error: lost() } : undefined;
  });
  assert.equal(recovering.trace.filter((t) => t.startsWith('recover')).length, 4);
  assert.equal(recovering.end.kind, 'finish');
});

test('a generation that breaks while forming is recovered without a snapshot, --max-reforms attempts', () => {
  const timeout = new PhaseTimeoutError('generation 1 formation', [0], 1000);
  const { trace, end } = drive((action) => (action.kind === 'form' ? { kind: 'formFailed', error: timeout } : undefined));
  assert.deepEqual(trace, ['form', 'recover none 0', 'form', 'recover none 0', 'fail']);
  assert.ok(end.kind === 'fail' && end.error instanceof NoProgressError);
  assert.match(end.error.message, /re-formed 2 times/);
});

test('a stop request ends the run at the next step boundary; failures while stopping are not recovered from', () => {
  const { trace, end } = drive((action) =>
    action.kind === 'startRound' && action.globalStep === 1 ? { kind: 'stopRequested', signal: 'SIGTERM' } : undefined,
  );
  // The step in flight completes (and is recorded), then the run stops.
  assert.deepEqual(trace.slice(-3), ['round 1', 'done 1', 'fail']);
  assert.ok(end.kind === 'fail' && end.error instanceof StopRequestedError && end.error.signal === 'SIGTERM');
  // Workers leaving on the same signal break the generation: no re-formation, the error ends the run.
  const error = lost();
  const machine = new RunMachine(OPTIONS);
  machine.handle({ kind: 'started', ...FRESH });
  machine.handle({ kind: 'formed', ...generation(0, 2) });
  machine.handle({ kind: 'stopRequested', signal: 'SIGINT' });
  assert.deepEqual(machine.handle({ kind: 'groupFailed', error }), [{ kind: 'fail', error }]);
  // A stop during an evaluation: the epoch is still recorded and checkpointed first.
  const evaluating = drive((action) => (action.kind === 'evaluate' ? { kind: 'stopRequested', signal: 'SIGINT' } : undefined));
  assert.deepEqual(evaluating.trace.slice(-4), ['evaluate val 0 +bn', 'epoch 1', 'checkpoint 3', 'fail']);
});

test('an event out of turn is an executor bug, named with the phase', () => {
  const machine = new RunMachine(OPTIONS);
  assert.throws(() => machine.handle({ kind: 'roundDone', round: 1, metrics: [], roundMs: 1 }), RunMachineStateError);
  machine.handle({ kind: 'started', ...FRESH });
  assert.throws(
    () => machine.handle({ kind: 'checkpointed', globalStep: 3 }),
    (err: Error) => err instanceof RunMachineStateError && /must arrive while checkpointing, but the run is forming/.test(err.message),
  );
});
