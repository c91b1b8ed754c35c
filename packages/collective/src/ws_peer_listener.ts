// A worker's (or the star hub's) listener for peer connections (protocol handshake step 7): a
// small WebSocket server (`ws://`, or `wss://` with a certificate) that sends each new connection
// a `challenge`, checks the `peerHello` that answers it (version, then the HMAC proof of the
// shared secret), holds the connection until the caller says which run, generation and ranks it
// expects, and only then proves itself back with `peerWelcome`, or refuses a mismatch with
// `PROTO_PEER_MISMATCH` (a peer told `peerWelcome` would take the connection for accepted).
// Connections that arrive before the worker has its `welcome` wait; failures get an `error`
// message and are closed with its code. Before the proof, a PreauthGuard caps connections and
// bounds their time; refusals are logged, rate-limited.
import type { IncomingMessage } from 'node:http';
import {
  checkPeerHello,
  checkPeerHelloProof,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  peerWelcomeProof,
  ProtocolError,
  type PeerHello,
} from '@gnet/protocol';
import type WebSocket from 'ws';
import { challengeConnection, refuseProtocolError } from './challenge_connection.js';
import { CollectiveConfigError, CollectiveTimeoutError, TransportClosedError } from './errors.js';
import { holdFrames } from './hold_frames.js';
import { PreauthGuard, type PreauthLimits } from './preauth_guard.js';
import type { RefusalLogger } from './refusal_log.js';
import { listenWsServer, type TlsCredentials, type WsServer } from './ws_server.js';

/** Options of {@link WsPeerListener.listen}. */
export interface WsPeerListenerOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port; default 0 (the OS picks one, read it from `port`). */
  port?: number;
  /**
   * Shared secret (`GNET_TOKEN`) a dialer must prove it knows in `peerHello.proof`, and that we
   * prove back in `peerWelcome`; it never crosses the wire. Empty (the default): no
   * authentication, any dialer is taken.
   */
  token?: string;
  /** Serve `wss://` with this certificate and key; default null (`ws://`). */
  tls?: TlsCredentials | null;
  /** Largest message accepted (ws `maxPayload`), in bytes; default the protocol's DEFAULT_MAX_FRAME_BYTES. */
  maxPayloadBytes?: number;
  /** The handshake deadline: how long a new connection may take to send its `peerHello`, in milliseconds; default 10 000. */
  handshakeTimeoutMs?: number;
  /** Caps and deadlines before the proof; default DEFAULT_PREAUTH_LIMITS. */
  preauth?: Partial<PreauthLimits>;
  /** Where refused connections are logged, rate-limited (a pino logger fits); default nowhere. */
  log?: RefusalLogger | null;
}

/** A connection that said a valid `peerHello`, ready to attach to a `WsTransport`. */
export interface AcceptedPeer {
  rank: number;
  socket: WebSocket;
  /**
   * Stops collecting the socket's messages and returns those that arrived after the `peerHello`;
   * call it in the same tick as `WsTransport.attach(rank, socket, 'accepted', takeEarlyFrames())`
   * so no message falls between the two.
   */
  takeEarlyFrames(): Uint8Array[];
}

/** Which connections {@link WsPeerListener.accept} takes. */
export interface PeerAcceptance {
  runId: string;
  generation: number;
  /** Ranks to accept, one connection each (the ring: the left neighbour; the star hub: every worker). */
  ranks: readonly number[];
}

interface Held {
  hello: PeerHello;
  socket: WebSocket;
  /** For the `peerWelcome` proof, sent once the connection is matched. */
  serverNonce: Uint8Array;
  remote: string;
  /** Frames that arrived after the `peerHello`, kept until the caller takes the socket. */
  takeEarlyFrames: () => Uint8Array[];
  onClose: () => void;
}

interface Acceptance extends PeerAcceptance {
  found: Map<number, AcceptedPeer>;
  resolve: (peers: AcceptedPeer[]) => void;
}

/** Listens for peer connections; see the file header. */
export class WsPeerListener {
  readonly host: string;
  readonly port: number;
  /** `ws://host:port` or, with TLS, `wss://host:port`: what `hello.peer` / `welcome.peers` advertise. */
  readonly url: string;
  /** True when serving `wss://`. */
  readonly tls: boolean;
  private readonly server: WsServer;
  private readonly guard: PreauthGuard;
  private readonly token: string;
  private readonly handshakeTimeoutMs: number;
  private readonly held = new Set<Held>();
  /** Sockets given to a caller by `accept`: theirs to close, not ours. */
  private readonly handedOver = new WeakSet<WebSocket>();
  private acceptance: Acceptance | null = null;
  private closed = false;

  private constructor(server: WsServer, host: string, options: { token: string; tls: boolean; handshakeTimeoutMs: number }) {
    this.server = server;
    this.guard = server.guard;
    this.host = host;
    this.port = server.port;
    this.url = server.url;
    this.tls = options.tls;
    this.token = options.token;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs;
  }

  /** Starts listening; resolves once the port is bound. */
  static async listen(options: WsPeerListenerOptions = {}): Promise<WsPeerListener> {
    const host = options.host ?? '127.0.0.1';
    const token = options.token ?? '';
    const maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    if (!Number.isInteger(maxPayload) || maxPayload < HANDSHAKE_MAX_FRAME_BYTES) {
      throw new CollectiveConfigError(
        `WsPeerListener \`maxPayloadBytes\` must be an integer >= ${HANDSHAKE_MAX_FRAME_BYTES}, but got ${maxPayload}`,
      );
    }
    const tls = options.tls ?? null;
    const guard = new PreauthGuard({ limits: options.preauth, log: options.log ?? null });
    const server = await listenWsServer({ host, port: options.port ?? 0, maxPayloadBytes: maxPayload, tls, guard });
    const listener = new WsPeerListener(server, host, { token, tls: tls !== null, handshakeTimeoutMs });
    server.server.on('connection', (socket: WebSocket, request: IncomingMessage) => listener.onConnection(socket, request));
    return listener;
  }

  /**
   * Waits until a valid `peerHello` has arrived from each of `expected.ranks` for this run and
   * generation (connections that came earlier count), and returns those connections in the order
   * of `expected.ranks`, each told `peerWelcome`. Others are refused with `PROTO_PEER_MISMATCH`
   * (and no `peerWelcome`). Rejects with
   * `CollectiveTimeoutError` naming the first missing rank after `timeoutMs`.
   */
  accept(expected: PeerAcceptance, timeoutMs: number): Promise<AcceptedPeer[]> {
    if (this.closed) return Promise.reject(new TransportClosedError(`WsPeerListener on ${this.url} is closed`));
    if (this.acceptance !== null) {
      return Promise.reject(new CollectiveConfigError(`WsPeerListener.accept called on ${this.url} while another accept is pending`));
    }
    return new Promise<AcceptedPeer[]>((resolve, reject) => {
      const startedMs = performance.now();
      const timer = setTimeout(() => {
        const acceptance = this.acceptance;
        this.acceptance = null;
        const missing = expected.ranks.find((r) => acceptance?.found.has(r) !== true) ?? -1;
        for (const peer of acceptance?.found.values() ?? []) peer.socket.close(1001, 'accept timed out');
        reject(
          new CollectiveTimeoutError({ peerRank: missing, operation: 'accept peerHello', round: null }, performance.now() - startedMs),
        );
      }, timeoutMs);
      this.acceptance = {
        ...expected,
        found: new Map(),
        resolve: (peers) => {
          clearTimeout(timer);
          resolve(peers);
        },
      };
      for (const held of [...this.held]) this.match(held);
      this.maybeDone();
    });
  }

  /** Stops listening and closes connections not yet handed over. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const held of this.held) held.socket.terminate();
    this.held.clear();
    // Handed-over sockets belong to their transports; only unclaimed ones are ours to end.
    for (const client of this.server.server.clients) if (!this.isHandedOver(client)) client.terminate();
    // Not waiting for the server's 'close': Node emits it only once every connection has ended,
    // and the handed-over ones live on in their transports. The port is released right away.
    this.server.close();
    return Promise.resolve();
  }

  private isHandedOver(socket: WebSocket): boolean {
    return this.handedOver.has(socket);
  }

  private onConnection(socket: WebSocket, request: IncomingMessage): void {
    if (this.closed) {
      socket.terminate();
      return;
    }
    socket.on('error', () => undefined);
    const remote = request.socket.remoteAddress ?? '?';
    challengeConnection(socket, request.socket, {
      expected: 'peerHello',
      timeoutMs: this.handshakeTimeoutMs,
      onRefused: (err) => this.refuseLogged(socket, err, remote, {}),
      onFirstFrame: (frame, serverNonce) => this.onPeerHello(socket, request, frame, serverNonce),
    });
  }

  /** Refuses with `err` and logs it (rate-limited). */
  private refuseLogged(socket: WebSocket, err: ProtocolError, remote: string, fields: Record<string, unknown>): void {
    this.guard.refusals.record(err.code, remote, 'peerHello refused', { ...fields, reason: err.message });
    refuseProtocolError(socket, err);
  }

  /** The first message: version (at decode), then the proof; then hold until an `accept` matches it. */
  private onPeerHello(socket: WebSocket, request: IncomingMessage, frame: Uint8Array, serverNonce: Uint8Array): void {
    if (this.closed) {
      socket.terminate();
      return;
    }
    const remote = request.socket.remoteAddress ?? '?';
    let hello: PeerHello;
    try {
      hello = decodeMessage(frame, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES, expect: ['peerHello'] }) as PeerHello;
      checkPeerHelloProof(hello, serverNonce, this.token);
    } catch (err) {
      if (err instanceof ProtocolError) this.refuseLogged(socket, err, remote, {});
      else socket.terminate();
      return;
    }
    // Proven: no longer a stranger. It may wait past the pre-auth deadline for its generation (a
    // neighbour that got its `welcome` first dials before this worker is ready to accept).
    this.guard.release(request.socket);
    const held: Held = {
      hello,
      socket,
      serverNonce,
      remote,
      takeEarlyFrames: holdFrames(socket),
      onClose: () => this.held.delete(held),
    };
    socket.once('close', held.onClose);
    this.held.add(held);
    this.match(held);
    this.maybeDone();
  }

  /** Hands `held` to the acceptance in progress (with `peerWelcome`), or refuses it; leaves it held when none is. */
  private match(held: Held): void {
    const acceptance = this.acceptance;
    if (acceptance === null) return;
    const { hello } = held;
    try {
      const single = acceptance.ranks.length === 1 ? acceptance.ranks[0]! : hello.rank;
      checkPeerHello(hello, { runId: acceptance.runId, generation: acceptance.generation, rank: single });
      if (!acceptance.ranks.includes(hello.rank) || acceptance.found.has(hello.rank)) {
        const open = acceptance.ranks.filter((r) => !acceptance.found.has(r));
        throw new ProtocolError(
          'PROTO_PEER_MISMATCH',
          `peerHello.rank must be one of the ranks not yet connected (${open.join(', ') || 'none'}), but got ${hello.rank}`,
        );
      }
    } catch (err) {
      this.held.delete(held);
      if (err instanceof ProtocolError)
        this.refuseLogged(held.socket, err, held.remote, { rank: hello.rank, generation: hello.generation });
      else held.socket.terminate();
      return;
    }
    this.held.delete(held);
    held.socket.off('close', held.onClose);
    const serverProof = peerWelcomeProof(this.token, { serverNonce: held.serverNonce, clientNonce: hello.nonce });
    held.socket.send(encodeMessage({ type: 'peerWelcome', serverProof }), { binary: true }, () => undefined);
    this.handedOver.add(held.socket);
    acceptance.found.set(hello.rank, {
      rank: hello.rank,
      socket: held.socket,
      takeEarlyFrames: held.takeEarlyFrames,
    });
  }

  private maybeDone(): void {
    const acceptance = this.acceptance;
    if (acceptance === null || acceptance.found.size < acceptance.ranks.length) return;
    this.acceptance = null;
    acceptance.resolve(acceptance.ranks.map((r) => acceptance.found.get(r)!));
  }
}
