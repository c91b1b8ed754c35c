// Opening WebSocket transports for a group (protocol handshake step 7): the ring, where rank r
// dials rank r + 1 and accepts rank r - 1, and the star, where every worker dials the hub. Each
// dialer waits for the listener's `challenge`, answers with `peerHello` (its nonce and the HMAC
// proof of the shared secret), and sends nothing else until the listener's `peerWelcome` proved
// that the listener knows the secret too. `wss://` URLs are dialed over TLS.
import {
  checkPeerWelcomeProof,
  createNonce,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  peerHelloProof,
  PROTOCOL_ERRORS,
  PROTOCOL_VERSION,
  ProtocolError,
  type Peer,
  type PeerIdentity,
  type ProtocolErrorCode,
} from '@gnet/protocol';
import WebSocket from 'ws';
import { refuseProtocolError } from './challenge_connection.js';
import { checkRank } from './chunk_settings.js';
import { CollectiveConfigError, CollectiveTimeoutError, PeerLostError } from './errors.js';
import { clientTlsOptions, describeTlsTrustError, type TrustedCa } from './tls_client.js';
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
  /** The peer's listener, `ws://host:port` or `wss://host:port`. */
  url: string;
  /** Rank of the peer dialed (for errors). */
  peerRank: number;
  /** Who we are, sent (with version, nonce and proof) in `peerHello`. */
  hello: PeerIdentity;
  /** The shared secret (`GNET_TOKEN`) to prove; empty: no authentication. Never sent. */
  token?: string;
  /** For `wss://`: a CA certificate (PEM) to trust beside the system's, e.g. of a self-signed cluster certificate. */
  ca?: TrustedCa;
  /** Bounds the dial and the whole handshake, in milliseconds; default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
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
   * Parse incoming frames with {@link WsFrameReader} (default true for `ws://`): reads land in one
   * reused buffer and messages in recycled ones, instead of ws's fresh buffer per frame plus
   * Node's per read. Frames then stay valid only until the next `recv` from this peer (the
   * Transport contract). Off: ws's own receiver. Always off for `wss://` (the reader sits on the
   * TCP socket, below TLS).
   */
  fastReceive?: boolean;
}

function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** An open, authenticated connection to a peer (its `peerWelcome` checked). */
export interface DialedPeer {
  socket: WebSocket;
  /**
   * Stops collecting the socket's messages and returns those that arrived after `peerWelcome`;
   * call it in the same tick as `WsTransport.attach(rank, socket, 'dialed', takeEarlyFrames())`.
   */
  takeEarlyFrames(): Uint8Array[];
}

/** The error for an `error` message a listener sent instead of `peerWelcome`, keeping its code when it is one of ours. */
function refusedBy(url: string, peerRank: number, code: string, message: string): ProtocolError {
  const known: ProtocolErrorCode = code in PROTOCOL_ERRORS ? (code as ProtocolErrorCode) : 'PROTO_REJECTED';
  return new ProtocolError(known, `Peer listener ${url} (rank ${peerRank}) refused our peerHello with ${code}: ${message}`);
}

/**
 * Dials a peer listener and runs the handshake: `challenge` in, `peerHello` out, `peerWelcome`
 * in (its proof checked). Resolves with the open socket once the listener proved itself.
 * Failures: a listener that refuses us (wrong secret, version) with `ProtocolError` of the
 * listener's code (`PROTO_AUTH`, `PROTO_VERSION`...); a listener whose proof is wrong with
 * `PROTO_AUTH` (we send `error` and close 1008); a `wss://` certificate we do not trust with
 * `CollectiveConfigError`; an unreachable peer with `PeerLostError`; a slow one with
 * `CollectiveTimeoutError`. A `peerHello` the listener does not expect (another run, generation
 * or rank) is refused with `PROTO_PEER_MISMATCH` once the listener's owner says what it expects:
 * the `peerWelcome` waits for that.
 */
export function dialPeer(options: DialPeerOptions): Promise<DialedPeer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { url, peerRank } = options;
  const site = { peerRank, operation: `dial ${url}`, round: null };
  const token = options.token ?? '';
  const startedMs = performance.now();
  const maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const secure = url.startsWith('wss://');
  const reader = options.fastReceive === false || secure ? null : new WsFrameReader(maxPayload);
  return new Promise<DialedPeer>((resolve, reject) => {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload,
      handshakeTimeout: timeoutMs,
      ...clientTlsOptions(url, options.ca ?? null),
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
    /** Tells the listener why (`error`), closes with the error's code, and fails the dial. */
    const refuse = (err: ProtocolError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      refuseProtocolError(socket, err);
      reject(err);
    };
    const timer = setTimeout(() => fail(new CollectiveTimeoutError(site, performance.now() - startedMs)), timeoutMs);
    socket.once('unexpected-response', (_req, res) => fail(new PeerLostError(site, `upgrade refused with HTTP ${res.statusCode ?? 0}`)));
    socket.once('error', (err) => {
      const untrusted = secure ? describeTlsTrustError(err) : null;
      fail(
        untrusted === null
          ? new PeerLostError(site, `cannot connect: ${err.message}`)
          : new CollectiveConfigError(
              `Peer listener ${url} (rank ${peerRank}): ${untrusted}; trust its CA with \`ca\` (worker flag --tls-ca)`,
            ),
      );
    });
    socket.once('close', (code) => fail(new PeerLostError(site, `closed with ${code} before the handshake finished`)));

    let clientNonce: Uint8Array | null = null;
    let serverNonce: Uint8Array | null = null;
    const earlyFrames: Uint8Array[] = [];
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.removeAllListeners('unexpected-response');
      // Keep an error listener until a transport attaches: an unhandled 'error' would crash.
      socket.on('error', () => undefined);
      // With the frame reader, frames after `peerWelcome` wait in the reader until attach.
      reader?.setSink(null);
      resolve({
        socket,
        takeEarlyFrames: () => {
          socket.off('message', onMessage);
          return earlyFrames;
        },
      });
    };
    /** The handshake, one frame at a time; frames after it are kept for the transport. */
    const onFrame = (frame: Uint8Array): void => {
      if (settled) {
        earlyFrames.push(frame);
        return;
      }
      try {
        const message = decodeMessage(frame, {
          maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES,
          expect: serverNonce === null ? ['challenge', 'error'] : ['peerWelcome', 'error'],
        });
        if (message.type === 'error') {
          fail(refusedBy(url, peerRank, message.code, message.message));
        } else if (message.type === 'challenge') {
          // Copied: the nonce is a view into a frame the reader recycles.
          serverNonce = Uint8Array.from(message.nonce);
          clientNonce = createNonce();
          const nonces = { serverNonce, clientNonce };
          const hello = { runId: options.hello.runId, generation: options.hello.generation, rank: options.hello.rank };
          const proof = peerHelloProof(token, nonces, hello);
          socket.send(encodeMessage({ type: 'peerHello', protocolVersion: PROTOCOL_VERSION, ...hello, nonce: clientNonce, proof }), {
            binary: true,
          });
        } else if (message.type === 'peerWelcome') {
          checkPeerWelcomeProof(message, { serverNonce: serverNonce!, clientNonce: clientNonce! }, token);
          done();
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        refuse(new ProtocolError(err.code, `Peer listener ${url} (rank ${peerRank}): ${err.message}`, { cause: err }));
      } finally {
        reader?.release(frame);
      }
    };
    const onMessage = (data: WebSocket.RawData): void => onFrame(data as Buffer);
    socket.once('open', () => {
      if (reader !== null) reader.setSink((message) => onFrame(message));
      else socket.on('message', onMessage);
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
  /** The shared secret; see {@link DialPeerOptions.token}. */
  token?: string;
  /** For `wss://` peers; see {@link DialPeerOptions.ca}. */
  ca?: TrustedCa;
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
  const hello: PeerIdentity = { runId: options.runId, generation: options.generation, rank };
  const [dialed, accepted] = await Promise.allSettled([
    dialPeer({
      url: peers[right]!.url,
      peerRank: right,
      hello,
      token: options.token,
      ca: options.ca,
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
  /** The shared secret; see {@link DialPeerOptions.token}. */
  token?: string;
  /** For a `wss://` hub; see {@link DialPeerOptions.ca}. */
  ca?: TrustedCa;
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
  const dialed = await dialPeer({
    url: options.url,
    peerRank: hub,
    hello: { runId: options.runId, generation: options.generation, rank },
    token: options.token,
    ca: options.ca,
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
