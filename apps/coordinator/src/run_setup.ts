// Step 1 of coordinator.ts before any worker is needed: the data's split facts, the base plan,
// the run folder and its checkpoint store, the run machine, the state to start from (fresh, or
// the newest good checkpoint with --resume), the round numbers, and the `started` event.
import type { Logger } from 'pino';
import { CIFAR10_CLASSES } from '@gnet/data';
import { RunFolder, type CheckpointStore } from '@gnet/run-store';
import type { CoordinatorConfig } from './coordinator_config.js';
import { RoundIds } from './round_ids.js';
import type { RunEvents } from './run_events.js';
import { RunMachine } from './run_machine.js';
import { planRun, type RunPlan, type SplitFacts } from './run_plan.js';
import { startingPoint, type RunStartingPoint } from './run_start.js';
import { readSplitFacts } from './split_facts.js';

/** What a run is set up with. */
export interface RunSetup {
  facts: SplitFacts;
  /** The plan for --workers workers (each generation plans again for its members). */
  basePlan: RunPlan;
  folder: RunFolder;
  store: CheckpointStore;
  machine: RunMachine;
  start: RunStartingPoint;
  rounds: RoundIds;
}

/** Options of {@link setUpRun}. */
export interface RunSetupOptions {
  cfg: CoordinatorConfig;
  /** Absolute run folder. */
  runDir: string;
  /** Absolute CIFAR-10 folder (already verified). */
  dataDir: string;
  log: Logger;
  events: RunEvents;
  now: () => number;
  /** Rejects on a stop request: reading the data stops waiting at once. */
  abortedNow: Promise<never>;
}

/** Sets the run up; see the file header. Throws `ConfigError` when --resume cannot continue this run. */
export async function setUpRun(options: RunSetupOptions): Promise<RunSetup> {
  const { cfg, log, events } = options;
  const facts = await Promise.race([readSplitFacts(options.dataDir, cfg.seed, cfg.trainLimit), options.abortedNow]);
  const basePlan = planRun(
    cfg,
    Array.from({ length: cfg.workers }, () => cfg.backend),
    facts,
  );
  const folder = new RunFolder(options.runDir);
  const store: CheckpointStore = folder.checkpoints(cfg.keepCheckpoints);
  const machine = new RunMachine({
    stepsPerEpoch: basePlan.stepsPerEpoch,
    epochs: basePlan.hyper.epochs,
    maxWorkers: cfg.maxWorkers,
    maxSkippedSteps: cfg.maxSkippedSteps,
    maxReforms: cfg.maxReforms,
    checkpointEverySteps: cfg.checkpointEverySteps,
    classes: CIFAR10_CLASSES,
  });
  const start = await startingPoint(cfg, basePlan, folder, store, log);
  await folder.rewriteMetrics(start.epochs);
  const rounds = RoundIds.open(options.runDir, cfg.resume);
  if (rounds.origin === 'legacy')
    log.warn(
      { firstRound: rounds.peek() },
      'the run folder has no rounds.json (written by an older coordinator); round numbers continue from a safe floor',
    );
  const { token: _token, ...shown } = cfg;
  events.emit({
    kind: 'started',
    atMs: options.now(),
    runId: start.runId,
    config: shown as Record<string, unknown>,
    stepsPerEpoch: basePlan.stepsPerEpoch,
    totalSteps: machine.totalSteps,
    epochs: basePlan.hyper.epochs,
    resumedAtStep: cfg.resume ? start.state.globalStep : null,
  });
  return { facts, basePlan, folder, store, machine, start, rounds };
}
