// Rendezvous: the coordinator's WebSocket server (`ws://`, or `wss://` with a certificate) and
// protocol handshake steps 1-5 (see packages/protocol/README.md): each connection gets a
// `challenge`, and its first message must be a `hello` of a supported version whose HMAC proof
// shows it knows the shared secret, within the handshake deadline and size limit; refused ones get
// `reject` and are closed with the error's close code. Nothing else a connection sends is read
// before that. Accepted workers wait here until the coordinator takes them into a generation: the first
// group once `--workers` are in, later ones at a step boundary (elastic joining, like torchrun's
// `--nnodes=MIN:MAX` rendezvous), up to `maxWorkers` members and waiting workers together.
// Until its hello is accepted a connection counts against the PreauthGuard's caps and deadlines
// (per address, in total, first byte, whole handshake), so idle connections cannot exhaust the
// coordinator's file descriptors; every refusal is logged, rate-limited (RefusalLog).
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import {
  checkHelloProof,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  ProtocolError,
  rejectFor,
  welcomeProof,
  type AllReduceAlgorithm,
  type Hello,
} from '@gnet/protocol';
import {
  challengeConnection,
  holdFrames,
  listenWsServer,
  PreauthGuard,
  sendRefusal,
  type PreauthLimits,
  type TlsCredentials,
  type WsServer,
} from '@gnet/collective';
import { JoinTimeoutError } from './errors.js';

/** A worker whose `hello` was accepted. */
export interface JoinedWorker {
  hello: Hello;
  socket: WebSocket;
  /**
   * `welcomeProof` of this connection's nonces (empty without a secret): the `serverProof` of
   * every `welcome` sent on this socket, by which the worker knows we hold the secret too.
   */
  serverProof: Uint8Array;
  /**
   * Stops collecting the socket's messages and returns those that arrived after the hello (none
   * from a well-behaved worker before `welcome`); call it in the same tick as attaching the socket
   * to its reader, so no message falls between the two.
   */
  takeEarlyFrames(): Uint8Array[];
}

/** Options of {@link Rendezvous.listen}. */
export interface RendezvousOptions {
  host: string;
  port: number;
  /**
   * Shared secret (`GNET_TOKEN`) each `hello.proof` must prove, and `welcome.serverProof` proves
   * back; never sent. Empty accepts any worker (a warning at start-up unless on loopback).
   */
  token: string;
  /** Serve `wss://` with this certificate and key; null or absent: `ws://`. */
  tls?: TlsCredentials | null;
  /** Most workers in the run at once: members of the current generation plus those waiting. */
  maxWorkers: number;
  /** workerIds of the current generation's members (a second hello under one of them is refused). */
  activeWorkerIds: () => readonly string[];
  /** Called for each accepted hello (the dashboard's membership events). */
  onJoined?: (hello: Hello) => void;
  /** The ring needs every worker's peer listener (`hello.peer`). */
  algorithm: AllReduceAlgorithm;
  log: Logger;
  /** The handshake deadline: how long a new connection may take to send its `hello`, in milliseconds; default 10 000. */
  helloTimeoutMs?: number;
  /** Caps and deadlines before the hello is accepted; default DEFAULT_PREAUTH_LIMITS. */
  preauth?: Partial<PreauthLimits>;
  /** Length of one refusal-log interval, in milliseconds (see RefusalLog); default 30 000. */
  refusalLogIntervalMs?: number;
}

/** The coordinator's own `reject` codes, beside the protocol's (see RejectSchema). */
export type RejectCode = 'GROUP_FULL' | 'DUPLICATE_WORKER' | 'NO_PEER_LISTENER';

const POLICY_VIOLATION = 1008;

/**
 * Sends `reject` and closes (ending the connection soon even if the peer stays silent); the worker raises `PROTO_REJECTED` with our code
 * and message.
 */
function refuse(socket: WebSocket, code: string, message: string, closeCode: number): void {
  sendRefusal(socket, encodeMessage({ type: 'reject', code, message: message.slice(0, 4096) }), closeCode, code);
}

/** Accepts workers for the whole run; `join`, `waitForPending` and `takePending` hand them over. */
export class Rendezvous {
  private readonly waiting: JoinedWorker[] = [];
  /** Called whenever a worker starts waiting. */
  private onArrival: (() => void) | null = null;

  /** `ws://host:port` or `wss://host:port` as bound (the real port when asked for 0). */
  readonly url: string;

  private constructor(
    private readonly server: WsServer,
    private readonly options: RendezvousOptions,
  ) {
    this.url = server.url;
  }

  /** Starts the server; resolves once the port is bound. */
  static async listen(options: RendezvousOptions): Promise<Rendezvous> {
    const guard = new PreauthGuard({ limits: options.preauth, log: options.log, refusalLog: { intervalMs: options.refusalLogIntervalMs } });
    const server = await listenWsServer({
      host: options.host,
      port: options.port,
      maxPayloadBytes: DEFAULT_MAX_FRAME_BYTES,
      tls: options.tls ?? null,
      guard,
    });
    if (options.token === '' && !isLoopback(options.host)) {
      // Once, here: anyone who reaches the port could join and receive the run's weights.
      options.log.warn(
        { host: options.host, url: server.url },
        'listening beyond loopback without a shared secret: any host that reaches this port can join; set GNET_TOKEN',
      );
    }
    const rendezvous = new Rendezvous(server, options);
    server.server.on('connection', (socket: WebSocket, req: IncomingMessage) => rendezvous.onConnection(socket, req));
    return rendezvous;
  }

  /** Workers accepted and not yet taken into a generation. */
  get pendingCount(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with every waiting worker, in join order, once at least `count` wait; rejects with
   * `JoinTimeoutError` after `timeoutMs`. `abort` rejects it early (a local worker died).
   */
  async join(count: number, timeoutMs: number, abort?: Promise<never>): Promise<JoinedWorker[]> {
    const started = performance.now();
    if (!(await this.waitForPending(count, timeoutMs, abort))) {
      throw new JoinTimeoutError(
        this.waiting.map((worker) => worker.hello.workerId),
        count,
        Math.round(performance.now() - started),
      );
    }
    return this.takePending();
  }

  /** Resolves true once at least `count` workers wait, false after `timeoutMs`. */
  waitForPending(count: number, timeoutMs: number, abort?: Promise<never>): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.onArrival = null;
        resolve(value);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      abort?.catch((err: unknown) => {
        clearTimeout(timer);
        this.onArrival = null;
        reject(err);
      });
      this.onArrival = () => {
        if (this.waiting.length >= count) done(true);
      };
      this.onArrival();
    });
  }

  /** Takes every waiting worker (join order); they keep collecting messages until `takeEarlyFrames`. */
  takePending(): JoinedWorker[] {
    return this.waiting.splice(0);
  }

  /**
   * Stops listening and drops the workers still waiting and connections not yet accepted; members' sockets stay open (their owner closes
   * them).
   */
  close(): void {
    for (const worker of this.waiting.splice(0)) worker.socket.terminate();
    this.server.close();
  }

  private onConnection(socket: WebSocket, req: IncomingMessage): void {
    const log = this.options.log;
    const remote = req.socket.remoteAddress ?? '?';
    socket.on('error', (err) => log.debug({ err, remote }, 'worker socket error'));
    const refusals = this.server.guard.refusals;
    const refuseWith = (err: ProtocolError): void => {
      refusals.record(err.code, remote, 'hello refused', { reason: err.message });
      const reject = rejectFor(err);
      refuse(socket, reject.code, reject.message, err.closeCode);
    };
    // The first frame: version (at decode) and proof, then the run's own rules.
    const onFirstFrame = (frame: Uint8Array, serverNonce: Uint8Array): void => {
      let hello: Hello;
      try {
        hello = decodeMessage(frame, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES, expect: ['hello'] }) as Hello;
        checkHelloProof(hello, serverNonce, this.options.token);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        refuseWith(err);
        return;
      }
      const refusal = this.checkJoin(hello);
      if (refusal !== null) {
        refusals.record(refusal.code, remote, 'hello refused', { workerId: hello.workerId, reason: refusal.message });
        refuse(socket, refusal.code, refusal.message, POLICY_VIOLATION);
        return;
      }
      // Accepted: it no longer counts against the pre-auth caps, nor has their deadlines.
      this.server.guard.release(req.socket);
      const joined: JoinedWorker = {
        hello,
        socket,
        serverProof: welcomeProof(this.options.token, { serverNonce, clientNonce: hello.nonce }),
        takeEarlyFrames: holdFrames(socket),
      };
      socket.once('close', (code: number) => {
        const i = this.waiting.indexOf(joined);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        log.warn({ workerId: hello.workerId, closeCode: code, waiting: this.waiting.length }, 'worker left while waiting to join');
      });
      this.waiting.push(joined);
      log.info(
        {
          workerId: hello.workerId,
          backend: hello.backend,
          device: hello.device,
          remote,
          peer: hello.peer,
          waiting: this.waiting.length,
          maxWorkers: this.options.maxWorkers,
        },
        'worker joined',
      );
      this.options.onJoined?.(hello);
      this.onArrival?.();
    };
    challengeConnection(socket, req.socket, {
      expected: 'hello',
      timeoutMs: this.options.helloTimeoutMs ?? 10_000,
      onRefused: refuseWith,
      onFirstFrame,
    });
  }

  private checkJoin(hello: Hello): { code: RejectCode; message: string } | null {
    const { maxWorkers, algorithm } = this.options;
    const active = this.options.activeWorkerIds();
    if (this.waiting.some((worker) => worker.hello.workerId === hello.workerId) || active.includes(hello.workerId)) {
      return {
        code: 'DUPLICATE_WORKER',
        message: `A worker named '${hello.workerId}' is already in the run; give each worker its own --worker-id`,
      };
    }
    if (active.length + this.waiting.length >= maxWorkers) {
      return { code: 'GROUP_FULL', message: `The run already has its ${maxWorkers} workers (--max-workers)` };
    }
    if (algorithm === 'ring' && hello.peer === null) {
      return {
        code: 'NO_PEER_LISTENER',
        message: `hello.peer must name the worker's peer listener when the all-reduce is 'ring', but got null`,
      };
    }
    return null;
  }
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
