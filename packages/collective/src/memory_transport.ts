// An in-process transport for tests: a hub makes `size` connected endpoints, with optional
// artificial latency and a way to kill one as if its process died (torch's FakeProcessGroup and
// horovod's in-memory store play this role there). Every message is copied on send, like a
// wire, so a sender that reuses its buffer after `send` resolves is tested for real.
import { boundedWait } from './bounded_wait.js';
import { CollectiveConfigError, CollectiveUsageError, PeerLostError, TransportClosedError, type WaitSite } from './errors.js';
import { FrameInbox } from './frame_inbox.js';
import type { Transport, WaitOptions } from './transport.js';

/** Options of {@link MemoryHub}. */
export interface MemoryHubOptions {
  /** Delay between a send and its delivery, in milliseconds; 0 delivers on the next microtask. */
  latencyMs?: number;
}

/**
 * Makes `size` endpoints, ranks `0 .. size - 1`, each connected to every other.
 *
 * @example
 * const hub = new MemoryHub(3);
 * const [a, b] = hub.endpoints;
 * await a.send(1, frame, { timeoutMs: 1000, operation: 'test', round: 0 });
 * const got = await b.recv(0, { timeoutMs: 1000, operation: 'test', round: 0 });
 */
export class MemoryHub {
  /** Endpoint of each rank, in rank order. */
  readonly endpoints: readonly MemoryTransport[];
  readonly latencyMs: number;

  constructor(size: number, options: MemoryHubOptions = {}) {
    if (!Number.isInteger(size) || size < 1) {
      throw new CollectiveConfigError(`MemoryHub \`size\` must be a positive integer, but got ${size}`);
    }
    const latencyMs = options.latencyMs ?? 0;
    if (!(latencyMs >= 0)) {
      throw new CollectiveConfigError(`MemoryHub \`latencyMs\` must be >= 0, but got ${latencyMs}`);
    }
    this.latencyMs = latencyMs;
    this.endpoints = Array.from({ length: size }, (_, rank) => new MemoryTransport(this, rank, size));
  }

  /** The endpoint of `rank`. */
  endpoint(rank: number): MemoryTransport {
    const endpoint = this.endpoints[rank];
    if (endpoint === undefined) {
      throw new CollectiveConfigError(`MemoryHub.endpoint \`rank\` must be in [0, ${this.endpoints.length}), but got ${rank}`);
    }
    return endpoint;
  }

  /**
   * Simulates `rank`'s process dying: its endpoint stops, messages in flight to it are dropped,
   * and every peer's calls with it fail with `PeerLostError` (reason `killed`).
   */
  kill(rank: number): void {
    this.endpoint(rank).shutDown('killed', new TransportClosedError(`MemoryTransport of rank ${rank} was killed`));
  }

  /**
   * @internal Delivers `message` from `from` to `to` after the hub's latency. A string is the
   * news that `from` is gone, delivered behind the messages it sent before, like a TCP FIN.
   */
  deliver(from: number, to: number, message: Uint8Array | string): void {
    const target = this.endpoint(to);
    const arrive = (): void => (typeof message === 'string' ? target.losePeer(from, message) : target.receive(from, message));
    if (this.latencyMs === 0) queueMicrotask(arrive);
    else setTimeout(arrive, this.latencyMs);
  }

  /** @internal Tells every other endpoint that `rank` is gone. */
  peerGone(rank: number, reason: string): void {
    for (const endpoint of this.endpoints) if (endpoint.rank !== rank) this.deliver(rank, endpoint.rank, reason);
  }
}

/** One rank's endpoint of a {@link MemoryHub}. */
export class MemoryTransport implements Transport {
  private readonly inboxes: FrameInbox[];
  private readonly lostReasons = new Map<number, string>();
  private closedError: TransportClosedError | null = null;

  /** @internal Created by {@link MemoryHub}. */
  constructor(
    private readonly hub: MemoryHub,
    readonly rank: number,
    private readonly size: number,
  ) {
    this.inboxes = Array.from({ length: size }, (_, peer) => new FrameInbox(peer));
  }

  send(peerRank: number, frames: Uint8Array | readonly Uint8Array[], options: WaitOptions): Promise<void> {
    const site = this.site(peerRank, options);
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const lost = this.lostReasons.get(peerRank);
    if (lost !== undefined) return Promise.reject(new PeerLostError(site, lost));
    const parts = frames instanceof Uint8Array ? [frames] : frames;
    let byteLength = 0;
    for (const part of parts) byteLength += part.byteLength;
    const message = new Uint8Array(byteLength);
    let offset = 0;
    for (const part of parts) {
      message.set(part, offset);
      offset += part.byteLength;
    }
    this.hub.deliver(this.rank, peerRank, message);
    // The copy is made: the caller may reuse its buffers once the promise resolves. Still a
    // bounded wait, so an aborted round's signal is honoured like on a real transport.
    return boundedWait<void>(peerRank, options, (settle) => queueMicrotask(() => settle.resolve()));
  }

  recv(peerRank: number, options: WaitOptions): Promise<Uint8Array> {
    this.site(peerRank, options);
    if (this.closedError !== null) return Promise.reject(this.closedError);
    return this.inboxes[peerRank]!.take(options);
  }

  close(_code?: number, reason = 'closed'): Promise<void> {
    this.shutDown(`closed by peer (${reason})`, new TransportClosedError(`MemoryTransport of rank ${this.rank} is closed`));
    return Promise.resolve();
  }

  /** @internal Stops this endpoint; peers see `peerReason`, our own calls `ownError`. */
  shutDown(peerReason: string, ownError: TransportClosedError): void {
    if (this.closedError !== null) return;
    this.closedError = ownError;
    for (const inbox of this.inboxes) inbox.close(() => ownError);
    this.hub.peerGone(this.rank, peerReason);
  }

  /** @internal A message from `from` arrives. */
  receive(from: number, message: Uint8Array): void {
    if (this.closedError !== null || this.lostReasons.has(from)) return;
    this.inboxes[from]!.push(message);
  }

  /** @internal Peer `rank` is gone: calls with it fail from now on. */
  losePeer(rank: number, reason: string): void {
    if (this.lostReasons.has(rank)) return;
    this.lostReasons.set(rank, reason);
    this.inboxes[rank]!.fail((site) => new PeerLostError(site, reason));
  }

  private site(peerRank: number, options: WaitOptions): WaitSite {
    if (!Number.isInteger(peerRank) || peerRank < 0 || peerRank >= this.size || peerRank === this.rank) {
      throw new CollectiveUsageError(
        `${options.operation}: \`peerRank\` must be another rank in [0, ${this.size}) than ${this.rank}, but got ${peerRank}`,
      );
    }
    return { peerRank, operation: options.operation, round: options.round };
  }
}
