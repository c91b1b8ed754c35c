// One control connection after its handshake, the chores every endpoint of the control plane
// needs (the worker's link to the coordinator, the coordinator's socket to each rank): decode each
// frame against the messages this side may receive, answer a malformed one with `error` and close
// with its protocol code, send only while the socket is open, heartbeat at a period, judge silence
// on on-time ticks only (see onTimeTicks), and say once why the connection ended. Like ws's own
// split of receiver and sender, the channel never decides what a message means: its owner does.
//
// Two ways to read the socket, because in star mode gradient chunks share it:
//  - `listen(earlyFrames)`: the channel reads the socket itself (ring mode, control-only sockets);
//  - `receive(frame)`: whoever reads the socket feeds it, i.e. a WsTransport's `onControlFrame`,
//    which keeps the chunk frames for the star all-reduce.
// Frames that arrived between the handshake and the hand-over (`earlyFrames`) go first, in order,
// in the same tick as the channel (or the transport) starts reading, so none is lost or reordered.
import { decodeMessage, encodeMessage, errorMessageFor, ProtocolError, type Message, type MessageType } from '@gnet/protocol';
import type WebSocket from 'ws';
import { sendRefusal } from './challenge_connection.js';
import { closeSocket } from './close_socket.js';
import { CollectiveConfigError, CollectiveUsageError } from './errors.js';
import { onTimeTicks } from './on_time_ticks.js';

/**
 * Why a channel ended, delivered once to `onEnd`: the peer closed (or the connection dropped:
 * code 1006), the peer sent nothing for longer than the silence limit, or it broke the protocol
 * (it was told with `error` and its socket is closing with `error.closeCode`). Nothing is
 * delivered when we end the channel ourselves (`release`, `close`, `sendAndClose`).
 */
export type ChannelEnd =
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'silent'; silentMs: number; limitMs: number }
  | { kind: 'protocol'; error: ProtocolError };

/** Options of {@link ControlChannel}. */
export interface ControlChannelOptions {
  /** An open, authenticated WebSocket (the handshake is done). */
  socket: WebSocket;
  /** Message types the peer may send; anything else is `PROTO_UNEXPECTED`. Needed to read. */
  expect?: readonly MessageType[];
  /**
   * Each decoded message but heartbeats (which only count as heard), in arrival order. Without it
   * the channel only sends (e.g. heartbeats to workers waiting between generations).
   */
  onMessage?: (message: Message) => void;
  /** Called once with why the channel ended (see {@link ChannelEnd}). */
  onEnd?: (end: ChannelEnd) => void;
}

/** Largest silence tick, in milliseconds: a verdict comes at most this late. */
const MAX_TICK_MS = 1000;

/**
 * The control plane's side of one socket; see the file header.
 *
 * @example
 * const channel = new ControlChannel({ socket, expect: ['roundStart', 'heartbeat'], onMessage, onEnd });
 * channel.listen(earlyFrames);          // or: new WsTransport({ rank, onControlFrame: (_r, f) => channel.receive(f) })
 * channel.startHeartbeat(5000);
 * channel.watchSilence(30_000);
 */
export class ControlChannel {
  readonly socket: WebSocket;
  private readonly expect: readonly MessageType[];
  private readonly onMessage: ((message: Message) => void) | null;
  private readonly onEnd: ((end: ChannelEnd) => void) | null;
  private heardMs = performance.now();
  private endedWith: ChannelEnd | null = null;
  /** True once the channel ended for any reason, ours included: no further verdict. */
  private finished = false;
  /** True once we let go of the socket (`release`, `close`, `sendAndClose`): nothing more is read. */
  private released = false;
  private listening = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(options: ControlChannelOptions) {
    this.socket = options.socket;
    this.expect = options.expect ?? [];
    this.onMessage = options.onMessage ?? null;
    this.onEnd = options.onEnd ?? null;
    this.socket.on('close', this.onClose);
  }

  /** performance.now() of the last frame from the peer (heartbeats included), or of construction. */
  get lastHeardMs(): number {
    return this.heardMs;
  }

  /** Why the channel ended, once it did on the peer's account; null while it runs or when we ended it. */
  get ended(): ChannelEnd | null {
    return this.endedWith;
  }

  /** True while the socket is open: what `send` needs. */
  get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  /**
   * Reads the socket from now on: delivers `earlyFrames` (those that arrived since the handshake)
   * first, then every frame as it comes. Call it in the tick the previous reader let go. Calling
   * it again while listening only delivers `earlyFrames`.
   */
  listen(earlyFrames: readonly Uint8Array[] = []): void {
    this.requireReader('listen');
    if (this.released) return;
    const already = this.listening;
    this.listening = true;
    for (const frame of earlyFrames) if (!this.released) this.receive(frame);
    // Added after the early frames: ws emits no message while this tick runs, so none overtakes them.
    if (!already && this.listening && !this.released) this.socket.on('message', this.onSocketMessage);
  }

  /** Stops reading the socket (another reader, e.g. a star-mode WsTransport, takes over in this tick). */
  stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.socket.off('message', this.onSocketMessage);
  }

  /**
   * One frame from whoever reads the socket: decoded against `expect`; a heartbeat only counts as
   * heard, anything else goes to `onMessage`. A frame that breaks the protocol ends the channel
   * (see `refuse`). Frames after the channel was released or refused are dropped.
   */
  receive(frame: Uint8Array): void {
    this.requireReader('receive');
    if (this.released) return;
    this.heardMs = performance.now();
    let message: Message;
    try {
      message = decodeMessage(frame, { expect: this.expect });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.refuse(err);
      return;
    }
    if (message.type !== 'heartbeat') this.onMessage!(message);
  }

  /** Sends `message` if the socket is open; returns whether it went out. */
  send(message: Message): boolean {
    return this.sendFrame(encodeMessage(message));
  }

  /** Sends an already encoded message (one encoding for many channels: a broadcast) if the socket is open. */
  sendFrame(frame: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.socket.send(frame, { binary: true });
    return true;
  }

  /** Sends `heartbeat` every `periodMs` until released or closed (replaces a running one). */
  startHeartbeat(periodMs: number): void {
    checkPositive('periodMs', 'startHeartbeat', periodMs);
    this.stopHeartbeat();
    // Only on an open socket: a silent peer's still is (it goes on being heartbeated), a closed one is not.
    if (this.released || !this.isOpen) return;
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', sentAtMs: Date.now() }), periodMs);
    this.heartbeat.unref();
  }

  stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /**
   * Ends the channel (`silent`) once nothing arrived for more than `timeoutMs`, judged every
   * `tickMs` (default the smaller of 1 s and `timeoutMs`) on ticks that fire on time only: a late
   * tick means our own event loop was blocked, and the peer's frames queued meanwhile come next.
   */
  watchSilence(timeoutMs: number, tickMs = Math.min(MAX_TICK_MS, timeoutMs)): void {
    checkPositive('timeoutMs', 'watchSilence', timeoutMs);
    checkPositive('tickMs', 'watchSilence', tickMs);
    this.stopWatch();
    if (this.finished) return;
    this.watchdog = onTimeTicks(tickMs, (nowMs) => {
      const silentMs = nowMs - this.heardMs;
      if (silentMs > timeoutMs) this.end({ kind: 'silent', silentMs, limitMs: timeoutMs });
    });
  }

  /**
   * The peer broke the protocol (`err`, found here or by the owner): tells it with `error`, closes
   * with `err.closeCode` and `err.code` (cut after REFUSAL_GRACE_MS), and ends the channel
   * (`protocol`) unless it had ended already.
   */
  refuse(err: ProtocolError): void {
    const first = !this.finished;
    this.sendAndClose(errorMessageFor(err), err.closeCode, err.code);
    if (first) this.deliver({ kind: 'protocol', error: err });
  }

  /**
   * The last word: sends `message` if the socket is open, closes with `code` and `reason`, and
   * cuts the connection a second later whatever the peer does (a frozen or hostile peer never
   * answers the close). We ended it: no verdict follows.
   */
  sendAndClose(message: Message, code: number, reason: string): void {
    this.release();
    if (!this.isOpen) {
      this.socket.terminate();
      return;
    }
    sendRefusal(this.socket, encodeMessage(message), code, reason);
  }

  /**
   * Lets go of the socket without closing it (the next owner takes it over in this tick): stops
   * the timers and the reading; no verdict follows. Sending still works.
   */
  release(): void {
    this.finished = true;
    this.released = true;
    this.stopHeartbeat();
    this.stopWatch();
    this.stopListening();
    this.socket.off('close', this.onClose);
  }

  /** Closes on purpose with `code` and `reason`, waiting at most `timeoutMs` for the peer's close frame. */
  close(code = 1000, reason = '', timeoutMs = 1000): Promise<void> {
    this.release();
    return closeSocket(this.socket, code, reason, timeoutMs);
  }

  private readonly onClose = (code: number, reason: Buffer): void => {
    this.end({ kind: 'closed', code, reason: reason.toString('utf8') });
  };

  private readonly onSocketMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (isBinary) {
      this.receive(data as Buffer);
      return;
    }
    // Our protocol is binary only: a text frame is malformed whatever it says.
    this.heardMs = performance.now();
    this.refuse(new ProtocolError('PROTO_MALFORMED', 'A control message must come as a binary frame, but came as a text frame'));
  };

  /** The peer's account of the end: given once; heartbeats go on only while a silent peer's socket stays open. */
  private end(end: ChannelEnd): void {
    if (this.finished) {
      // A silent peer's socket closing later: nothing more to heartbeat (the verdict stays `silent`).
      if (end.kind === 'closed') this.stopHeartbeat();
      return;
    }
    this.finished = true;
    this.stopWatch();
    if (end.kind !== 'silent') this.stopHeartbeat();
    this.deliver(end);
  }

  private deliver(end: ChannelEnd): void {
    this.finished = true;
    this.endedWith = end;
    this.onEnd?.(end);
  }

  private stopWatch(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private requireReader(method: string): void {
    if (this.onMessage === null)
      throw new CollectiveUsageError(`ControlChannel.${method}: this channel was made without \`onMessage\`, so it can only send`);
  }
}

function checkPositive(name: string, method: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new CollectiveConfigError(
      `\`${name}\` passed to ControlChannel.${method} must be a positive number of milliseconds, but got ${value}`,
    );
}
