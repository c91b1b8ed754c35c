// The transport every all-reduce runs over: point-to-point, ordered, message-framed byte
// channels between ranks, with a bound on every wait (after torch.distributed's ProcessGroup /
// Gloo's pair transport, which separate the bytes from the collective algorithms). Implemented
// in memory (memory_transport.ts, for tests) and over WebSocket (ws_transport.ts).

/**
 * Where and how long a call may wait. Every send and receive carries one, so no wait is ever
 * unbounded and every failure names the peer, the operation and the round.
 */
export interface WaitOptions {
  /** Longest wait in milliseconds before the call fails with `CollectiveTimeoutError`. */
  timeoutMs: number;
  /** What is being done, for errors and logs: `ring reduce-scatter recv`, `star send`... */
  operation: string;
  /** The all-reduce round the call belongs to. */
  round: number;
  /** Aborting it fails the call at once with `RoundAbortedError` (`signal.reason` as the reason). */
  signal?: AbortSignal;
}

/**
 * Message channels from this rank to its peers.
 *
 * Contract shared by every implementation:
 * - Messages from one peer arrive whole and in the order that peer sent them.
 * - `send` resolves once the transport no longer holds any of `frames` (the caller may then
 *   overwrite them); until then the bytes may be referenced, not copied (ws keeps unmasked
 *   payloads by reference until the socket flushed them). This is the backpressure: a sender
 *   that awaits its sends never buffers more than it has buffers.
 * - The frame `recv` returns stays valid until the next `recv` from the same peer resolves, so an
 *   implementation may recycle receive buffers. At most one `recv` per peer may be pending.
 * - When the connection to a peer closes, calls pending with that peer fail at once with
 *   `PeerLostError`, and so do later ones; frames that arrived before the close are still
 *   delivered first.
 * - After `close()`, every pending and later call fails with `TransportClosedError`.
 */
export interface Transport {
  /** This endpoint's rank (the star hub has rank `worldSize`, see `starHubRank`). */
  readonly rank: number;
  /**
   * Sends one message made of `frames` back to back (e.g. a chunk header and its payload); the
   * peer receives them as one frame.
   */
  send(peerRank: number, frames: Uint8Array | readonly Uint8Array[], options: WaitOptions): Promise<void>;
  /** The next message from `peerRank`. */
  recv(peerRank: number, options: WaitOptions): Promise<Uint8Array>;
  /**
   * Closes every connection; peers see their calls with us fail with `PeerLostError`. `code` and
   * `reason` travel to the peers where the transport can carry them (a WebSocket close frame).
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * The star hub's rank in every transport of a star group: one past the last worker, so it never
 * collides with a worker's rank (the chunk header's `rank` field is a uint32).
 */
export function starHubRank(worldSize: number): number {
  return worldSize;
}
