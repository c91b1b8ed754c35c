// Forming one generation of the group (handshake steps 5-7 of packages/protocol/README.md): plan
// for these workers, send each its `welcome` (rank, world size, generation, peers) and
// `initialWeights` (the state the generation starts from: nothing on a fresh run, where every
// worker initialises from the seed; else a checkpoint's or a survivor's tensors), then run the
// generation's weights check (one exact all-reduce round: star through our hubs, which sum over
// the group's star transport, `group.starHub()`; ring between the workers alone) and wait for
// every `ready`. A failure here is a `GroupFailure` like any other: the caller re-forms again.
import type { Logger } from 'pino';
import type { Bucket, WireTensor } from '@gnet/protocol';
import { BadFrameError, PeerLostError, StarHub } from '@gnet/collective';
import type { CoordinatorConfig } from './coordinator_config.js';
import { planRun, type RunPlan, type SplitFacts } from './run_plan.js';
import { WorkerGroup, type Candidate } from './worker_group.js';

/** Float32 elements of the weights check: a SHA-256 as sixteen 16-bit halves (exact sums for < 256 ranks). */
export const WEIGHTS_CHECK_ELEMENTS = 16;

/** The state a generation starts from. */
export interface StartState {
  globalStep: number;
  /** Variables then BatchNorm statistics; empty: initialise from the seed. */
  tensors: WireTensor[];
  momentum: WireTensor[];
}

/** A formed generation: its group, plan and (star) hubs. */
export interface Generation {
  group: WorkerGroup;
  plan: RunPlan;
  /** Star only: sums gradients, the weights check and BatchNorm statistics in this process. */
  hubs: { grad: StarHub; check: StarHub; bn: StarHub | null } | null;
  /** Waits for a hub round (star) and a collect together; a lost rank surfaces as the group's error. */
  together<T>(hubWork: Promise<void>, collected: Promise<T>): Promise<T>;
  hubRound(hub: 'grad' | 'check' | 'bn', round: number): Promise<void>;
}

/**
 * The generation a failed `formGeneration` leaves behind, kept beside its error (not on it: errors
 * are logged, and a group with its sockets must never reach the log serializer).
 */
const brokenGenerations = new WeakMap<object, Generation>();

/** The generation whose formation failed with `err`. */
export function generationOf(err: Error): Generation {
  const broken = brokenGenerations.get(err);
  if (broken === undefined) throw new Error(`no generation recorded for ${err.name}`);
  return broken;
}

/** Options of {@link formGeneration}. */
export interface FormOptions {
  cfg: CoordinatorConfig;
  members: readonly Candidate[];
  generation: number;
  runId: string;
  facts: SplitFacts;
  state: StartState;
  stepsPerEpoch: number;
  /** The round number of the weights check (from `RoundIds`: never reused, across restarts too). */
  checkRound: number;
  /** The process's root logger (the group logs as `module: group`). */
  log: Logger;
  /** Rejecting it ends the wait (Ctrl-C). */
  aborted: Promise<never>;
  onLost?: (rank: number, workerId: string, reason: string) => void;
}

/** `ws://host:port` (or `wss://` when it serves TLS) of a worker's peer listener. */
function peerUrl(peer: { host: string; port: number; tls: boolean }): string {
  return `${peer.tls ? 'wss' : 'ws'}://${peer.host.includes(':') ? `[${peer.host}]` : peer.host}:${peer.port}`;
}

function vectorHub(group: WorkerGroup, plan: RunPlan, cfg: CoordinatorConfig, buckets: Bucket[], exact: boolean): StarHub {
  return new StarHub({
    transport: group.starHub(),
    worldSize: group.worldSize,
    buckets,
    chunkBytes: plan.allReduce.chunkBytes,
    // Weights checks and BatchNorm statistics always travel as float32: they must be exact.
    wireDtype: exact ? 'float32' : plan.allReduce.wireDtype,
    timeoutMs: cfg.roundTimeoutMs,
  });
}

/**
 * Forms a generation of `members` (rank = index). Resolves once every rank passed the weights
 * check and said `ready`; rejects with a `GroupFailure` (`generationOf(err)` gives the group, so
 * the caller can detach the survivors).
 */
export async function formGeneration(options: FormOptions): Promise<Generation> {
  const { cfg, members, generation, state } = options;
  const plan = planRun(
    cfg,
    members.map((m) => m.hello.backend),
    options.facts,
  );
  const group = new WorkerGroup({
    members,
    generation,
    algorithm: plan.allReduce.algorithm,
    log: options.log.child({ module: 'group' }),
    heartbeatMs: cfg.heartbeatMs,
    stallWarnMs: cfg.stallWarnMs,
    workerTimeoutMs: cfg.workerTimeoutMs,
    onLost: options.onLost,
  });
  const star = plan.allReduce.algorithm === 'star';
  const hubs = star
    ? {
        grad: vectorHub(group, plan, cfg, plan.buckets, false),
        check: vectorHub(group, plan, cfg, [{ bucket: 0, offset: 0, length: WEIGHTS_CHECK_ELEMENTS }], true),
        bn: plan.bufferElements > 0 ? vectorHub(group, plan, cfg, [{ bucket: 0, offset: 0, length: plan.bufferElements }], true) : null,
      }
    : null;
  const together = async <T>(hubWork: Promise<void>, collected: Promise<T>): Promise<T> => {
    try {
      const [, value] = await Promise.race([Promise.all([hubWork, collected]), options.aborted]);
      return value;
    } catch (err) {
      // A dead worker fails the hub with PeerLostError at the same moment its socket closes;
      // the group's error names the rank and phase.
      if (err instanceof PeerLostError && group.failedWith !== null) throw group.failedWith;
      // A worker sent our hub a malformed chunk: the hub saw the bytes itself, so the sender is
      // evicted at once (closed with the protocol code, as a bad control message is) and the
      // group re-forms without it. Ranks past the group cannot occur: the hub reads only workers.
      if (err instanceof BadFrameError && err.peerRank < group.worldSize) {
        group.evict(err.peerRank, err.message, { code: err.protocolError.closeCode, reason: err.protocolError.code });
        throw group.failedWith ?? err;
      }
      throw err;
    } finally {
      // A collect still running (the hub failed first) must not block the next one.
      hubWork.catch(() => undefined);
      collected.catch(() => undefined);
    }
  };
  const hubRound = (hub: 'grad' | 'check' | 'bn', round: number): Promise<void> => {
    const starHub = hubs?.[hub] ?? null;
    return starHub === null ? Promise.resolve() : starHub.reduceRound(round);
  };
  const gen: Generation = { group, plan, hubs, together, hubRound };
  try {
    const peers = plan.allReduce.algorithm === 'ring' ? members.map((m, rank) => ({ rank, url: peerUrl(m.hello.peer!) })) : [];
    const epoch = Math.floor(state.globalStep / options.stepsPerEpoch);
    const step = state.globalStep % options.stepsPerEpoch;
    members.forEach((member, rank) => {
      group.send(rank, {
        type: 'welcome',
        rank,
        worldSize: plan.worldSize,
        runId: options.runId,
        generation,
        heartbeatMs: cfg.heartbeatMs,
        hyper: plan.hyper,
        model: plan.model,
        shard: plan.shard,
        buckets: plan.buckets,
        allReduce: plan.allReduce,
        peers,
        serverProof: member.serverProof,
      });
      group.send(rank, {
        type: 'initialWeights',
        generation,
        round: options.checkRound,
        epoch,
        step,
        globalStep: state.globalStep,
        tensors: state.tensors,
        momentum: state.momentum,
      });
    });
    group.setPhase(`generation ${generation} formation (round ${options.checkRound}, weights check)`);
    await together(
      hubRound('check', options.checkRound),
      group.collect('ready', { timeoutMs: cfg.roundTimeoutMs, match: (m) => m.generation === generation }),
    );
    return gen;
  } catch (err) {
    if (err instanceof Error) brokenGenerations.set(err, gen);
    throw err;
  }
}
