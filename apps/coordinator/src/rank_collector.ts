// One wait of `WorkerGroup.collect`: a message of one type from each of a set of ranks. It is
// bounded (`PhaseTimeoutError` naming the ranks still missing), says every `stallWarnMs` which
// ranks it still waits for (horovod's stall inspector), and settles exactly once: the group feeds
// it messages and rejects it on a loss, a failed round or a generation's end.
import type { Message, MessageType } from '@gnet/protocol';
import { PhaseTimeoutError } from './errors.js';
import { StallClock } from './stall_clock.js';

/** Options of {@link RankCollector}. */
export interface RankCollectorOptions {
  type: MessageType;
  /** The ranks it waits for; the answer lists their messages in this order. */
  ranks: readonly number[];
  /** Messages of `type` it refuses (late replies of an aborted round) are dropped. */
  match: (message: Message) => boolean;
  /** What the group is doing, named by the timeout error. */
  phase: string;
  timeoutMs: number;
  stallWarnMs: number;
  /** Called when a stall warning is due, with the ranks still missing and how long it has waited. */
  onStall: (missingRanks: number[], waitingMs: number) => void;
  /** Called once, when it settles either way (the group stops feeding it). */
  onSettled: () => void;
}

export class RankCollector {
  readonly type: MessageType;
  readonly ranks: readonly number[];
  /** Resolves with one message of `type` per rank of `ranks`, in that order. */
  readonly answer: Promise<Message[]>;
  /** Whether a `roundFailed` from any rank fails this wait (armed once the queued ones are checked). */
  watchRoundFailed = false;
  private readonly got = new Map<number, Message>();
  private readonly match: (message: Message) => boolean;
  private readonly onSettled: () => void;
  private resolveAnswer!: (messages: Message[]) => void;
  private rejectAnswer!: (err: Error) => void;
  private readonly ticker: NodeJS.Timeout;
  private readonly timer: NodeJS.Timeout;
  private settled = false;

  constructor(options: RankCollectorOptions) {
    this.type = options.type;
    this.ranks = options.ranks;
    this.match = options.match;
    this.onSettled = options.onSettled;
    this.answer = new Promise<Message[]>((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
    const clock = new StallClock(options.stallWarnMs);
    this.ticker = setInterval(
      () => {
        const waitedMs = clock.due(performance.now());
        if (waitedMs !== null) options.onStall(this.missing, waitedMs);
      },
      Math.min(1000, options.stallWarnMs),
    );
    this.timer = setTimeout(() => this.reject(new PhaseTimeoutError(options.phase, this.missing, options.timeoutMs)), options.timeoutMs);
  }

  /** The ranks not heard from yet, in rank order. */
  get missing(): number[] {
    return this.ranks.filter((rank) => !this.got.has(rank));
  }

  /** Whether `rank` still owes this wait an answer: one it waits for and has not heard from. */
  awaits(rank: number): boolean {
    return !this.settled && this.ranks.includes(rank) && !this.got.has(rank);
  }

  /** Whether `message` from `rank` is for this wait: its type, from a rank it still waits for. */
  wants(rank: number, message: Message): boolean {
    return message.type === this.type && this.awaits(rank);
  }

  /**
   * Takes `message` of this wait's type from `rank` (see `wants`); resolves once every rank has
   * answered. Returns false when `match` refuses it (a late reply, dropped).
   */
  offer(rank: number, message: Message): boolean {
    if (!this.match(message)) return false;
    this.got.set(rank, message);
    this.settleIfComplete();
    return true;
  }

  /** Resolves the answer once every rank has answered; at once for a wait on no ranks. */
  settleIfComplete(): void {
    if (this.missing.length === 0 && this.settle()) this.resolveAnswer(this.ranks.map((r) => this.got.get(r)!));
  }

  /** Fails the wait with `err` (a no-op once it has settled). */
  reject(err: Error): void {
    if (this.settle()) this.rejectAnswer(err);
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearInterval(this.ticker);
    clearTimeout(this.timer);
    this.onSettled();
    return true;
  }
}
