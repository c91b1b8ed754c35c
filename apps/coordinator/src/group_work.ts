// What the executor (coordinator.ts) asks of a formed generation besides a round: a sharded
// evaluation, rank 0's state for a checkpoint, and the generation's announcement. Each wait is
// bounded by --round-timeout-ms and fails with the group's `GroupFailure` when a rank is lost.
import type { Logger } from 'pino';
import { CIFAR10_CLASSES } from '@gnet/data';
import type { EvalSplit, StateSnapshot } from '@gnet/protocol';
import type { CoordinatorConfig } from './coordinator_config.js';
import { evalRequests, sumEvalResults, type EvalTotals } from './evaluation.js';
import type { Generation } from './generation.js';
import type { RoundIds } from './round_ids.js';
import type { FormedGeneration } from './run_machine_types.js';
import type { RunEvents } from './run_events.js';

/** One sharded evaluation of `split` (with `averageBatchNorm`, the workers average BatchNorm statistics in the same round first). */
export async function evaluate(
  generation: Generation,
  options: { split: EvalSplit; epoch: number; averageBatchNorm: boolean; evalId: number; rounds: RoundIds; cfg: CoordinatorConfig },
): Promise<EvalTotals> {
  const { split, epoch } = options;
  let bnWork = Promise.resolve();
  let averageRound: number | null = null;
  if (options.averageBatchNorm) {
    averageRound = options.rounds.next();
    generation.group.setPhase(`round ${averageRound} (BatchNorm statistics average before ${split} evaluation)`);
    bnWork = generation.hubRound('bn', averageRound);
  } else {
    generation.group.setPhase(`${split} evaluation after epoch ${epoch + 1}`);
  }
  const requests = evalRequests({
    evalId: options.evalId,
    epoch,
    split,
    images: split === 'test' ? generation.plan.testImages : generation.plan.valImages,
    worldSize: generation.plan.worldSize,
    batchSize: options.cfg.evalBatch,
    averageRound,
  });
  requests.forEach((request, rank) => generation.group.send(rank, request));
  const results = await generation.together(
    bnWork,
    generation.group.collect('evalResult', { timeoutMs: options.cfg.roundTimeoutMs, match: (m) => m.evalId === options.evalId }),
  );
  return sumEvalResults(requests, results, CIFAR10_CLASSES.length);
}

/** Rank 0's state at `globalStep` (`checkpointRequest` → `stateSnapshot`, request id = the step). */
export async function checkpointSnapshot(
  generation: Generation,
  globalStep: number,
  stepsPerEpoch: number,
  timeoutMs: number,
): Promise<StateSnapshot> {
  generation.group.setPhase(`checkpoint at step ${globalStep}`);
  generation.group.send(0, {
    type: 'checkpointRequest',
    requestId: globalStep,
    epoch: Math.floor(globalStep / stepsPerEpoch),
    step: globalStep % stepsPerEpoch,
    globalStep,
    includeMomentum: true,
  });
  const [snapshot] = await generation.together(
    Promise.resolve(),
    generation.group.collect('stateSnapshot', { timeoutMs, ranks: [0], match: (m) => m.requestId === globalStep }),
  );
  return snapshot!;
}

/** The generation as the run machine sees it. */
export function formedGeneration(generation: Generation): FormedGeneration {
  return {
    generation: generation.group.generation,
    workerIds: generation.group.members.map((m) => m.hello.workerId),
    batchNorm: generation.plan.bufferElements > 0,
    globalBatch: generation.plan.globalBatch,
    schedule: generation.plan.schedule,
  };
}

/** Tells the live feed and the log that `generation` was formed, starting at `globalStep`. */
export function announceGeneration(
  generation: Generation,
  options: { globalStep: number; stepsPerEpoch: number; events: RunEvents; log: Logger; atMs: number },
): void {
  const workers = generation.group.members.map((m) => ({
    rank: m.rank,
    workerId: m.hello.workerId,
    backend: m.hello.backend,
    device: m.hello.device,
  }));
  options.events.emit({
    kind: 'generation',
    atMs: options.atMs,
    generation: generation.group.generation,
    worldSize: generation.plan.worldSize,
    globalStep: options.globalStep,
    workers,
    microBatch: generation.plan.hyper.microBatch,
  });
  options.log.info(
    {
      generation: generation.group.generation,
      worldSize: generation.plan.worldSize,
      workers,
      globalStep: options.globalStep,
      microBatch: generation.plan.hyper.microBatch,
      globalBatch: generation.plan.globalBatch,
      stepsPerEpoch: options.stepsPerEpoch,
    },
    'group formed',
  );
}
