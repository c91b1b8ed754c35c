// The queue of frames received from one peer and not yet taken, with the one pending `recv`
// waiting on it: the receive half of every transport. Tells its owner when too many bytes wait
// so it can stop reading the socket (TCP then pushes back on the sender), like a stream's
// highWaterMark.
import { boundedWait, type Settle } from './bounded_wait.js';
import { CollectiveUsageError, type WaitSite } from './errors.js';
import type { WaitOptions } from './transport.js';

/** Builds the error a failed inbox gives each call, from where that call waited. */
export type FailureFactory = (site: WaitSite) => Error;

/** Flow-control hooks of a {@link FrameInbox}. */
export interface InboxFlowControl {
  /** Queued bytes above which `pause` is called. */
  highWaterBytes: number;
  /** Stop reading from the peer: more than `highWaterBytes` wait. */
  pause(): void;
  /** Read again: the queue fell to half of `highWaterBytes`. */
  resume(): void;
}

/** Frames from one peer, in arrival order. */
export class FrameInbox {
  private readonly frames: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  private paused = false;
  private waiter: Settle<Uint8Array> | null = null;
  private waiterSite: WaitSite | null = null;
  private failure: FailureFactory | null = null;

  constructor(
    readonly peerRank: number,
    private readonly flow: InboxFlowControl | null = null,
  ) {}

  /** True once `fail` or `close` was called. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Hands a received frame to the pending `take`, or queues it. Frames after a failure are dropped. */
  push(frame: Uint8Array): void {
    if (this.failure !== null) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      waiter.resolve(frame);
      return;
    }
    this.frames.push(frame);
    this.queuedBytes += frame.byteLength;
    if (this.flow !== null && !this.paused && this.queuedBytes > this.flow.highWaterBytes) {
      this.paused = true;
      this.flow.pause();
    }
  }

  /** The next frame; at most one `take` may be pending. */
  take(options: WaitOptions): Promise<Uint8Array> {
    if (this.head < this.frames.length) return Promise.resolve(this.shift());
    const site: WaitSite = { peerRank: this.peerRank, operation: options.operation, round: options.round };
    if (this.failure !== null) return Promise.reject(this.failure(site));
    if (this.waiter !== null) {
      return Promise.reject(
        new CollectiveUsageError(
          `${options.operation}: a recv from rank ${this.peerRank} is already pending (${this.waiterSite?.operation ?? '?'}); at most one may be`,
        ),
      );
    }
    return boundedWait<Uint8Array>(this.peerRank, options, (settle) => {
      this.waiter = settle;
      this.waiterSite = site;
      return () => {
        this.waiter = null;
        this.waiterSite = null;
      };
    });
  }

  /**
   * The peer is gone: the pending `take` and every later one, once the queued frames are taken,
   * fail with `makeError`'s error. Only the first failure counts.
   */
  fail(makeError: FailureFactory): void {
    if (this.failure !== null) return;
    this.failure = makeError;
    if (this.waiter !== null && this.waiterSite !== null) this.waiter.reject(makeError(this.waiterSite));
  }

  /** We are closing: drop the queued frames, then fail like {@link fail}. */
  close(makeError: FailureFactory): void {
    this.frames.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
    this.fail(makeError);
  }

  private shift(): Uint8Array {
    const frame = this.frames[this.head]!;
    this.frames[this.head] = EMPTY;
    this.head += 1;
    if (this.head === this.frames.length) {
      // Reset instead of Array.shift(): O(1) per frame and the array's storage is reused.
      this.frames.length = 0;
      this.head = 0;
    }
    this.queuedBytes -= frame.byteLength;
    if (this.flow !== null && this.paused && this.queuedBytes <= this.flow.highWaterBytes / 2) {
      this.paused = false;
      this.flow.resume();
    }
    return frame;
  }
}

const EMPTY = new Uint8Array(0);
