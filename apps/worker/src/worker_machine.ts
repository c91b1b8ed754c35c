// The worker's control logic as a pure state machine: given its state and a message from the
// coordinator (or this process's own shutdown), it says what to do next and what the state becomes.
// No I/O, no clocks, no tensors: distributed_worker.ts executes the actions (ring set-up, training
// steps through replica_session.ts, sending), and worker_machine.test.ts covers every message in
// every stage in milliseconds.
//
// Messages reach the machine twice. `onArrival` sees `roundAbort`, `leave` and `error` the moment
// they arrive, even while a round computes (so a round can be abandoned mid-step); `dispatch` sees
// every message in order, between rounds.
import type { CheckpointRequest, EvalRequest, InitialWeights, Leave, Message, RoundStart, Welcome } from '@gnet/protocol';
import { WorkerRunError } from './worker_run_error.js';

/**
 * Where the current generation stands: `awaitingWeights` (its `welcome` was read, `initialWeights`
 * comes next), `training` (its ring is open: rounds are trained), `groupless` (its ring could not
 * be opened, or is being opened: rounds are ignored until the coordinator re-forms the group).
 */
export type WorkerStage = 'awaitingWeights' | 'training' | 'groupless';

/** Aborted rounds remembered: only recent rounds can still arrive, so the list stays short over a long run. */
export const MAX_ABORTED_ROUNDS = 64;

/** Everything the machine decides on. */
export interface WorkerState {
  stage: WorkerStage;
  /** The generation of the latest `welcome`. */
  generation: number;
  /** SIGINT/SIGTERM: `leave` was sent; no more rounds or generations, only snapshots. */
  leaving: boolean;
  /** The all-reduce round this worker is in (a step, a weights check, a BatchNorm average); null between rounds. */
  runningRound: number | null;
  /** Rounds the coordinator aborted (`roundAbort`), oldest first: a `roundStart` for one of them is dropped unrun. */
  abortedRounds: readonly number[];
}

/** What to do with a message read in order. */
export type WorkerAction =
  /** Nothing: a `roundAbort` (handled on arrival), a round for an aborted or stale generation, or while leaving. */
  | { kind: 'skip' }
  /** `initialWeights` of the generation: prepare the run, open the ring (then {@link ringOpened}), check the weights, send `ready`. */
  | { kind: 'formGeneration'; initial: InitialWeights }
  | { kind: 'trainStep'; roundStart: RoundStart }
  | { kind: 'evaluate'; evalRequest: EvalRequest }
  | { kind: 'snapshot'; checkpointRequest: CheckpointRequest }
  /** A re-formed group: close this generation's ring and wait for its `initialWeights`. */
  | { kind: 'newGeneration'; welcome: Welcome }
  /** `leave` (finished): write the final dumps, close the connection, exit 0. */
  | { kind: 'finish'; message: string }
  /** The run cannot go on for this worker. */
  | { kind: 'fail'; error: WorkerRunError };

/** What to do with a message the moment it arrives. */
export type ArrivalAction =
  | { kind: 'none' }
  /** Remembered in the state; when `abortRunning`, the round in progress is aborted with `reason`. */
  | { kind: 'abortRound'; round: number; reason: string; abortRunning: boolean }
  /** Stop serving this connection at once: every wait ends with `error`. */
  | { kind: 'stop'; error: WorkerRunError };

/** What to do when this worker is told to stop (SIGINT/SIGTERM). */
export type ShutdownAction =
  | { kind: 'none' }
  /** Send `leave`, abort the round in progress with `reason`, and keep answering snapshots for a grace period. */
  | { kind: 'leave'; leave: Leave; reason: string };

/** A machine's answer: the next state and what to do. */
export interface Transition<A> {
  state: WorkerState;
  action: A;
}

/** The state after the `welcome` of a connection. */
export function initialWorkerState(welcome: Pick<Welcome, 'generation'>, leaving = false): WorkerState {
  return { stage: 'awaitingWeights', generation: welcome.generation, leaving, runningRound: null, abortedRounds: [] };
}

/** The generation's ring is open: its rounds are trained from now on. */
export function ringOpened(state: WorkerState): WorkerState {
  return { ...state, stage: 'training' };
}

/** This worker entered all-reduce round `round` (null: work without one, like an evaluation without BatchNorm average). */
export function roundBegan(state: WorkerState, round: number | null): WorkerState {
  return { ...state, runningRound: round };
}

export function roundEnded(state: WorkerState): WorkerState {
  return { ...state, runningRound: null };
}

/** SIGINT/SIGTERM (`why` names it): say `leave` once, train no more. */
export function shutdown(state: WorkerState, why: string): Transition<ShutdownAction> {
  if (state.leaving) return { state, action: { kind: 'none' } };
  return {
    state: { ...state, leaving: true },
    action: { kind: 'leave', leave: { type: 'leave', reason: 'shutdown', message: why }, reason: why },
  };
}

/** A message the moment it arrives (even mid-round): `roundAbort`, `leave` and `error` act at once. */
export function onArrival(state: WorkerState, message: Message): Transition<ArrivalAction> {
  if (message.type === 'roundAbort') {
    const { round } = message;
    const abortedRounds = [...state.abortedRounds.filter((r) => r !== round), round].slice(-MAX_ABORTED_ROUNDS);
    // A stale abort (of a round older than the one running) must not cancel the newer round.
    const abortRunning = state.runningRound !== null && state.runningRound <= round;
    return {
      state: { ...state, abortedRounds },
      action: { kind: 'abortRound', round, reason: `the coordinator aborted round ${round}: ${message.reason}`, abortRunning },
    };
  }
  if (message.type === 'leave') {
    // Finished: the in-order `leave` ends the run cleanly after the last message before it.
    if (message.reason === 'finished') return { state, action: { kind: 'none' } };
    const why =
      message.reason === 'evicted'
        ? `the coordinator evicted this worker: ${message.message}`
        : `the coordinator ended the run (${message.reason})${message.message === '' ? '' : `: ${message.message}`}`;
    const code = state.leaving ? 'WORKER_STOPPED' : message.reason === 'evicted' ? 'WORKER_EVICTED' : 'WORKER_RUN_STOPPED';
    return { state, action: { kind: 'stop', error: new WorkerRunError(code, why) } };
  }
  if (message.type === 'error') {
    const why = `the coordinator reported ${message.code}: ${message.message}`;
    return { state, action: { kind: 'stop', error: new WorkerRunError(state.leaving ? 'WORKER_STOPPED' : 'WORKER_ABORTED', why) } };
  }
  return { state, action: { kind: 'none' } };
}

/** A message read in order, between rounds. */
export function dispatch(state: WorkerState, message: Message): Transition<WorkerAction> {
  const skip: Transition<WorkerAction> = { state, action: { kind: 'skip' } };
  const fail = (code: ConstructorParameters<typeof WorkerRunError>[0], why: string): Transition<WorkerAction> => ({
    state,
    action: { kind: 'fail', error: new WorkerRunError(code, why) },
  });
  if (state.stage === 'awaitingWeights') {
    if (message.type === 'initialWeights') {
      if (message.generation !== state.generation) {
        return fail(
          'WORKER_PROTOCOL',
          `initialWeights.generation must be the welcome's ${state.generation}, but got ${message.generation}`,
        );
      }
      return { state: { ...state, stage: 'groupless' }, action: { kind: 'formGeneration', initial: message } };
    }
    // A round aborted just before the welcome may still be queued; nothing else may come first.
    if (message.type === 'roundAbort' || message.type === 'roundStart') return skip;
    return fail('WORKER_PROTOCOL', `expected 'initialWeights' from the coordinator, but got '${message.type}'`);
  }
  switch (message.type) {
    case 'roundStart':
      if (state.stage !== 'training' || state.leaving || state.abortedRounds.includes(message.round)) return skip;
      return { state, action: { kind: 'trainStep', roundStart: message } };
    case 'evalRequest':
      if (state.stage !== 'training' || state.leaving) return skip;
      return { state, action: { kind: 'evaluate', evalRequest: message } };
    case 'checkpointRequest':
      // Answered while leaving too: the coordinator may save the state of a worker being stopped.
      return { state, action: { kind: 'snapshot', checkpointRequest: message } };
    case 'roundAbort':
      // Remembered on arrival (onArrival); the coordinator's next move follows.
      return skip;
    case 'welcome':
      // A leaving worker joins no new generation.
      if (state.leaving) return fail('WORKER_STOPPED', 'stopped by a signal; not joining the next generation');
      return {
        state: { ...state, stage: 'awaitingWeights', generation: message.generation, runningRound: null },
        action: { kind: 'newGeneration', welcome: message },
      };
    case 'leave':
      if (state.leaving) return fail('WORKER_STOPPED', `stopped by a signal; the coordinator said leave (${message.reason})`);
      if (message.reason === 'evicted') return fail('WORKER_EVICTED', `the coordinator evicted this worker: ${message.message}`);
      if (message.reason !== 'finished') {
        return fail('WORKER_RUN_STOPPED', `the coordinator ended the run (${message.reason}): ${message.message}`);
      }
      return { state, action: { kind: 'finish', message: message.message } };
    case 'error':
      return fail('WORKER_PROTOCOL', `the coordinator reported ${message.code}: ${message.message}`);
    default:
      return fail('WORKER_PROTOCOL', `unexpected '${message.type}' from the coordinator between rounds`);
  }
}
