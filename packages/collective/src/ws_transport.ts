// The Transport over WebSocket (ws 8, bufferutil for masking, no permessage-deflate): one or two
// already-open, already-authenticated sockets per peer, attached by ws_connect.ts (ring and star)
// or by the coordinator's own server. Sends resolve on ws's write callback, which fires once the
// bytes reached the kernel, so awaiting sends is the backpressure; a peer whose frames pile up
// unread gets its socket paused, so TCP pushes back on it in turn. Dialed sockets are read through
// their WsFrameReader (recycled buffers, no per-frame allocation), accepted ones by ws.
import { isChunkFrame } from '@gnet/protocol';
import type WebSocket from 'ws';
import { boundedWait, type Settle } from './bounded_wait.js';
import { closeSocket } from './close_socket.js';
import { CollectiveUsageError, PeerLostError, TransportClosedError, type WaitSite } from './errors.js';
import { FrameInbox } from './frame_inbox.js';
import { frameReaderOf, type WsFrameReader } from './ws_frame_reader.js';
import type { Transport, WaitOptions } from './transport.js';

/**
 * How a socket came to be: `dialed` (we are the WebSocket client) or `accepted` (we are the
 * server). Sends prefer an accepted socket: servers do not mask (RFC 6455 §5.1), so ws sends the
 * caller's buffer as it is, where a client's frame goes through a fresh masked copy.
 */
export type WsRole = 'dialed' | 'accepted';

/** Options of {@link WsTransport}. */
export interface WsTransportOptions {
  /** This endpoint's rank. */
  rank: number;
  /**
   * Received bytes queued per peer before its socket is paused, default 64 MiB: a few rounds'
   * worth of chunks at the default chunk size, and a bound on memory when a peer runs ahead.
   */
  highWaterBytes?: number;
  /**
   * Where frames that are not chunk frames go (MessagePack control messages, when chunks share a
   * connection with the control plane). Without it every frame is delivered by `recv`.
   */
  onControlFrame?: (peerRank: number, frame: Uint8Array) => void;
  /** Longest wait for the peers' close frames in `close()`, in milliseconds; default 1000. */
  closeTimeoutMs?: number;
}

interface PendingSend {
  settle: Settle<void>;
  site: WaitSite;
}

interface Link {
  peerRank: number;
  inbox: FrameInbox;
  /** The dialed socket's zero-allocation frame reader, if it has one. */
  reader: WsFrameReader | null;
  /** The frame the last `recv` returned, given back to `reader` at the next `recv`. */
  lent: Uint8Array | null;
  sockets: { socket: WebSocket; role: WsRole }[];
  sendSocket: WebSocket | null;
  pendingSends: Set<PendingSend>;
  lostReason: string | null;
  /** Removes the listeners `attach` put on the sockets (see `detach`). */
  unlisten: (() => void)[];
}

const DEFAULT_HIGH_WATER_BYTES = 64 * 1024 * 1024;

/**
 * Message channels to peers over WebSocket.
 *
 * @example
 * const transport = new WsTransport({ rank: 0 });
 * transport.attach(1, socket, 'accepted');
 * await transport.send(1, frame, { timeoutMs: 30_000, operation: 'ring send', round });
 */
export class WsTransport implements Transport {
  readonly rank: number;
  private readonly links = new Map<number, Link>();
  private readonly highWaterBytes: number;
  private readonly onControlFrame: ((peerRank: number, frame: Uint8Array) => void) | null;
  private readonly closeTimeoutMs: number;
  private closedError: TransportClosedError | null = null;

  constructor(options: WsTransportOptions) {
    this.rank = options.rank;
    this.highWaterBytes = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    this.onControlFrame = options.onControlFrame ?? null;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 1000;
  }

  /** Ranks this transport has a connection to. */
  get peerRanks(): number[] {
    return [...this.links.keys()];
  }

  /**
   * Takes over an open socket to `peerRank`: from now on its messages go to `recv` (or
   * `onControlFrame`) and its close fails calls with that peer. `earlyFrames` are messages that
   * arrived before the hand-over (after the handshake), delivered first. A socket dialed with a
   * {@link WsFrameReader} (`dialPeer`'s `fastReceive`) is read through it.
   */
  attach(peerRank: number, socket: WebSocket, role: WsRole, earlyFrames: readonly Uint8Array[] = []): void {
    const reader = frameReaderOf(socket);
    if (this.closedError !== null) throw this.closedError;
    let link = this.links.get(peerRank);
    if (link === undefined) {
      const inbox: FrameInbox = new FrameInbox(peerRank, {
        highWaterBytes: this.highWaterBytes,
        pause: () => link!.sockets.forEach((s) => s.socket.pause()),
        resume: () => link!.sockets.forEach((s) => s.socket.resume()),
      });
      link = {
        peerRank,
        inbox,
        reader: null,
        lent: null,
        sockets: [],
        sendSocket: null,
        pendingSends: new Set(),
        lostReason: null,
        unlisten: [],
      };
      this.links.set(peerRank, link);
    }
    const target = link;
    target.sockets.push({ socket, role });
    if (target.sendSocket === null || role === 'accepted') target.sendSocket = socket;
    socket.binaryType = 'nodebuffer';
    let errorText = '';
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      if (!isBinary && this.onControlFrame === null) {
        // Text is never part of our protocol; hand it on so the receiving algorithm's decoder rejects it.
        target.inbox.push(data);
        return;
      }
      this.deliver(target, data);
    };
    const onError = (err: Error): void => {
      errorText = err.message;
    };
    socket.on('message', onMessage);
    socket.on('error', onError);
    const describeClose = (code: number, text: string): string => {
      // With a frame reader, ws never sees the peer's close frame: the reader kept it.
      const info = reader?.closeInfo ?? null;
      if (info !== null && !info.byPeer) return `closed with ${info.code}: we ${info.reason}`;
      const peerCode = info?.code ?? code;
      const peerText = info?.reason ?? text;
      if (peerCode === 1006) return `connection lost (1006${errorText === '' ? '' : `, ${errorText}`})`;
      return `closed by peer with ${peerCode}${peerText === '' ? '' : ` ${peerText}`}`;
    };
    const onClose = (code: number, reason: Buffer): void => {
      // A peer that closes normally (1000) after its last send closes each of its sockets; the
      // close of one may overtake frames still unread on the other (paused, or not yet parsed),
      // so the link is lost only once no socket is left to read them from.
      const info = reader?.closeInfo ?? null;
      const normal = info === null ? code === 1000 : info.byPeer && info.code === 1000;
      const open = target.sockets.filter((s) => s.socket !== socket && s.socket.readyState === s.socket.OPEN);
      if (normal && open.length > 0) {
        if (target.sendSocket === socket) target.sendSocket = open[0]!.socket;
        return;
      }
      this.losePeer(target, describeClose(code, reason.toString('utf8')));
    };
    socket.on('close', onClose);
    target.unlisten.push(() => {
      socket.off('message', onMessage);
      socket.off('error', onError);
      socket.off('close', onClose);
    });
    for (const frame of earlyFrames) this.deliver(target, frame);
    if (reader !== null) {
      target.reader = reader;
      reader.setSink((message, isBinary) => {
        if (!isBinary && this.onControlFrame === null) target.inbox.push(message);
        else this.deliver(target, message);
      });
    }
    if (socket.readyState !== socket.OPEN) {
      this.losePeer(
        target,
        reader?.closeInfo ? describeClose(1006, '') : `socket was not open when attached (readyState ${socket.readyState})`,
      );
    }
  }

  send(peerRank: number, frames: Uint8Array | readonly Uint8Array[], options: WaitOptions): Promise<void> {
    const site: WaitSite = { peerRank, operation: options.operation, round: options.round };
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const link = this.links.get(peerRank);
    if (link === undefined) return Promise.reject(this.noLink(peerRank, options));
    if (link.lostReason !== null) return Promise.reject(new PeerLostError(site, link.lostReason));
    const socket = link.sendSocket!;
    return boundedWait<void>(peerRank, options, (settle) => {
      const pending: PendingSend = { settle, site };
      link.pendingSends.add(pending);
      const done = (err?: Error): void => {
        if (err === undefined || err === null) settle.resolve();
        else settle.reject(new PeerLostError(site, link.lostReason ?? err.message));
      };
      if (frames instanceof Uint8Array) {
        socket.send(frames, { binary: true, compress: false, fin: true }, done);
      } else if (frames.length === 0) {
        socket.send(EMPTY, { binary: true, compress: false, fin: true }, done);
      } else {
        // One message in several WebSocket fragments: the peer receives it whole.
        const last = frames.length - 1;
        frames.forEach((part, i) => {
          socket.send(part, { binary: true, compress: false, fin: i === last }, i === last ? done : undefined);
        });
      }
      return () => link.pendingSends.delete(pending);
    });
  }

  recv(peerRank: number, options: WaitOptions): Promise<Uint8Array> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const link = this.links.get(peerRank);
    if (link === undefined) return Promise.reject(this.noLink(peerRank, options));
    const reader = link.reader;
    if (reader === null) return link.inbox.take(options);
    // The frame of the previous recv may now be overwritten (the Transport contract).
    if (link.lent !== null) reader.release(link.lent);
    link.lent = null;
    return link.inbox.take(options).then((frame) => {
      link.lent = frame;
      return frame;
    });
  }

  async close(code = 1000, reason = ''): Promise<void> {
    if (this.closedError !== null) return;
    const closed = new TransportClosedError(`WsTransport of rank ${this.rank} is closed`);
    this.closedError = closed;
    const waits: Promise<void>[] = [];
    for (const link of this.links.values()) {
      link.inbox.close(() => closed);
      for (const pending of link.pendingSends) pending.settle.reject(closed);
      link.pendingSends.clear();
      for (const { socket } of link.sockets) waits.push(closeSocket(socket, code, reason, this.closeTimeoutMs));
    }
    await Promise.all(waits);
  }

  /**
   * Lets go of every socket without closing it, so a new transport can take them over (the
   * coordinator connection outlives each generation of an elastic group, whose ranks change).
   * Our pending and later calls fail with `TransportClosedError`; frames not yet received are
   * dropped. Call it and the new transport's `attach` in the same tick, so no frame falls between.
   * Sockets read through a frame reader (ring connections) cannot be handed over: close those.
   */
  detach(): void {
    if (this.closedError !== null) return;
    const closed = new TransportClosedError(`WsTransport of rank ${this.rank} was detached from its sockets`);
    this.closedError = closed;
    for (const link of this.links.values()) {
      if (link.reader !== null)
        throw new CollectiveUsageError(
          `WsTransport.detach: the socket to rank ${link.peerRank} is read through a frame reader and cannot be handed over`,
        );
      link.inbox.close(() => closed);
      for (const pending of link.pendingSends) pending.settle.reject(closed);
      link.pendingSends.clear();
      for (const off of link.unlisten) off();
    }
  }

  /**
   * Cuts every connection at once, without close frames, as if this process had died: peers see
   * `connection lost (1006)`. Our own pending and later calls fail with `TransportClosedError`.
   */
  terminate(): void {
    if (this.closedError !== null) return;
    const closed = new TransportClosedError(`WsTransport of rank ${this.rank} was terminated`);
    this.closedError = closed;
    for (const link of this.links.values()) {
      link.inbox.close(() => closed);
      for (const pending of link.pendingSends) pending.settle.reject(closed);
      link.pendingSends.clear();
      for (const { socket } of link.sockets) socket.terminate();
    }
  }

  private deliver(link: Link, frame: Uint8Array): void {
    if (this.onControlFrame === null || isChunkFrame(frame)) {
      link.inbox.push(frame);
      return;
    }
    if (link.reader === null) {
      this.onControlFrame(link.peerRank, frame);
      return;
    }
    // A control message may be kept (decoded `bin` fields view the frame): give it its own copy.
    const copy = new Uint8Array(frame);
    link.reader.release(frame);
    this.onControlFrame(link.peerRank, copy);
  }

  private losePeer(link: Link, reason: string): void {
    if (link.lostReason !== null || this.closedError !== null) return;
    link.lostReason = reason;
    link.inbox.fail((site) => new PeerLostError(site, reason));
    for (const pending of link.pendingSends) pending.settle.reject(new PeerLostError(pending.site, reason));
    link.pendingSends.clear();
    // The group is broken for this peer: drop its other socket too (N = 2 rings have two).
    for (const { socket } of link.sockets) if (socket.readyState === socket.OPEN) socket.close(1001, 'peer lost');
  }

  private noLink(peerRank: number, options: WaitOptions): CollectiveUsageError {
    return new CollectiveUsageError(
      `${options.operation}: WsTransport of rank ${this.rank} has no connection to rank ${peerRank} (connected: ${this.peerRanks.join(', ') || 'none'})`,
    );
  }
}

const EMPTY = new Uint8Array(0);
