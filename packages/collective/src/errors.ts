// Error classes of @gnet/collective, grouped by what the caller does next (shared/STYLE.md
// "Errors", after horovod's split): a timed-out wait, a lost peer, an aborted round or a closed
// transport fail the round, so the coordinator can re-form the group; a bad setting ends the
// process at start-up; a misuse (wrong buffer length, a bucket reduced twice) is a bug and fails
// fast. A frame that breaks the wire format is the fault of the peer that sent it: it fails the
// round as a `BadFrameError` naming that peer (the protocol's own `ProtocolError` is its cause).
import type { ProtocolError } from '@gnet/protocol';

/** Stable codes of the errors this package throws (the protocol's codes are separate). */
export type CollectiveErrorCode =
  | 'COLLECTIVE_TIMEOUT'
  | 'COLLECTIVE_PEER_LOST'
  | 'COLLECTIVE_ROUND_ABORTED'
  | 'COLLECTIVE_TRANSPORT_CLOSED'
  | 'COLLECTIVE_BAD_FRAME'
  | 'COLLECTIVE_CONFIG'
  | 'COLLECTIVE_USAGE';

/** Base class of every error thrown by @gnet/collective. */
export abstract class CollectiveError extends Error {
  abstract readonly code: CollectiveErrorCode;
}

/** Where a wait happened, for error messages: `ring reduce-scatter recv` in round 17. */
export interface WaitSite {
  /** The peer waited on. */
  peerRank: number;
  /** What was being done, e.g. `ring reduce-scatter recv`, `star send`. */
  operation: string;
  /** The all-reduce round (`roundStart.round`); null while connecting, before any round. */
  round: number | null;
}

function during(site: WaitSite): string {
  return site.round === null ? site.operation : `${site.operation} in round ${site.round}`;
}

/**
 * A send or receive did not complete within its `timeoutMs`. Fails the round: the peer is alive
 * as far as the socket knows, but stuck or far too slow.
 */
export class CollectiveTimeoutError extends CollectiveError {
  readonly code = 'COLLECTIVE_TIMEOUT' as const;
  override readonly name = 'CollectiveTimeoutError';
  readonly peerRank: number;
  readonly operation: string;
  readonly round: number | null;
  /** How long the call waited before giving up, in milliseconds. */
  readonly waitedMs: number;

  constructor(site: WaitSite, waitedMs: number) {
    super(`Timed out after ${Math.round(waitedMs)} ms waiting on rank ${site.peerRank} during ${during(site)}`);
    this.peerRank = site.peerRank;
    this.operation = site.operation;
    this.round = site.round;
    this.waitedMs = waitedMs;
  }
}

/**
 * The connection to a peer closed (the peer crashed, left or refused us). Pending and later calls
 * with that peer fail at once with this error. `reason` says how it closed, e.g.
 * `connection closed (1006)` or `closed by peer with 1008 PROTO_PEER_MISMATCH`.
 */
export class PeerLostError extends CollectiveError {
  readonly code = 'COLLECTIVE_PEER_LOST' as const;
  override readonly name = 'PeerLostError';
  readonly peerRank: number;
  readonly operation: string;
  readonly round: number | null;
  readonly reason: string;

  constructor(site: WaitSite, reason: string) {
    super(`Lost peer rank ${site.peerRank} during ${during(site)}: ${reason}`);
    this.peerRank = site.peerRank;
    this.operation = site.operation;
    this.round = site.round;
    this.reason = reason;
  }
}

/**
 * A peer sent a frame that breaks the protocol: a chunk frame that does not decode, or a chunk
 * other than the one expected next. The sender is at fault, not the receiver (shared/STYLE.md:
 * blame the peer that sent a bad frame), so the round fails naming it, and the coordinator can
 * evict it. `protocolError` says what was wrong; the connection closes with its `closeCode`.
 */
export class BadFrameError extends CollectiveError {
  readonly code = 'COLLECTIVE_BAD_FRAME' as const;
  override readonly name = 'BadFrameError';
  /** The rank whose connection the frame arrived on. */
  readonly peerRank: number;
  readonly operation: string;
  readonly round: number | null;
  /** The decoder's or the algorithm's error: its `code` (`PROTO_BAD_TENSOR`...) and `closeCode`. */
  readonly protocolError: ProtocolError;

  constructor(site: WaitSite, protocolError: ProtocolError) {
    super(`Rank ${site.peerRank} sent a malformed frame during ${during(site)} (${protocolError.code}): ${protocolError.message}`, {
      cause: protocolError,
    });
    this.peerRank = site.peerRank;
    this.operation = site.operation;
    this.round = site.round;
    this.protocolError = protocolError;
  }
}

/** The round was aborted locally (`GradientReducer.abort`, e.g. on the coordinator's `roundAbort`). */
export class RoundAbortedError extends CollectiveError {
  readonly code = 'COLLECTIVE_ROUND_ABORTED' as const;
  override readonly name = 'RoundAbortedError';
  readonly round: number;
  readonly reason: string;

  constructor(round: number, reason: string) {
    super(`Round ${round} was aborted: ${reason}`);
    this.round = round;
    this.reason = reason;
  }
}

/** A call was made on (or was pending when we closed) our own transport. */
export class TransportClosedError extends CollectiveError {
  readonly code = 'COLLECTIVE_TRANSPORT_CLOSED' as const;
  override readonly name = 'TransportClosedError';
}

/** A setting is out of range (chunkBytes, bucketBytes, worldSize, ...): fix the configuration. */
export class CollectiveConfigError extends CollectiveError {
  readonly code = 'COLLECTIVE_CONFIG' as const;
  override readonly name = 'CollectiveConfigError';
}

/** The caller broke the API's contract (buffer length, bucket order, concurrent recv): a bug. */
export class CollectiveUsageError extends CollectiveError {
  readonly code = 'COLLECTIVE_USAGE' as const;
  override readonly name = 'CollectiveUsageError';
}
