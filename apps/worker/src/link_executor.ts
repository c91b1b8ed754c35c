// The executor of one connection to the coordinator (steps 2-9 of distributed_worker.ts): it holds
// the worker machine's state (worker_machine.ts decides), the round signals (one per all-reduce
// round, round_signal.ts), this generation's transport and the run state, and performs each action
// the machine returns: a generation's set-up (generation_setup.ts), a step, an evaluation, a
// snapshot (replica_session.ts computes each reply), the finish. Messages that act on arrival
// (`roundAbort`, `leave`, `error`) and SIGINT/SIGTERM reach it through callbacks, mid-round too.
import type { Logger } from 'pino';
import type { CifarSet } from '@gnet/data';
import type { InitialWeights, Message, Welcome } from '@gnet/protocol';
import { connectRing, type Transport, type WsPeerListener } from '@gnet/collective';
import type { CoordinatorLink } from './coordinator_link.js';
import { joinGeneration, prepareGeneration } from './generation_setup.js';
import { canRejoin } from './rejoin_policy.js';
import { RoundSignals } from './round_signal.js';
import type { RunState } from './run_state.js';
import type { ServeConfig } from './serve_config.js';
import type { Timeline } from './timeline.js';
import {
  dispatch,
  initialWorkerState,
  onArrival,
  ringOpened,
  roundBegan,
  roundEnded,
  shutdown,
  type WorkerAction,
  type WorkerState,
} from './worker_machine.js';
import { WorkerRunError } from './worker_run_error.js';
import { trustedCa } from './worker_tls.js';

/** Options of {@link LinkExecutor}. */
export interface LinkExecutorOptions {
  link: CoordinatorLink;
  config: ServeConfig;
  /** The backend selected at start-up. */
  backend: string;
  /** This process's ring listener (it outlives connections). */
  listener: WsPeerListener;
  sets: { train: CifarSet; test: CifarSet };
  /** The run state an earlier connection left (null: none). */
  run: RunState | null;
  /** The process's root logger; this executor binds the rank of each generation. */
  log: Logger;
  /** Aborting it (SIGTERM) sends `leave` (shutdown) once and trains no more. */
  signal?: AbortSignal;
  timeline: Timeline | null;
}

/** How the connection ended when the coordinator said `leave` (finished). */
export interface LinkFinish {
  rank: number;
  steps: number;
  message: string;
}

/** Carries out the worker machine's decisions on one connection; see the file header. */
export class LinkExecutor {
  /** The run state: the latest generation's, kept across connections. */
  run: RunState | null;
  // The machine's state. Arrivals (roundAbort, leave, error) and SIGTERM change it while a round
  // runs, so it is read afresh after every await and never written back from a stale copy.
  private machine: WorkerState;
  // Everything stops at once when the coordinator goes away or ends the run: the message wait
  // (`stop`) and the round in progress and every later one (`rounds`).
  private readonly stop = new AbortController();
  private readonly rounds = new RoundSignals();
  private ring: Transport | null = null;
  private welcome: Welcome;
  private log: Logger;
  private leaveGraceTimer: NodeJS.Timeout | null = null;
  private readonly onShutdown = (): void => this.leave();

  constructor(private readonly options: LinkExecutorOptions) {
    const { link, signal } = options;
    this.run = options.run;
    this.log = options.log;
    this.welcome = link.welcome;
    this.machine = initialWorkerState(link.welcome);
    link.onFailure((err) => this.stopWith(err));
    if (signal?.aborted === true) this.leave();
    else signal?.addEventListener('abort', this.onShutdown, { once: true });
    link.onUrgent = (message: Message) => {
      const { state, action } = onArrival(this.machine, message);
      this.machine = state;
      if (action.kind === 'abortRound' && action.abortRunning) this.rounds.abortRunning(action.reason);
      else if (action.kind === 'stop') this.stopWith(action.error);
    };
  }

  /** The next message in order, or the reason the link or the run stopped, whichever comes first. */
  async next(): Promise<Message> {
    const { signal } = this.stop;
    const reason = (): Error => (signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    if (signal.aborted) throw reason();
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(reason());
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([this.options.link.next(), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The machine's decision on `message`, read in order. */
  decide(message: Message): WorkerAction {
    const { state, action } = dispatch(this.machine, message);
    this.machine = state;
    return action;
  }

  /** Performs `action`; resolves with the finish when the run ended (`leave` finished), else null. Throws a `fail`'s error. */
  async perform(action: WorkerAction): Promise<LinkFinish | null> {
    const { link } = this.options;
    switch (action.kind) {
      case 'skip':
        return null;
      case 'formGeneration':
        await this.formGeneration(this.welcome, action.initial);
        return null;
      case 'newGeneration':
        this.welcome = action.welcome;
        return null;
      case 'trainStep':
        await this.inRound(action.roundStart.round, (signal) => this.requireRun().session.trainStep(action.roundStart, signal));
        return null;
      case 'evaluate':
        await this.inRound(action.evalRequest.averageRound, (signal) => this.requireRun().session.evaluate(action.evalRequest, signal));
        return null;
      case 'snapshot':
        link.send(this.requireRun().session.snapshot(action.checkpointRequest));
        return null;
      case 'finish': {
        const { session } = this.requireRun();
        const weightsSha256 = await session.finish();
        this.log.info({ steps: session.steps, skippedSteps: session.skippedSteps, weightsSha256, message: action.message }, 'run finished');
        await this.closeRing(1000, 'finished');
        await link.close(1000, 'finished');
        return { rank: link.welcome.rank, steps: session.steps, message: action.message };
      }
      case 'fail':
        throw action.error;
    }
  }

  /**
   * Ends the connection after `caught`: closes the ring and the link with the error as the reason
   * (1001 when the worker will rejoin, else 1011) and returns the error to throw; leaving on a
   * signal, it becomes `WORKER_STOPPED`, saying whether the coordinator took our latest state.
   */
  async fail(caught: unknown): Promise<unknown> {
    let err = caught;
    // Leaving on a signal, the coordinator closing our connection is the expected end.
    if (this.machine.leaving) {
      const session = this.run?.session;
      const held =
        session !== undefined && session.lastSnapshotNextStep === session.nextGlobalStep
          ? `the coordinator has our latest state (it trains step ${session.nextGlobalStep} next)`
          : 'the coordinator did not take our latest state';
      err = new WorkerRunError(
        'WORKER_STOPPED',
        `stopped by ${String(this.options.signal?.reason ?? 'a signal')}; ${held} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    // The error explains itself in the coordinator's log too: close with it as the reason.
    const reason = (err instanceof Error ? err.message : String(err)).slice(0, 120);
    await this.closeRing(1011, reason);
    await this.options.link.close(canRejoin(err) ? 1001 : 1011, reason).catch(() => undefined);
    return err;
  }

  /** Stops listening for the shutdown signal and drops the leave grace timer. */
  dispose(): void {
    this.options.signal?.removeEventListener('abort', this.onShutdown);
    if (this.leaveGraceTimer !== null) clearTimeout(this.leaveGraceTimer);
  }

  /** Every wait ends with `err`: the message wait and the round in progress and every later one. */
  private stopWith(err: Error): void {
    this.stop.abort(err);
    this.rounds.stop(err.message);
  }

  /** Step 9: SIGINT/SIGTERM. Say `leave` once, train no more, and give the coordinator --leave-grace-ms to take our state. */
  private leave(): void {
    const { config, link } = this.options;
    const why = `stopped by ${String(this.options.signal?.reason ?? 'a signal')}`;
    const { state, action } = shutdown(this.machine, why);
    this.machine = state;
    if (action.kind === 'none') return;
    link.send(action.leave);
    this.rounds.stop(action.reason);
    this.log.info(
      { leaveGraceMs: config.leaveGraceMs },
      'leaving: no more steps; our state stays available to the coordinator until it closes the connection',
    );
    const timedOut = new WorkerRunError(
      'WORKER_STOPPED',
      `${why}; the coordinator did not close the connection within --leave-grace-ms ${config.leaveGraceMs}`,
    );
    this.leaveGraceTimer = setTimeout(() => this.stopWith(timedOut), config.leaveGraceMs);
  }

  /** Runs `work` in all-reduce round `round` (null: none) under its one abort signal, and sends its reply if any. */
  private async inRound(round: number | null, work: (signal: AbortSignal) => Promise<{ reply: Message | null }>): Promise<void> {
    this.machine = roundBegan(this.machine, round);
    const signal = this.rounds.begin();
    // A roundAbort that arrived before the round began aborts it at once.
    if (round !== null && this.machine.abortedRounds.includes(round)) this.rounds.abortRunning(`the coordinator aborted round ${round}`);
    try {
      const { reply } = await work(signal);
      if (reply !== null) this.options.link.send(reply);
    } finally {
      this.rounds.end();
      this.machine = roundEnded(this.machine);
    }
  }

  private requireRun(): RunState {
    if (this.run === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a round arrived before the first generation was formed');
    return this.run;
  }

  private async closeRing(code: number, reason: string): Promise<void> {
    const { ring } = this;
    this.ring = null;
    if (ring !== null && ring !== this.options.link.transport) await ring.close(code, reason).catch(() => undefined);
  }

  /** Steps 2-3 for `initial` (generation_setup.ts): the run state, this generation's transport, the weights check, the reply. */
  private async formGeneration(welcome: Welcome, initial: InitialWeights): Promise<void> {
    const { config, link, listener } = this.options;
    // The root logger binds workerId already; a second binding would duplicate the JSON key.
    this.log = this.options.log.child({ rank: welcome.rank });
    const run = prepareGeneration(this.run, welcome, initial, {
      config,
      backend: this.options.backend,
      sets: this.options.sets,
      log: this.log,
      timeline: this.options.timeline,
    });
    this.run = run;
    await this.closeRing(1000, `generation ${welcome.generation}`);
    await this.inRound(initial.round, async (signal) => ({
      reply: await joinGeneration({
        run,
        welcome,
        initial,
        openTransport: () =>
          welcome.allReduce.algorithm === 'ring'
            ? connectRing({
                listener,
                rank: welcome.rank,
                worldSize: welcome.worldSize,
                runId: welcome.runId,
                generation: welcome.generation,
                peers: welcome.peers,
                token: config.token,
                ca: trustedCa(config),
                timeoutMs: config.connectTimeoutMs,
              })
            : Promise.resolve().then(() => link.starHub()),
        onTransportOpen: (transport) => {
          this.ring = transport;
          this.machine = ringOpened(this.machine);
        },
        signal,
        collectiveTimeoutMs: config.collectiveTimeoutMs,
        log: this.log,
      }),
    }));
  }
}
