// One generation of the group as the coordinator sees it: one WebSocket per rank and one
// ControlChannel on it (decoding against the messages a worker may send, refusing a bad frame with
// its protocol code, heartbeats, the silence verdict); the rank's messages are queued here. Who
// reads the socket depends on the all-reduce, as on the worker's side (coordinator_link.ts):
//  - star: the socket also carries the gradient chunks, so a WsTransport (rank = the star hub's)
//    reads it, keeps the chunk frames for the StarHub (`starHub()`) and feeds the control frames
//    to the channel;
//  - ring: chunks travel on the workers' own ring connections, so the channel reads the socket
//    itself and a chunk frame on it is refused like any unexpected message (`error`
//    PROTO_UNEXPECTED, close 1002, the rank lost): never buffered unread.
// Every wait for the workers (`collect`) is bounded, warns about stragglers by rank (horovod's
// stall inspector), and fails as soon as a rank it waits for is lost or reports a failed round. A
// rank is lost when its socket closes, it sends `error` or `leave`, or it is silent for
// `workerTimeoutMs` (heartbeats stop when a process is frozen or its machine is gone). The sockets
// outlive the generation: `detach` hands the survivors' sockets back for the next one, holding
// what they send meanwhile (holdFrames), so no frame is lost or reordered in either mode.
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import {
  encodeMessage,
  type AllReduceAlgorithm,
  type Hello,
  type Leave,
  type Message,
  type RoundFailed,
  type StateSnapshot,
  type MessageOf,
  type MessageType,
  type ProtocolError,
} from '@gnet/protocol';
import { CollectiveUsageError, ControlChannel, holdFrames, starHubRank, WsTransport, type ChannelEnd } from '@gnet/collective';
import { RoundFailedError, WorkerLostError } from './errors.js';
import { RankCollector } from './rank_collector.js';

/**
 * Request ids of `requestSnapshot`: far above any global step, which periodic checkpoints use as
 * their request id, so a late reply to one is never taken for the other.
 */
let snapshotRequestIds = 1_000_000_000;

/** `roundFailed` reports kept per rank and generation (`roundFailures`). */
const MAX_REPORTS_PER_RANK = 4;

/** Messages a worker may send once it has joined. */
const FROM_WORKER: readonly MessageType[] = [
  'ready',
  'metrics',
  'roundFailed',
  'evalResult',
  'stateSnapshot',
  'heartbeat',
  'leave',
  'error',
];

/** A connected worker whose hello was accepted: a member of a generation, or waiting to be one. */
export interface Candidate {
  hello: Hello;
  socket: WebSocket;
  /** This connection's `welcome.serverProof` (rendezvous.ts, handshake step 6); the same in every `welcome` sent on it. */
  serverProof: Uint8Array;
  /**
   * Returns the messages that arrived since the last hand-over and stops collecting them; call it
   * in the same tick as attaching the socket to its next reader, so none falls in between.
   */
  takeEarlyFrames(): Uint8Array[];
}

/** One rank of the generation. */
export interface Member {
  rank: number;
  hello: Hello;
  /** performance.now() of the last control message of any kind from this rank (its channel's). */
  readonly lastHeardMs: number;
}

/** Options of {@link WorkerGroup}. */
export interface WorkerGroupOptions {
  members: readonly Candidate[];
  generation: number;
  /** The generation's all-reduce: `star` sends the chunks over these sockets too (see the file header). */
  algorithm: AllReduceAlgorithm;
  log: Logger;
  /** Period of our heartbeats to every worker, in milliseconds. */
  heartbeatMs: number;
  /** A wait longer than this logs a stall warning naming the missing ranks (and again each period). */
  stallWarnMs: number;
  /** A rank silent this long is lost, in milliseconds. */
  workerTimeoutMs: number;
  /** Called once per lost rank (the dashboard's membership events). */
  onLost?: (rank: number, workerId: string, reason: string) => void;
}

/** A generation: rank `i` is `members[i]`. */
export class WorkerGroup {
  readonly worldSize: number;
  readonly generation: number;
  readonly members: readonly Member[];
  readonly algorithm: AllReduceAlgorithm;
  /** Rejects with the first `WorkerLostError`; never resolves. */
  readonly failed: Promise<never>;
  /** Every rank lost so far, with the reason. */
  readonly lost = new Map<number, string>();
  /**
   * Every `roundFailed` this generation received, in arrival order, whoever was waiting: recovery
   * reads them all to find the sender of a malformed frame (blame.ts), not just the first.
   */
  readonly roundFailures: { rank: number; report: RoundFailed }[] = [];
  /**
   * Lost ranks that left deliberately (`leave` shutdown: SIGINT/SIGTERM) and whose socket is still
   * open: they still answer a `checkpointRequest`, so their state need not be thrown away.
   */
  private readonly leaving = new Set<number>();
  private readonly log: Logger;
  private readonly stallWarnMs: number;
  private readonly candidates: readonly Candidate[];
  /** One per rank: the rank's control messages, our heartbeats to it, its liveness. */
  private readonly channels: readonly ControlChannel[];
  /** Star only: reads every rank's socket (see the file header); null in ring mode. */
  private readonly starTransport: WsTransport | null;
  private readonly queues: Message[][];
  private collector: RankCollector | null = null;
  private failure: WorkerLostError | null = null;
  private fail!: (err: WorkerLostError) => void;
  private phase = 'group formation';
  private closing = false;
  private detached = false;
  private readonly onLost: WorkerGroupOptions['onLost'];

  constructor(options: WorkerGroupOptions) {
    this.onLost = options.onLost;
    const { members, log } = options;
    // Every line of this group names its generation (bound once here: callers must not bind it too).
    this.log = log.child({ generation: options.generation });
    this.generation = options.generation;
    this.algorithm = options.algorithm;
    this.stallWarnMs = options.stallWarnMs;
    this.worldSize = members.length;
    this.candidates = members;
    this.queues = members.map(() => []);
    this.channels = members.map(
      (candidate, rank) =>
        new ControlChannel({
          socket: candidate.socket,
          expect: FROM_WORKER,
          onMessage: (message) => this.onMessage(rank, message),
          onEnd: (end) => this.onEnd(rank, end),
        }),
    );
    this.members = this.channels.map((channel, rank) => ({
      rank,
      hello: members[rank]!.hello,
      get lastHeardMs(): number {
        return channel.lastHeardMs;
      },
    }));
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    // Callers race `failed` against what they wait for; an unobserved rejection must not crash.
    this.failed.catch(() => undefined);
    const transport =
      options.algorithm === 'star'
        ? new WsTransport({ rank: starHubRank(this.worldSize), onControlFrame: (rank, frame) => this.channels[rank]!.receive(frame) })
        : null;
    this.starTransport = transport;
    members.forEach((candidate, rank) => {
      const channel = this.channels[rank]!;
      // The early frames go first, in this tick, to whoever reads the socket from now on.
      if (transport !== null) transport.attach(rank, candidate.socket, 'accepted', candidate.takeEarlyFrames());
      else channel.listen(candidate.takeEarlyFrames());
      if (!channel.isOpen) this.lose(rank, 'connection closed while the group was forming');
      channel.startHeartbeat(options.heartbeatMs);
      channel.watchSilence(options.workerTimeoutMs);
    });
  }

  /**
   * The transport the StarHub sums over (its own rank is `starHubRank(worldSize)`). Star only: in
   * ring mode these sockets carry no chunks, and asking is a bug (`CollectiveUsageError`).
   */
  starHub(): WsTransport {
    if (this.starTransport === null)
      throw new CollectiveUsageError(
        `WorkerGroup.starHub: the workers' sockets carry chunks only for the star all-reduce, but generation ${this.generation} uses '${this.algorithm}'`,
      );
    return this.starTransport;
  }

  /** What the run is doing, named in loss and timeout errors: `round 7 (epoch 1, step 3)`. */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  /** The first failure, if any. */
  get failedWith(): WorkerLostError | null {
    return this.failure;
  }

  /** Ranks still connected and not lost, in rank order. */
  get aliveRanks(): number[] {
    return this.members.filter((m) => !this.lost.has(m.rank)).map((m) => m.rank);
  }

  /** Ranks that are leaving deliberately and can still send their state (see `leaving`). */
  get leavingRanks(): number[] {
    return [...this.leaving].filter((rank) => !this.detached && this.channels[rank]!.isOpen).sort((a, b) => a - b);
  }

  /** True once `detach` handed the sockets over: nothing can be asked of this generation any more. */
  get isDetached(): boolean {
    return this.detached;
  }

  send(rank: number, message: Message): void {
    this.channels[rank]!.send(message);
  }

  broadcast(message: Message): void {
    // Encoded once: `initialWeights` carries the whole model.
    const frame = encodeMessage(message);
    for (const channel of this.channels) channel.sendFrame(frame);
  }

  /**
   * Waits for one `type` message that `match` accepts from each of `ranks` (default: all), in
   * rank order; messages of that type that `match` refuses (late replies of an aborted round) are
   * dropped. Warns every `stallWarnMs` naming the ranks still missing and for how long; rejects
   * with `PhaseTimeoutError` after `timeoutMs` (the wait itself is a RankCollector), with
   * `WorkerLostError` as soon as one of `ranks` is lost, and (unless `roundFailed` is false) with
   * `RoundFailedError` when a rank reports a failed all-reduce. With `fromLeaving`, ranks that are leaving deliberately (`leavingRanks`)
   * may answer too; their socket closing fails the wait.
   */
  collect<K extends MessageType>(
    type: K,
    options: {
      timeoutMs: number;
      ranks?: readonly number[];
      match?: (message: MessageOf<K>) => boolean;
      roundFailed?: boolean;
      fromLeaving?: boolean;
    },
  ): Promise<MessageOf<K>[]> {
    if (this.collector !== null) throw new Error(`WorkerGroup.collect('${type}') called while collecting '${this.collector.type}'`);
    const ranks = options.ranks ?? this.members.map((m) => m.rank);
    const lostRank = ranks.find((r) => this.lost.has(r) && !(options.fromLeaving === true && this.leavingRanks.includes(r)));
    if (lostRank !== undefined) return Promise.reject(this.lostError(lostRank));
    const phase = this.phase;
    const collector: RankCollector = new RankCollector({
      type,
      ranks,
      match: (options.match ?? (() => true)) as (message: Message) => boolean,
      phase,
      timeoutMs: options.timeoutMs,
      stallWarnMs: this.stallWarnMs,
      onStall: (missingRanks, waitedMs) => {
        const now = performance.now();
        this.log.warn(
          {
            phase,
            waiting: type,
            missingRanks,
            waitingMs: Math.round(waitedMs),
            lastHeardAgoMs: Object.fromEntries(missingRanks.map((r) => [r, Math.round(now - this.members[r]!.lastHeardMs)])),
          },
          'stall: waiting for ranks',
        );
      },
      onSettled: () => {
        if (this.collector === collector) this.collector = null;
      },
    });
    this.collector = collector;
    // Only messages of `type` reach `match` and the answer.
    const answer = collector.answer as Promise<MessageOf<K>[]>;
    if (options.roundFailed ?? true) {
      // A roundFailed already queued, from any rank (also outside `ranks`), breaks the group.
      for (const [rank, queue] of this.queues.entries()) {
        const failed = queue.find((m) => m.type === 'roundFailed');
        if (failed !== undefined && failed.type === 'roundFailed') {
          collector.reject(new RoundFailedError(rank, failed.round, failed.peerRank, failed.message));
          return answer;
        }
      }
      collector.watchRoundFailed = true;
    }
    // Messages that arrived before we started waiting.
    for (const rank of ranks) {
      const queue = this.queues[rank]!;
      for (let i = 0; i < queue.length && collector.awaits(rank);) {
        const message = queue[i]!;
        if (collector.wants(rank, message)) {
          queue.splice(i, 1);
          collector.offer(rank, message);
        } else i += 1;
      }
    }
    // Resolves now when every rank had answered already (or `ranks` is empty).
    collector.settleIfComplete();
    return answer;
  }

  /**
   * Asks `rank` for its full state (`checkpointRequest` → `stateSnapshot`, which says the step it
   * trains next) during `phase`; `roundFailed` reports do not fail this wait. With `fromLeaving`,
   * a rank leaving on its own signal may answer (see `collect`).
   */
  async requestSnapshot(
    rank: number,
    options: { globalStep: number; timeoutMs: number; phase: string; fromLeaving?: boolean },
  ): Promise<StateSnapshot> {
    const requestId = snapshotRequestIds++;
    this.setPhase(options.phase);
    this.send(rank, { type: 'checkpointRequest', requestId, epoch: 0, step: 0, globalStep: options.globalStep, includeMomentum: true });
    const [snapshot] = await this.collect('stateSnapshot', {
      timeoutMs: options.timeoutMs,
      ranks: [rank],
      match: (m) => m.requestId === requestId,
      roundFailed: false,
      fromLeaving: options.fromLeaving,
    });
    return snapshot!;
  }

  /** Fails the wait in progress, if any, with `err` (the caller gave up on it, e.g. to stop the run). */
  abortWait(err: Error): void {
    this.collector?.reject(err);
  }

  /** Drops every queued message (e.g. the `roundFailed`s of a round already being recovered from). */
  clearQueues(): void {
    for (const q of this.queues) q.length = 0;
  }

  /**
   * Ends this generation without closing the survivors' sockets: stops our timers, lets go of
   * the sockets (the next generation attaches them) and fails any wait in progress. Returns the
   * candidates of the ranks still alive, in rank order; messages they send from now on are
   * collected for the next hand-over.
   */
  detach(): Candidate[] {
    this.detached = true;
    // Every reader lets go in this tick, and `rehome` below starts holding the survivors' frames.
    for (const channel of this.channels) channel.release();
    this.starTransport?.detach();
    // Lost ranks whose socket is still open (silent, stuck, leaving): tell them why and cut it, so
    // a frozen process that wakes up reads that it was evicted (not that we died) and rejoins as
    // a new member. Its kernel still accepts these bytes while the process is stopped.
    for (const [rank, reason] of this.lost) {
      this.channels[rank]!.sendAndClose(
        { type: 'leave', reason: 'evicted', message: `generation ${this.generation} ended without this worker: ${reason}`.slice(0, 4096) },
        1008,
        'evicted',
      );
    }
    this.abortWait(this.failure ?? new WorkerLostError(-1, '', this.phase, 'the generation ended'));
    return this.aliveRanks.map((rank) => rehome(this.candidates[rank]!));
  }

  /**
   * Closes the socket of `rank` after telling it why (`leave` evicted), e.g. a rank that stalled;
   * `close` is the WebSocket close code and reason (a malformed frame: its protocol code).
   */
  evict(rank: number, message: string, close: { code: number; reason: string } = { code: 1008, reason: 'evicted' }): void {
    this.channels[rank]!.sendAndClose({ type: 'leave', reason: 'evicted', message: message.slice(0, 4096) }, close.code, close.reason);
    this.lose(rank, `evicted: ${message}`);
  }

  /**
   * Refuses `rank` for breaking the protocol (`err`): sends it `error` with the code, closes its
   * socket with the code's close code, and loses it; the group re-forms without it.
   */
  refuse(rank: number, err: ProtocolError): void {
    this.channels[rank]!.refuse(err);
    this.lose(rank, badMessage(err));
  }

  /**
   * Ends the run for every worker: `leave` with `reason`, then closes the sockets (waiting up to
   * a second for their close frames). Losses from here on are expected and not reported.
   */
  async close(leave: Leave | null): Promise<void> {
    this.closing = true;
    // A wait still running (a hard abort gave up on it) ends here, with its timers.
    this.abortWait(this.failure ?? new WorkerLostError(-1, '', this.phase, 'the group was closed'));
    for (const channel of this.channels) channel.release();
    if (leave !== null) this.broadcast(leave);
    const reason = leave?.reason ?? 'done';
    // The star transport also fails the hub's pending chunk sends and receives.
    if (this.starTransport !== null) await this.starTransport.close(1000, reason);
    else await Promise.all(this.channels.map((channel) => channel.close(1000, reason)));
  }

  private onMessage(rank: number, message: Message): void {
    // A few per rank is all a failed round produces; a rank that sends more is not heard further.
    if (message.type === 'roundFailed' && this.roundFailures.filter((f) => f.rank === rank).length < MAX_REPORTS_PER_RANK)
      this.roundFailures.push({ rank, report: message });
    switch (message.type) {
      case 'error':
        this.lose(rank, `reported ${message.code}: ${message.message}`);
        return;
      case 'leave':
        // A deliberate exit (SIGINT/SIGTERM) keeps serving checkpointRequest until we close it.
        if (message.reason === 'shutdown' && !this.lost.has(rank)) this.leaving.add(rank);
        this.lose(rank, `left (${message.reason})${message.message === '' ? '' : `: ${message.message}`}`);
        return;
      default:
        break;
    }
    const collector = this.collector;
    if (collector !== null && message.type === 'roundFailed' && collector.watchRoundFailed) {
      collector.reject(new RoundFailedError(rank, message.round, message.peerRank, message.message));
      return;
    }
    if (collector !== null && collector.wants(rank, message)) {
      if (!collector.offer(rank, message)) this.log.debug({ rank, type: message.type }, 'dropped a late reply');
      return;
    }
    this.queues[rank]!.push(message);
  }

  /** The end of `rank`'s channel, told by the channel once: the rank is lost. */
  private onEnd(rank: number, end: ChannelEnd): void {
    // A leaving rank whose channel ended (closed, silent or refused) will not hand over its state:
    // a wait for it fails now, not at its own limit.
    if (this.leaving.delete(rank) && this.collector?.ranks.includes(rank)) this.collector.reject(this.lostError(rank));
    switch (end.kind) {
      case 'closed':
        this.lose(
          rank,
          end.code === 1006
            ? 'connection lost (1006: the process died or the network dropped)'
            : `connection closed with ${end.code}${end.reason === '' ? '' : ` ${end.reason}`}`,
        );
        return;
      case 'silent':
        this.lose(rank, `silent for ${Math.round(end.silentMs)} ms (limit --worker-timeout-ms ${end.limitMs})`);
        return;
      case 'protocol':
        this.lose(rank, badMessage(end.error));
        return;
    }
  }

  private lostError(rank: number): WorkerLostError {
    return new WorkerLostError(rank, this.members[rank]!.hello.workerId, this.phase, this.lost.get(rank) ?? 'lost');
  }

  private lose(rank: number, reason: string): void {
    if (this.closing || this.detached || this.lost.has(rank)) return;
    this.lost.set(rank, reason);
    const err = this.lostError(rank);
    this.onLost?.(rank, err.workerId, reason);
    this.log.warn(
      {
        rank,
        workerId: err.workerId,
        phase: this.phase,
        reason,
        lastHeardAgoMs: Math.round(performance.now() - this.members[rank]!.lastHeardMs),
      },
      'worker lost',
    );
    const collector = this.collector;
    if (collector !== null && collector.ranks.includes(rank)) collector.reject(err);
    if (this.failure === null) {
      this.failure = err;
      this.fail(err);
    }
  }
}

/**
 * Ends the run for workers outside any generation: `leave` (shutdown) with `text`, then the close,
 * cut a second later whatever the worker does (ControlChannel.sendAndClose: a frozen worker never
 * answers the close, and ws alone would wait 30 s for it).
 */
export function shutDown(members: readonly Candidate[], text: string, code: number, reason: string): void {
  const leave: Leave = { type: 'leave', reason: 'shutdown', message: text.slice(0, 4096) };
  for (const m of members) new ControlChannel({ socket: m.socket }).sendAndClose(leave, code, reason);
}

/** Why a rank that broke the protocol is lost. */
function badMessage(err: ProtocolError): string {
  return `sent a bad message (${err.code}): ${err.message}`;
}

/**
 * A survivor's socket, collecting its messages again until the next generation takes it over (a
 * worker may still send replies of the old generation meanwhile; the next group's `collect`
 * drops those it does not match).
 */
function rehome(candidate: Candidate): Candidate {
  return {
    hello: candidate.hello,
    socket: candidate.socket,
    serverProof: candidate.serverProof,
    takeEarlyFrames: holdFrames(candidate.socket),
  };
}
