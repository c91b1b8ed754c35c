// The formed group as the coordinator sees it: one WebSocket per rank, carrying both the control
// messages and (for the star all-reduce) the gradient chunks. Each socket is attached to one
// WsTransport whose rank is the star hub's; control frames are decoded here and queued per rank,
// chunk frames go to the transport for the StarHub. Every wait for the workers (`collect`) is
// bounded, warns about stragglers by rank (horovod's stall inspector), and fails as soon as any
// rank is lost.
import type { Logger } from 'pino';
import {
  decodeMessage,
  encodeMessage,
  errorMessageFor,
  ProtocolError,
  type Hello,
  type Leave,
  type Message,
  type MessageOf,
  type MessageType,
} from '@gnet/protocol';
import { starHubRank, WsTransport } from '@gnet/collective';
import { PhaseTimeoutError, WorkerLostError } from './errors.js';
import type { JoinedWorker } from './rendezvous.js';
import { StallClock } from './stall_clock.js';

/** Messages a worker may send once the group is formed. */
const FROM_WORKER: readonly MessageType[] = ['ready', 'metrics', 'evalResult', 'stateSnapshot', 'heartbeat', 'leave', 'error'];

/** One rank of the group. */
export interface Member {
  rank: number;
  hello: Hello;
  /** performance.now() of the last message of any kind from this rank. */
  lastHeardMs: number;
}

interface Collector {
  type: MessageType;
  got: Map<number, Message>;
  ranks: readonly number[];
  check(): void;
}

/** Options of {@link WorkerGroup}. */
export interface WorkerGroupOptions {
  joined: readonly JoinedWorker[];
  log: Logger;
  /** Period of our heartbeats to every worker, in milliseconds. */
  heartbeatMs: number;
  /** A wait longer than this logs a stall warning naming the missing ranks (and again each period). */
  stallWarnMs: number;
}

/** The group after rendezvous: rank `i` is `joined[i]`. */
export class WorkerGroup {
  readonly worldSize: number;
  readonly members: readonly Member[];
  /** Reaches every rank; its own rank is `starHubRank(worldSize)` (the StarHub runs on it). */
  readonly transport: WsTransport;
  /** Rejects with the first `WorkerLostError`; never resolves. */
  readonly failed: Promise<never>;
  private readonly log: Logger;
  private readonly stallWarnMs: number;
  private readonly sockets: readonly JoinedWorker['socket'][];
  private readonly queues: Message[][];
  private collector: Collector | null = null;
  private failure: WorkerLostError | null = null;
  private fail!: (err: WorkerLostError) => void;
  private phase = 'group formation';
  private closing = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(options: WorkerGroupOptions) {
    const { joined, log } = options;
    this.log = log;
    this.stallWarnMs = options.stallWarnMs;
    this.worldSize = joined.length;
    this.sockets = joined.map((j) => j.socket);
    this.queues = joined.map(() => []);
    this.members = joined.map((j, rank) => ({ rank, hello: j.hello, lastHeardMs: performance.now() }));
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    // Callers race `failed` against what they wait for; an unobserved rejection must not crash.
    this.failed.catch(() => undefined);
    this.transport = new WsTransport({ rank: starHubRank(this.worldSize), onControlFrame: (rank, frame) => this.onControl(rank, frame) });
    joined.forEach((j, rank) => {
      j.socket.on('close', (code: number, reason: Buffer) => {
        const text = reason.toString('utf8');
        this.lose(rank, code === 1006 ? 'connection lost (1006: the process died or the network dropped)' : `connection closed with ${code}${text === '' ? '' : ` ${text}`}`);
      });
      this.transport.attach(rank, j.socket, 'accepted', j.takeEarlyFrames());
      if (j.socket.readyState !== j.socket.OPEN) this.lose(rank, 'connection closed while the group was forming');
    });
    this.heartbeat = setInterval(() => this.broadcast({ type: 'heartbeat', sentAtMs: Date.now() }), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** What the run is doing, named in loss and timeout errors: `round 7 (epoch 1, step 3)`. */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  /** The first failure, if any. */
  get failedWith(): WorkerLostError | null {
    return this.failure;
  }

  send(rank: number, message: Message): void {
    const socket = this.sockets[rank]!;
    if (socket.readyState === socket.OPEN) socket.send(encodeMessage(message), { binary: true });
  }

  broadcast(message: Message): void {
    const frame = encodeMessage(message);
    for (const socket of this.sockets) if (socket.readyState === socket.OPEN) socket.send(frame, { binary: true });
  }

  /**
   * Waits for one `type` message from each of `ranks` (default: all), in rank order. Warns every
   * `stallWarnMs` naming the ranks still missing and for how long; rejects with
   * `PhaseTimeoutError` after `timeoutMs` and with `WorkerLostError` as soon as a rank is lost.
   */
  collect<K extends MessageType>(type: K, options: { timeoutMs: number; ranks?: readonly number[] }): Promise<MessageOf<K>[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.collector !== null) throw new Error(`WorkerGroup.collect('${type}') called while collecting '${this.collector.type}'`);
    const ranks = options.ranks ?? this.members.map((m) => m.rank);
    const phase = this.phase;
    const clock = new StallClock(this.stallWarnMs);
    return new Promise<MessageOf<K>[]>((resolve, reject) => {
      const collector: Collector = { type, got: new Map(), ranks, check: () => undefined };
      const missing = (): number[] => ranks.filter((r) => !collector.got.has(r));
      const finish = (): void => {
        clearInterval(ticker);
        clearTimeout(timer);
        this.collector = null;
      };
      const ticker = setInterval(() => {
        const due = clock.due(performance.now());
        if (due === null) return;
        const now = performance.now();
        this.log.warn(
          {
            phase,
            waiting: type,
            missingRanks: missing(),
            waitingMs: Math.round(due),
            lastHeardAgoMs: Object.fromEntries(missing().map((r) => [r, Math.round(now - this.members[r]!.lastHeardMs)])),
          },
          'stall: waiting for ranks',
        );
      }, Math.min(1000, this.stallWarnMs));
      const timer = setTimeout(() => {
        finish();
        reject(new PhaseTimeoutError(phase, missing(), options.timeoutMs));
      }, options.timeoutMs);
      this.failed.catch((err: unknown) => {
        if (this.collector !== collector) return;
        finish();
        reject(err);
      });
      collector.check = () => {
        if (missing().length > 0) return;
        finish();
        resolve(ranks.map((r) => collector.got.get(r) as MessageOf<K>));
      };
      this.collector = collector;
      // Messages that arrived before we started waiting.
      for (const rank of ranks) {
        const queue = this.queues[rank]!;
        const i = queue.findIndex((m) => m.type === type);
        if (i >= 0) collector.got.set(rank, queue.splice(i, 1)[0]!);
      }
      collector.check();
    });
  }

  /**
   * Ends the run for every worker: `leave` with `reason`, then closes the sockets (waiting up to
   * a second for their close frames). Losses from here on are expected and not reported.
   */
  async close(leave: Leave | null): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    if (leave !== null) this.broadcast(leave);
    await this.transport.close(1000, leave?.reason ?? 'done');
  }

  private onControl(rank: number, frame: Uint8Array): void {
    const member = this.members[rank]!;
    member.lastHeardMs = performance.now();
    let message: Message;
    try {
      message = decodeMessage(frame, { expect: FROM_WORKER });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const socket = this.sockets[rank]!;
      if (socket.readyState === socket.OPEN) {
        socket.send(encodeMessage(errorMessageFor(err)), { binary: true });
        socket.close(err.closeCode, err.code);
      }
      this.lose(rank, `sent a bad message (${err.code}): ${err.message}`);
      return;
    }
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'error':
        this.lose(rank, `reported ${message.code}: ${message.message}`);
        return;
      case 'leave':
        this.lose(rank, `left (${message.reason})${message.message === '' ? '' : `: ${message.message}`}`);
        return;
      default:
        break;
    }
    const collector = this.collector;
    if (collector !== null && collector.type === message.type && collector.ranks.includes(rank) && !collector.got.has(rank)) {
      collector.got.set(rank, message);
      collector.check();
      return;
    }
    this.queues[rank]!.push(message);
  }

  private lose(rank: number, reason: string): void {
    if (this.closing || this.failure !== null) return;
    const member = this.members[rank]!;
    this.failure = new WorkerLostError(rank, member.hello.workerId, this.phase, reason);
    this.fail(this.failure);
  }
}
