// The worker's connection to the coordinator: dial (retrying while the coordinator starts; over
// TLS for `wss://`), answer its `challenge` with `hello` (our nonce and the HMAC proof of the
// shared secret), wait for `welcome` (whose proof shows the coordinator knows the secret too) or
// `reject` (handshake steps 1-6, packages/protocol/README.md), then carry control messages both
// ways through a ControlChannel (decoding, refusing a bad frame, heartbeats, the silence verdict),
// queued here for `next()`. In star mode the same socket is also a WsTransport to the star hub
// (one per generation), which reads it and hands the control frames to the channel; in ring mode
// the channel reads it alone. Every wait is bounded, and a coordinator that disappears or falls
// silent fails the worker at once.
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  checkWelcomeProof,
  createNonce,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  errorFromReject,
  HANDSHAKE_MAX_FRAME_BYTES,
  helloProof,
  ProtocolError,
  type ConnectionNonces,
  type Hello,
  type Message,
  type MessageType,
  type Welcome,
} from '@gnet/protocol';
import {
  clientTlsOptions,
  ControlChannel,
  describeTlsTrustError,
  refuseProtocolError,
  starHubRank,
  WsTransport,
  type ChannelEnd,
  type TrustedCa,
} from '@gnet/collective';
import { WorkerRunError } from './worker_run_error.js';

/** Messages the coordinator may send after `welcome`. */
const FROM_COORDINATOR: readonly MessageType[] = [
  'welcome',
  'initialWeights',
  'roundStart',
  'roundAbort',
  'evalRequest',
  'checkpointRequest',
  'heartbeat',
  'leave',
  'error',
];

/** Stable codes of the link's errors. */
export type LinkErrorCode = 'LINK_UNREACHABLE' | 'LINK_TIMEOUT' | 'LINK_LOST' | 'LINK_SILENT' | 'LINK_TLS';

/**
 * The coordinator cannot be reached, did not answer in time, went away or fell silent, or (over
 * `wss://`) presented a certificate we do not trust: the worker stops.
 */
export class CoordinatorLinkError extends Error {
  override readonly name = 'CoordinatorLinkError';
  constructor(
    readonly code: LinkErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link CoordinatorLink.connect}. */
export interface ConnectOptions {
  /** `ws://host:port`, or `wss://host:port` for a coordinator serving TLS. */
  url: string;
  /** Our `hello` without its nonce and proof, which `connect` adds once the challenge arrived. */
  hello: HelloFields;
  /** The shared secret (`GNET_TOKEN`) to prove, and to check `welcome.serverProof` with; empty: no authentication. Never sent. */
  secret: string;
  /** For `wss://`: a CA certificate (PEM) to trust beside the system's (`--tls-ca`); default null. */
  ca?: TrustedCa;
  /** Keep retrying a refused connection this long, in milliseconds. */
  connectTimeoutMs: number;
  /** Longest wait for `welcome` once connected (the coordinator waits for the whole group). */
  joinTimeoutMs: number;
  /** Fail when nothing arrived from the coordinator for this long. */
  silenceTimeoutMs: number;
  log: Logger;
}

/** A `hello` before the challenge: everything but its nonce and proof. */
export type HelloFields = Omit<Hello, 'nonce' | 'proof'>;

/** An open socket and its first message (the coordinator's `challenge`), caught from the start so none slips by. */
interface Dialed {
  socket: WebSocket;
  first: Promise<Buffer>;
}

/** Opens a WebSocket to `url`; rejects on refusal or after `timeoutMs`. */
function dial(url: string, timeoutMs: number, ca: TrustedCa): Promise<Dialed> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: DEFAULT_MAX_FRAME_BYTES,
      handshakeTimeout: timeoutMs,
      ...clientTlsOptions(url, ca),
    });
    // ws may emit a message that came with the upgrade response before our caller resumes.
    const first = new Promise<Buffer>((resolveFirst, rejectFirst) => {
      socket.once('message', (data: WebSocket.RawData) => resolveFirst(data as Buffer));
      socket.once('close', (code: number, reason: Buffer) => {
        rejectFirst(
          new CoordinatorLinkError(
            'LINK_LOST',
            `The coordinator closed the connection before its challenge (${code} ${reason.toString('utf8')})`,
          ),
        );
      });
    });
    first.catch(() => undefined);
    socket.once('open', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve({ socket, first });
    });
    socket.once('error', (err) => {
      socket.terminate();
      reject(err);
    });
  });
}

/** The connection to the coordinator after `welcome`. */
export class CoordinatorLink {
  /** The latest `welcome`: a new one arrives each time the coordinator re-forms the group. */
  welcome: Welcome;
  private readonly channel: ControlChannel;
  private starTransport: WsTransport | null = null;
  private readonly queue: Message[] = [];
  private waiter: { resolve: (m: Message) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly failureListeners: ((err: Error) => void)[] = [];

  private constructor(
    private readonly socket: WebSocket,
    welcome: Welcome,
    silenceTimeoutMs: number,
    earlyFrames: readonly Uint8Array[],
  ) {
    this.welcome = welcome;
    this.channel = new ControlChannel({
      socket,
      expect: FROM_COORDINATOR,
      onMessage: (message) => this.onMessage(message),
      onEnd: (end) => this.fail(linkErrorOf(end)),
    });
    this.route(welcome, earlyFrames);
    // Judged on ticks of 1 s that fire on time only: a training step computes synchronously, and
    // the heartbeats that queued up meanwhile are read right after it (see onTimeTicks).
    this.channel.watchSilence(silenceTimeoutMs, 1000);
  }

  /**
   * The star transport of the current generation (peer rank `starHubRank(worldSize)`: the ranks
   * change when the group is re-formed); null in ring mode, where this socket carries only
   * control messages and the chunks travel on the ring's own connections.
   */
  get transport(): WsTransport | null {
    return this.starTransport;
  }

  /** The star transport of the current generation; in ring mode there is none: `WorkerRunError` `WORKER_PROTOCOL` (a bug). */
  starHub(): WsTransport {
    if (this.starTransport === null)
      throw new WorkerRunError(
        'WORKER_PROTOCOL',
        `The coordinator link carries chunks only for the star all-reduce, but this run uses '${this.welcome.allReduce.algorithm}'`,
      );
    return this.starTransport;
  }

  /** Dials the coordinator, says hello and waits for `welcome`. Rejects with `ProtocolError` `PROTO_REJECTED` on `reject`. */
  static async connect(options: ConnectOptions): Promise<CoordinatorLink> {
    const started = performance.now();
    let dialed: Dialed | null = null;
    for (let attempt = 1; dialed === null; attempt += 1) {
      const left = options.connectTimeoutMs - (performance.now() - started);
      try {
        dialed = await dial(options.url, Math.max(1000, left), options.ca ?? null);
      } catch (err) {
        // An untrusted certificate will not become trusted by retrying.
        const untrusted = describeTlsTrustError(err);
        if (untrusted !== null) {
          throw new CoordinatorLinkError(
            'LINK_TLS',
            `The coordinator at ${options.url} cannot be trusted: ${untrusted}; pass the certificate of the CA that signed it with --tls-ca <pem>`,
          );
        }
        if (left <= 1000) {
          throw new CoordinatorLinkError(
            'LINK_UNREACHABLE',
            `Cannot reach the coordinator at ${options.url} within ${options.connectTimeoutMs} ms: ${(err as Error).message}`,
          );
        }
        if (attempt === 1)
          options.log.info({ url: options.url, reason: (err as Error).message }, 'coordinator not reachable yet; retrying');
        // Exponential backoff from 250 ms, capped at 4 s and by the time left: quick when the
        // coordinator is just starting, gentle on a restarting one.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(250 * 2 ** Math.min(attempt - 1, 4), 4000, left - 1000))));
      }
    }
    const open = dialed.socket;
    const nonces = await answerChallenge(open, dialed.first, options);
    options.log.info({ url: options.url }, 'hello sent; waiting for the group to form');
    return new Promise<CoordinatorLink>((resolve, reject) => {
      const early: Uint8Array[] = [];
      let welcome: Welcome | null = null;
      const timer = setTimeout(() => {
        open.terminate();
        reject(
          new CoordinatorLinkError(
            'LINK_TIMEOUT',
            `No welcome from ${options.url} within ${options.joinTimeoutMs} ms: the group did not form`,
          ),
        );
      }, options.joinTimeoutMs);
      const onClose = (code: number, reason: Buffer): void => {
        clearTimeout(timer);
        reject(
          new CoordinatorLinkError(
            'LINK_LOST',
            `The coordinator closed the connection before welcome (${code} ${reason.toString('utf8')})`,
          ),
        );
      };
      open.once('close', onClose);
      const onMessage = (data: WebSocket.RawData): void => {
        if (welcome !== null) {
          early.push(data as Buffer);
          return;
        }
        let first: Message;
        try {
          first = decodeMessage(data as Buffer, { expect: ['welcome', 'reject'] });
          // Never train for a coordinator that cannot prove it knows our secret.
          if (first.type === 'welcome') checkWelcomeProof(first, nonces, options.secret);
        } catch (err) {
          clearTimeout(timer);
          if (err instanceof ProtocolError) {
            refuseProtocolError(open, err);
          } else open.terminate();
          reject(err);
          return;
        }
        clearTimeout(timer);
        open.off('close', onClose);
        if (first.type === 'reject') {
          open.terminate();
          reject(errorFromReject(first));
          return;
        }
        welcome = first as Welcome;
        // Attach in this same tick: later frames go to the link, none lost in between.
        open.off('message', onMessage);
        resolve(new CoordinatorLink(open, welcome, options.silenceTimeoutMs, early));
      };
      open.on('message', onMessage);
    });
  }

  /** Sends our heartbeat every `periodMs` (`welcome.heartbeatMs`). */
  startHeartbeat(periodMs: number): void {
    this.channel.startHeartbeat(periodMs);
  }

  send(message: Message): void {
    this.channel.send(message);
  }

  /** The next control message other than a heartbeat; rejects once the link failed. */
  next(): Promise<Message> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Calls `listener` once, when the link fails (to abort an all-reduce in progress). */
  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** Messages handled the moment they arrive, even mid-step (`roundAbort`, `leave`). */
  onUrgent: ((message: Message) => void) | null = null;

  /** Closes the connection on purpose (after `leave`, or failing ourselves with `code`). */
  async close(code = 1000, reason = ''): Promise<void> {
    const transport = this.starTransport;
    if (transport === null) {
      await this.channel.close(code, reason);
      return;
    }
    // The transport closes the socket and fails its pending chunk sends and receives.
    this.channel.release();
    await transport.close(code, reason);
  }

  /**
   * Who reads the socket for `welcome`'s generation: in star mode a WsTransport numbered for it
   * (chunks to the transport, control frames to the channel), in ring mode the channel itself.
   * Runs in the tick the welcome arrived, so no later frame is misrouted.
   */
  private route(welcome: Welcome, earlyFrames: readonly Uint8Array[]): void {
    this.starTransport?.detach();
    this.starTransport = null;
    if (welcome.allReduce.algorithm !== 'star') {
      this.channel.listen(earlyFrames);
      return;
    }
    this.channel.stopListening();
    this.starTransport = new WsTransport({ rank: welcome.rank, onControlFrame: (_rank, frame) => this.channel.receive(frame) });
    this.starTransport.attach(starHubRank(welcome.worldSize), this.socket, 'dialed', earlyFrames);
  }

  private onMessage(message: Message): void {
    if (message.type === 'welcome') {
      // A re-formed group: our rank and the star hub's rank change.
      this.welcome = message;
      this.route(message, []);
    }
    if (message.type === 'roundAbort' || message.type === 'leave' || message.type === 'error') this.onUrgent?.(message);
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve(message);
    } else this.queue.push(message);
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(err);
    for (const listener of this.failureListeners) listener(err);
  }
}

/** The link's error for the channel's end: the coordinator went away or fell silent, or broke the protocol. */
function linkErrorOf(end: ChannelEnd): Error {
  switch (end.kind) {
    case 'protocol':
      return end.error;
    case 'silent':
      return new CoordinatorLinkError(
        'LINK_SILENT',
        `The coordinator sent nothing for ${Math.round(end.silentMs)} ms (limit ${end.limitMs} ms)`,
      );
    case 'closed':
      return new CoordinatorLinkError(
        'LINK_LOST',
        `The coordinator closed the connection (${end.code}${end.reason === '' ? '' : ` ${end.reason}`})${end.code === 1006 ? ': it exited or the network dropped' : ''}`,
      );
  }
}

/**
 * Handshake steps 1-2, worker side: waits (at most `connectTimeoutMs`) for the coordinator's
 * `challenge`, then sends our `hello` with a fresh nonce and its proof. A `reject` instead (a
 * coordinator that refused us before any hello) fails with `PROTO_REJECTED`; anything else with
 * its ProtocolError, told to the coordinator before closing.
 */
async function answerChallenge(socket: WebSocket, first: Promise<Buffer>, options: ConnectOptions): Promise<ConnectionNonces> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CoordinatorLinkError(
            'LINK_TIMEOUT',
            `No challenge from ${options.url} within ${options.connectTimeoutMs} ms: is it a gnet coordinator?`,
          ),
        ),
      options.connectTimeoutMs,
    );
  });
  let message: Message;
  try {
    message = decodeMessage(await Promise.race([first, timeout]), {
      maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES,
      expect: ['challenge', 'reject'],
    });
  } catch (err) {
    if (err instanceof ProtocolError) {
      refuseProtocolError(socket, err);
    } else socket.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (message.type === 'reject') {
    socket.terminate();
    throw errorFromReject(message);
  }
  if (message.type !== 'challenge') throw new Error(`unreachable: ${message.type}`);
  // Copied: the nonce is a view into the received frame.
  const nonces = { serverNonce: Uint8Array.from(message.nonce), clientNonce: createNonce() };
  socket.send(
    encodeMessage({ ...options.hello, nonce: nonces.clientNonce, proof: helloProof(options.secret, nonces, options.hello.workerId) }),
    {
      binary: true,
    },
  );
  return nonces;
}
