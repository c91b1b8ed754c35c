// A worker's (or the star hub's) listener for peer connections: a small WebSocketServer that
// checks an optional bearer token on the HTTP upgrade, then waits for each connection's first
// message, a `peerHello` (protocol handshake step 6), and holds the connection until the caller
// says which run, generation and ranks it expects. Connections that arrive before the worker has
// its `welcome` wait; mismatches get an `error` message and are closed with its close code.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  checkPeerHello,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  errorMessageFor,
  HANDSHAKE_MAX_FRAME_BYTES,
  ProtocolError,
  type PeerHello,
} from '@gnet/protocol';
import WebSocket, { WebSocketServer } from 'ws';
import { CollectiveConfigError, CollectiveTimeoutError, TransportClosedError } from './errors.js';

/** Options of {@link WsPeerListener.listen}. */
export interface WsPeerListenerOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port; default 0 (the OS picks one, read it from `port`). */
  port?: number;
  /**
   * Shared secret the dialer must present as `Authorization: Bearer <token>` on the upgrade;
   * empty (the default) accepts any dialer. `peerHello` carries no token, so this is what keeps
   * strangers from joining a ring.
   */
  token?: string;
  /** Largest message accepted (ws `maxPayload`), in bytes; default the protocol's DEFAULT_MAX_FRAME_BYTES. */
  maxPayloadBytes?: number;
  /** How long a new connection may take to send its `peerHello`, in milliseconds; default 10 000. */
  handshakeTimeoutMs?: number;
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
  earlyFrames: Uint8Array[];
  onMessage: (data: WebSocket.RawData) => void;
  onClose: () => void;
}

interface Acceptance extends PeerAcceptance {
  found: Map<number, AcceptedPeer>;
  resolve: (peers: AcceptedPeer[]) => void;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Sends the `error` message for `err`, then closes with its close code (protocol README, "Error codes"). */
export function refuse(socket: WebSocket, err: ProtocolError): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(encodeMessage(errorMessageFor(err)), { binary: true }, () => undefined);
  socket.close(err.closeCode, err.code);
}

/** Listens for peer connections; see the file header. */
export class WsPeerListener {
  readonly host: string;
  readonly port: number;
  private readonly server: WebSocketServer;
  private readonly held = new Set<Held>();
  /** Sockets given to a caller by `accept`: theirs to close, not ours. */
  private readonly handedOver = new WeakSet<WebSocket>();
  private acceptance: Acceptance | null = null;
  private closed = false;

  private constructor(server: WebSocketServer, host: string, port: number) {
    this.server = server;
    this.host = host;
    this.port = port;
  }

  /** `ws://host:port`, for `hello.peer` / `welcome.peers`. */
  get url(): string {
    return `ws://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
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
    const expected = digest(`Bearer ${token}`);
    const server = new WebSocketServer({
      host,
      port: options.port ?? 0,
      perMessageDeflate: false,
      maxPayload,
      verifyClient:
        token === ''
          ? undefined
          : (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
              const given = info.req.headers.authorization ?? '';
              done(timingSafeEqual(digest(given), expected), 401, 'Unauthorized');
            },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const listener = new WsPeerListener(server, host, port);
    server.on('connection', (socket) => listener.onConnection(socket, handshakeTimeoutMs));
    return listener;
  }

  /**
   * Waits until a valid `peerHello` has arrived from each of `expected.ranks` for this run and
   * generation (connections that came earlier count), and returns those connections in the order
   * of `expected.ranks`. Others are refused with `PROTO_PEER_MISMATCH`. Rejects with
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
        reject(new CollectiveTimeoutError({ peerRank: missing, operation: 'accept peerHello', round: null }, performance.now() - startedMs));
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
    for (const client of this.server.clients) if (!this.isHandedOver(client)) client.terminate();
    // Not waiting for the server's 'close': Node emits it only once every connection has ended,
    // and the handed-over ones live on in their transports. The port is released right away.
    this.server.close();
    return Promise.resolve();
  }

  private isHandedOver(socket: WebSocket): boolean {
    return this.handedOver.has(socket);
  }

  private onConnection(socket: WebSocket, handshakeTimeoutMs: number): void {
    if (this.closed) {
      socket.terminate();
      return;
    }
    const timer = setTimeout(() => {
      refuse(socket, new ProtocolError('PROTO_UNEXPECTED', `No peerHello within ${handshakeTimeoutMs} ms of connecting`));
    }, handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    socket.once('message', (data: WebSocket.RawData) => {
      clearTimeout(timer);
      let hello: PeerHello;
      try {
        const frame = data as Buffer;
        hello = decodeMessage(frame, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES, expect: ['peerHello'] }) as PeerHello;
      } catch (err) {
        if (err instanceof ProtocolError) refuse(socket, err);
        else socket.terminate();
        return;
      }
      const held: Held = {
        hello,
        socket,
        earlyFrames: [],
        onMessage: (more) => held.earlyFrames.push(more as Buffer),
        onClose: () => this.held.delete(held),
      };
      socket.on('message', held.onMessage);
      socket.once('close', held.onClose);
      this.held.add(held);
      this.match(held);
      this.maybeDone();
    });
  }

  /** Hands `held` to the acceptance in progress, or refuses it; leaves it held when none is. */
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
      if (err instanceof ProtocolError) refuse(held.socket, err);
      else held.socket.terminate();
      return;
    }
    this.held.delete(held);
    held.socket.off('close', held.onClose);
    this.handedOver.add(held.socket);
    acceptance.found.set(hello.rank, {
      rank: hello.rank,
      socket: held.socket,
      takeEarlyFrames: () => {
        held.socket.off('message', held.onMessage);
        return held.earlyFrames;
      },
    });
  }

  private maybeDone(): void {
    const acceptance = this.acceptance;
    if (acceptance === null || acceptance.found.size < acceptance.ranks.length) return;
    this.acceptance = null;
    acceptance.resolve(acceptance.ranks.map((r) => acceptance.found.get(r)!));
  }
}
