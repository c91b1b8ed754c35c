// Rendezvous: the coordinator's WebSocket server and protocol handshake steps 1-4 (see
// packages/protocol/README.md): each connection's first message must be a `hello` of a supported
// version with the right token; refused ones get `reject` and are closed with the error's close
// code. The group forms, in join order, once `worldSize` workers are in (torchrun's rendezvous).
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import {
  checkHelloToken,
  decodeMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  ProtocolError,
  rejectFor,
  type AllReduceAlgorithm,
  type Hello,
} from '@gnet/protocol';
import { JoinTimeoutError } from './errors.js';

/** A worker whose `hello` was accepted. */
export interface JoinedWorker {
  hello: Hello;
  socket: WebSocket;
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
  /** Shared secret of `hello.token`; empty accepts any worker. */
  token: string;
  worldSize: number;
  /** The ring needs every worker's peer listener (`hello.peer`). */
  algorithm: AllReduceAlgorithm;
  log: Logger;
  /** How long a new connection may take to send its `hello`, in milliseconds. */
  helloTimeoutMs?: number;
}

/** The coordinator's own `reject` codes, beside the protocol's (see RejectSchema). */
export type RejectCode = 'GROUP_FULL' | 'DUPLICATE_WORKER' | 'RUN_IN_PROGRESS' | 'NO_PEER_LISTENER';

const POLICY_VIOLATION = 1008;

/** Sends `reject` and closes; the worker raises `PROTO_REJECTED` with our code and message. */
function refuse(socket: WebSocket, code: string, message: string, closeCode: number): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(encodeMessage({ type: 'reject', code, message: message.slice(0, 4096) }), { binary: true }, () => undefined);
  socket.close(closeCode, code);
}

/** Accepts workers until the group is complete; later connections are refused with `RUN_IN_PROGRESS`. */
export class Rendezvous {
  private readonly waiting: JoinedWorker[] = [];
  private formed = false;
  private onFormed: (() => void) | null = null;

  private constructor(
    private readonly server: WebSocketServer,
    private readonly options: RendezvousOptions,
    /** `ws://host:port` as bound (the real port when asked for 0). */
    readonly url: string,
  ) {}

  /** Starts the server; resolves once the port is bound. */
  static async listen(options: RendezvousOptions): Promise<Rendezvous> {
    const server = new WebSocketServer({ host: options.host, port: options.port, perMessageDeflate: false, maxPayload: DEFAULT_MAX_FRAME_BYTES });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const rendezvous = new Rendezvous(server, options, `ws://${host}:${port}`);
    server.on('connection', (socket, req) => rendezvous.onConnection(socket, req.socket.remoteAddress ?? '?'));
    return rendezvous;
  }

  /**
   * Resolves with the group, in join order (rank = index), once `worldSize` workers said hello;
   * rejects with `JoinTimeoutError` after `timeoutMs`. `abort` rejects it early (a local worker died).
   */
  join(timeoutMs: number, abort?: Promise<never>): Promise<JoinedWorker[]> {
    const started = performance.now();
    return new Promise<JoinedWorker[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onFormed = null;
        reject(new JoinTimeoutError(this.waiting.map((w) => w.hello.workerId), this.options.worldSize, Math.round(performance.now() - started)));
      }, timeoutMs);
      abort?.catch((err: unknown) => {
        clearTimeout(timer);
        this.onFormed = null;
        reject(err);
      });
      this.onFormed = () => {
        clearTimeout(timer);
        resolve([...this.waiting]);
      };
      this.maybeFormed();
    });
  }

  /** Stops listening; sockets of the formed group stay open (their owner closes them). */
  close(): void {
    for (const w of this.waiting) if (!this.formed) w.socket.terminate();
    for (const client of this.server.clients) if (!this.waiting.some((w) => w.socket === client)) client.terminate();
    this.server.close();
  }

  private onConnection(socket: WebSocket, remote: string): void {
    const log = this.options.log;
    const helloTimeoutMs = this.options.helloTimeoutMs ?? 10_000;
    socket.on('error', (err) => log.debug({ err, remote }, 'worker socket error'));
    const timer = setTimeout(() => refuse(socket, 'PROTO_UNEXPECTED', `No hello within ${helloTimeoutMs} ms of connecting`, 1002), helloTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    socket.once('message', (data: WebSocket.RawData) => {
      clearTimeout(timer);
      let hello: Hello;
      try {
        hello = decodeMessage(data as Buffer, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES, expect: ['hello'] }) as Hello;
        checkHelloToken(hello, this.options.token);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        log.warn({ remote, code: err.code, reason: err.message }, 'hello refused');
        const reject = rejectFor(err);
        refuse(socket, reject.code, reject.message, err.closeCode);
        return;
      }
      const refusal = this.checkJoin(hello);
      if (refusal !== null) {
        log.warn({ remote, workerId: hello.workerId, code: refusal.code, reason: refusal.message }, 'hello refused');
        refuse(socket, refusal.code, refusal.message, POLICY_VIOLATION);
        return;
      }
      const earlyFrames: Uint8Array[] = [];
      const collect = (more: WebSocket.RawData): void => {
        earlyFrames.push(more as Buffer);
      };
      const joined: JoinedWorker = {
        hello,
        socket,
        takeEarlyFrames: () => {
          socket.off('message', collect);
          return earlyFrames;
        },
      };
      socket.on('message', collect);
      socket.once('close', (code: number) => {
        if (this.formed) return;
        const i = this.waiting.indexOf(joined);
        if (i >= 0) this.waiting.splice(i, 1);
        log.warn({ workerId: hello.workerId, closeCode: code, joined: this.waiting.length, worldSize: this.options.worldSize }, 'worker left before the group formed');
      });
      this.waiting.push(joined);
      log.info(
        { workerId: hello.workerId, backend: hello.backend, device: hello.device, remote, joined: this.waiting.length, worldSize: this.options.worldSize },
        'worker joined',
      );
      this.maybeFormed();
    });
  }

  private checkJoin(hello: Hello): { code: RejectCode; message: string } | null {
    const { worldSize, algorithm } = this.options;
    if (this.formed) return { code: 'RUN_IN_PROGRESS', message: `The group of ${worldSize} workers is already formed and training; elastic joining is not supported` };
    if (this.waiting.some((w) => w.hello.workerId === hello.workerId)) {
      return { code: 'DUPLICATE_WORKER', message: `A worker named '${hello.workerId}' has already joined; give each worker its own --worker-id` };
    }
    if (this.waiting.length >= worldSize) return { code: 'GROUP_FULL', message: `The group already has its ${worldSize} workers` };
    if (algorithm === 'ring' && hello.peer === null) {
      return { code: 'NO_PEER_LISTENER', message: `hello.peer must name the worker's peer listener when the all-reduce is 'ring', but got null` };
    }
    return null;
  }

  private maybeFormed(): void {
    if (this.formed || this.onFormed === null || this.waiting.length < this.options.worldSize) return;
    this.formed = true;
    this.onFormed();
  }
}
