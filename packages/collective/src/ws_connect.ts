// Opening WebSocket transports for a group (protocol handshake step 6): the ring, where rank r
// dials rank r + 1 and accepts rank r - 1, and the star, where every worker dials the hub. Each
// dialer presents the listener's bearer token on the upgrade and sends `peerHello` first.
import { DEFAULT_MAX_FRAME_BYTES, encodeMessage, PROTOCOL_VERSION, ProtocolError, type Peer, type PeerHello } from '@gnet/protocol';
import WebSocket from 'ws';
import { checkRank } from './chunk_settings.js';
import { CollectiveConfigError, CollectiveTimeoutError, PeerLostError } from './errors.js';
import { starHubRank } from './transport.js';
import { WsFrameReader } from './ws_frame_reader.js';
import type { WsPeerListener } from './ws_peer_listener.js';
import { WsTransport, type WsTransportOptions } from './ws_transport.js';

/**
 * Default bound on opening a group's connections, in milliseconds (30 s): every rank dials right
 * after its `welcome`, so the slowest neighbour is at most one welcome-to-dial late.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** Options of {@link dialPeer}. */
export interface DialPeerOptions {
  /** The peer's listener, `ws://host:port`. */
  url: string;
  /** Rank of the peer dialed (for errors). */
  peerRank: number;
  /** The first message sent. */
  hello: PeerHello;
  /** The listener's bearer token; empty sends none. */
  token?: string;
  timeoutMs?: number;
  /** Largest message accepted (ws `maxPayload`), in bytes; default DEFAULT_MAX_FRAME_BYTES. */
  maxPayloadBytes?: number;
  /**
   * Mask client frames with an all-zero key, default false. RFC 6455 requires an unpredictable
   * key to protect caching proxies; with none between the ranks (a private cluster network) a
   * zero key makes masking a no-op and spares ws a masked copy of every payload.
   */
  zeroMask?: boolean;
  /**
   * Parse incoming frames with {@link WsFrameReader} (default true): reads land in one reused
   * buffer and messages in recycled ones, instead of ws's fresh buffer per frame plus Node's per
   * read. Frames then stay valid only until the next `recv` from this peer (the Transport
   * contract). Off: ws's own receiver.
   */
  fastReceive?: boolean;
}

function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** An open connection to a peer, its `peerHello` sent. */
export interface DialedPeer {
  socket: WebSocket;
  /**
   * Stops collecting the socket's messages and returns those that arrived since it opened; call
   * it in the same tick as `WsTransport.attach(rank, socket, 'dialed', takeEarlyFrames())`.
   */
  takeEarlyFrames(): Uint8Array[];
}

/**
 * Dials a peer listener and sends `hello`; resolves with the open socket once the hello is
 * written. Refused tokens fail with `ProtocolError` `PROTO_AUTH`; unreachable peers with
 * `PeerLostError`; a slow one with `CollectiveTimeoutError`. A refused `peerHello` shows later,
 * as the socket closing with the listener's code (the protocol has no acknowledgement).
 */
export function dialPeer(options: DialPeerOptions): Promise<DialedPeer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const site = { peerRank: options.peerRank, operation: `dial ${options.url}`, round: null };
  const token = options.token ?? '';
  const startedMs = performance.now();
  const maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const reader = options.fastReceive === false ? null : new WsFrameReader(maxPayload);
  return new Promise<DialedPeer>((resolve, reject) => {
    const socket = new WebSocket(options.url, {
      perMessageDeflate: false,
      maxPayload,
      handshakeTimeout: timeoutMs,
      headers: token === '' ? {} : { authorization: `Bearer ${token}` },
      ...(options.zeroMask === true ? { generateMask: zeroMask } : {}),
      ...(reader === null ? {} : { createConnection: reader.createConnection as never }),
    });
    reader?.bind(socket);
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new CollectiveTimeoutError(site, performance.now() - startedMs)), timeoutMs);
    socket.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      fail(
        status === 401
          ? new ProtocolError('PROTO_AUTH', `Peer listener ${options.url} (rank ${options.peerRank}) refused our token (HTTP 401)`)
          : new PeerLostError(site, `upgrade refused with HTTP ${status}`),
      );
    });
    socket.once('error', (err) => fail(new PeerLostError(site, `cannot connect: ${err.message}`)));
    socket.once('close', (code) => fail(new PeerLostError(site, `closed with ${code} before the hello was sent`)));
    const earlyFrames: Uint8Array[] = [];
    const collect = (data: WebSocket.RawData): void => {
      earlyFrames.push(data as Buffer);
    };
    socket.once('open', () => {
      socket.on('message', collect);
      socket.send(encodeMessage(options.hello), { binary: true }, (err) => {
        if (err) {
          fail(new PeerLostError(site, `cannot send peerHello: ${err.message}`));
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        // Keep an error listener until a transport attaches: an unhandled 'error' would crash.
        socket.on('error', () => undefined);
        resolve({
          socket,
          takeEarlyFrames: () => {
            socket.off('message', collect);
            return earlyFrames;
          },
        });
      });
    });
  });
}

/** Options of {@link connectRing}. */
export interface ConnectRingOptions extends Omit<WsTransportOptions, 'rank'> {
  /** This worker's listener (its URL went out in `hello.peer`). */
  listener: WsPeerListener;
  rank: number;
  worldSize: number;
  runId: string;
  generation: number;
  /** `welcome.peers`: every rank's listener, in rank order. */
  peers: readonly Peer[];
  token?: string;
  timeoutMs?: number;
  maxPayloadBytes?: number;
  /** See {@link DialPeerOptions.fastReceive}; default true. */
  fastReceive?: boolean;
}

/**
 * Opens this rank's ring connections: dials rank + 1, accepts rank - 1 on `listener`, and
 * returns a transport to both (for worldSize 2, two connections to the one neighbour, one per
 * direction of data). Ring all-reduce sends to rank - 1 on the accepted connection, so nothing
 * it sends is masked. worldSize 1 gives a transport with no peers.
 */
export async function connectRing(options: ConnectRingOptions): Promise<WsTransport> {
  const { rank, worldSize, peers, listener } = options;
  checkRank(rank, worldSize, 'connectRing');
  if (peers.length !== worldSize) {
    throw new CollectiveConfigError(`connectRing \`peers\` must list all ${worldSize} ranks, but has ${peers.length}`);
  }
  const transport = new WsTransport({ ...options, rank });
  if (worldSize === 1) return transport;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const right = (rank + 1) % worldSize;
  const left = (rank - 1 + worldSize) % worldSize;
  const hello: PeerHello = { type: 'peerHello', protocolVersion: PROTOCOL_VERSION, runId: options.runId, generation: options.generation, rank };
  const [dialed, accepted] = await Promise.allSettled([
    dialPeer({
      url: peers[right]!.url,
      peerRank: right,
      hello,
      token: options.token,
      timeoutMs,
      maxPayloadBytes: options.maxPayloadBytes,
      fastReceive: options.fastReceive,
    }),
    listener.accept({ runId: options.runId, generation: options.generation, ranks: [left] }, timeoutMs),
  ]);
  if (dialed.status === 'rejected' || accepted.status === 'rejected') {
    if (dialed.status === 'fulfilled') dialed.value.socket.terminate();
    if (accepted.status === 'fulfilled') accepted.value.forEach((peer) => peer.socket.terminate());
    throw dialed.status === 'rejected' ? dialed.reason : (accepted as PromiseRejectedResult).reason;
  }
  transport.attach(right, dialed.value.socket, 'dialed', dialed.value.takeEarlyFrames());
  const [peer] = accepted.value;
  transport.attach(left, peer!.socket, 'accepted', peer!.takeEarlyFrames());
  return transport;
}

/** Options of {@link connectStarWorker}. */
export interface ConnectStarWorkerOptions extends Omit<WsTransportOptions, 'rank'> {
  /** The hub's listener URL. */
  url: string;
  rank: number;
  worldSize: number;
  runId: string;
  generation: number;
  token?: string;
  timeoutMs?: number;
  maxPayloadBytes?: number;
  /** See {@link DialPeerOptions.zeroMask}: workers are WebSocket clients, so their chunks are masked. */
  zeroMask?: boolean;
  /** See {@link DialPeerOptions.fastReceive}; default true. */
  fastReceive?: boolean;
}

/** Worker side of a star over WebSocket: dials the hub and returns a transport to it (peer `starHubRank(worldSize)`). */
export async function connectStarWorker(options: ConnectStarWorkerOptions): Promise<WsTransport> {
  const { rank, worldSize } = options;
  checkRank(rank, worldSize, 'connectStarWorker');
  const hub = starHubRank(worldSize);
  const hello: PeerHello = { type: 'peerHello', protocolVersion: PROTOCOL_VERSION, runId: options.runId, generation: options.generation, rank };
  const dialed = await dialPeer({
    url: options.url,
    peerRank: hub,
    hello,
    token: options.token,
    timeoutMs: options.timeoutMs,
    maxPayloadBytes: options.maxPayloadBytes,
    zeroMask: options.zeroMask,
    fastReceive: options.fastReceive,
  });
  const transport = new WsTransport({ ...options, rank });
  transport.attach(hub, dialed.socket, 'dialed', dialed.takeEarlyFrames());
  return transport;
}

/** Options of {@link acceptStarWorkers}. */
export interface AcceptStarWorkersOptions extends Omit<WsTransportOptions, 'rank'> {
  listener: WsPeerListener;
  worldSize: number;
  runId: string;
  generation: number;
  timeoutMs?: number;
}

/** Hub side of a star over WebSocket: accepts every worker's connection and returns the hub's transport. */
export async function acceptStarWorkers(options: AcceptStarWorkersOptions): Promise<WsTransport> {
  const { worldSize } = options;
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new CollectiveConfigError(`acceptStarWorkers \`worldSize\` must be a positive integer, but got ${worldSize}`);
  }
  const ranks = Array.from({ length: worldSize }, (_, r) => r);
  const accepted = await options.listener.accept(
    { runId: options.runId, generation: options.generation, ranks },
    options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  );
  const transport = new WsTransport({ ...options, rank: starHubRank(worldSize) });
  for (const peer of accepted) transport.attach(peer.rank, peer.socket, 'accepted', peer.takeEarlyFrames());
  return transport;
}
