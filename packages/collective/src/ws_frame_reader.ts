// The receive path of a dialed (client-side) WebSocket without allocation: the socket is opened
// with net's `onread` option, so the kernel's bytes land in one reused read buffer, and RFC 6455
// frames are parsed here straight into recycled message buffers (ws's own Receiver copies every
// frame into a fresh buffer, and Node allocates every 64 KiB socket read; at 25 MB per round that
// churn costs about one mark-compact GC per round). ws still does the opening handshake, every
// send, pongs and the close frame; this class takes over the socket's incoming bytes once the
// upgrade is done. Follows RFC 6455 §5.2 (base framing) and ws's lib/receiver.js checks.
import net from 'node:net';
import type WebSocket from 'ws';

/** Bytes of the buffer every socket read lands in. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Message buffers are allocated in multiples of this, so chunk frames of one size share them. */
const MESSAGE_GRANULE_BYTES = 64 * 1024;

const OPCODE_CONTINUATION = 0x0;
const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;

/** How the peer closed, or why we refused its frames. */
export interface FrameReaderClose {
  code: number;
  reason: string;
  /** True when the peer sent the close frame; false when we closed because its frames broke RFC 6455. */
  byPeer: boolean;
}

/** The reader bound to each WebSocket, so `WsTransport.attach` finds it without being told. */
const readers = new WeakMap<WebSocket, WsFrameReader>();

/** The {@link WsFrameReader} reading `socket`'s frames, if it was dialed with one. */
export function frameReaderOf(socket: WebSocket): WsFrameReader | null {
  return readers.get(socket) ?? null;
}

/** Where complete messages go. */
export type MessageSink = (message: Uint8Array, isBinary: boolean) => void;

/**
 * Zero-allocation reader of a WebSocket client's incoming frames.
 *
 * @example
 * const reader = new WsFrameReader(maxPayload);
 * const socket = new WebSocket(url, { createConnection: reader.createConnection });
 * reader.bind(socket);   // WsTransport.attach(rank, socket, ...) then finds it and takes its messages
 */
export class WsFrameReader {
  /** The close frame the peer sent, or the reason we refused its frames; null while open. */
  closeInfo: FrameReaderClose | null = null;
  private readonly maxPayloadBytes: number;
  private readonly readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
  private readonly header = Buffer.alloc(14);
  private readonly control = Buffer.alloc(125);
  private socket: net.Socket | null = null;
  private websocket: WebSocket | null = null;
  private upgraded = false;
  private sink: MessageSink | null = null;
  private early: { message: Uint8Array; isBinary: boolean }[] = [];
  /** Message buffers free for reuse, and those handed out and not yet released. */
  private readonly free: Buffer[] = [];
  private readonly lent: Buffer[] = [];
  // Parser state.
  private headerBytes = 0;
  private payloadLeft = 0;
  private inPayload = false;
  private frameFin = false;
  private frameOpcode = 0;
  private controlBytes = 0;
  private message: Buffer | null = null;
  private messageBytes = 0;
  private messageBinary = true;
  private failed = false;

  constructor(maxPayloadBytes: number) {
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /** ws's `createConnection` client option: a TCP socket whose reads come to this reader. */
  readonly createConnection = (options: net.NetConnectOpts & { socketPath?: string }): net.Socket => {
    const socket = net.connect({
      ...options,
      // As ws's own netConnect does: a unix socket path when given, else host and port.
      ...(options.socketPath === undefined ? {} : { path: options.socketPath }),
      onread: { buffer: this.readBuffer, callback: (nread: number) => this.onRead(nread) },
    } as net.NetConnectOpts);
    this.socket = socket;
    return socket;
  };

  /** The WebSocket created with {@link createConnection}: for pongs, close replies and the upgrade. */
  bind(websocket: WebSocket): void {
    this.websocket = websocket;
    readers.set(websocket, this);
  }

  /**
   * Sends complete messages to `sink`, first those that arrived before; null keeps them until
   * the next sink (a handshake reads its frames, then leaves the rest for the transport).
   */
  setSink(sink: MessageSink | null): void {
    this.sink = sink;
    if (sink === null) return;
    const early = this.early;
    this.early = [];
    for (const { message, isBinary } of early) sink(message, isBinary);
  }

  /**
   * Gives the buffer of a message handed to the sink back for reuse; the caller must not touch
   * `message` afterwards. Messages this reader did not make are ignored.
   */
  release(message: Uint8Array): void {
    const i = this.lent.findIndex((buf) => buf.buffer === message.buffer);
    if (i < 0) return;
    this.free.push(this.lent[i]!);
    this.lent[i] = this.lent[this.lent.length - 1]!;
    this.lent.pop();
  }

  private onRead(nread: number): boolean {
    if (!this.upgraded) {
      // The HTTP upgrade response: hand the bytes (a copy, the read buffer is reused) to Node's
      // HTTP client, which gives the socket to ws; from then on frames are ours.
      this.socket!.emit('data', Buffer.from(this.readBuffer.subarray(0, nread)));
      if (this.websocket?.readyState === 1) {
        this.upgraded = true;
        // Bytes after the response went to ws as the upgrade's head; take them back.
        const head: unknown = this.socket!.readableLength > 0 ? this.socket!.read() : null;
        if (head instanceof Uint8Array) this.parse(head, head.byteLength);
      }
      return true;
    }
    this.parse(this.readBuffer, nread);
    return true;
  }

  private parse(buf: Uint8Array, nread: number): void {
    let at = 0;
    while (at < nread && !this.failed) {
      if (!this.inPayload) {
        at += this.readHeader(buf, at, nread);
        continue;
      }
      const take = Math.min(this.payloadLeft, nread - at);
      if (this.frameOpcode >= OPCODE_CLOSE) {
        this.control.set(buf.subarray(at, at + take), this.controlBytes);
        this.controlBytes += take;
      } else {
        this.message!.set(buf.subarray(at, at + take), this.messageBytes);
        this.messageBytes += take;
      }
      at += take;
      this.payloadLeft -= take;
      if (this.payloadLeft === 0) this.endFrame();
    }
  }

  /** Consumes header bytes from `buf[at..nread)`; returns how many it took. */
  private readHeader(buf: Uint8Array, at: number, nread: number): number {
    let taken = 0;
    const need = (): number => {
      if (this.headerBytes < 2) return 2;
      const len7 = this.header[1]! & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      return 2 + ext + (this.header[1]! & 0x80 ? 4 : 0);
    };
    while (this.headerBytes < need() && at + taken < nread) {
      this.header[this.headerBytes] = buf[at + taken]!;
      this.headerBytes += 1;
      taken += 1;
    }
    if (this.headerBytes < need()) return taken;
    this.headerBytes = 0;
    this.startFrame();
    return taken;
  }

  private startFrame(): void {
    const b0 = this.header[0]!;
    const b1 = this.header[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return this.fail(1002, 'RSV bits must be clear (no extension was negotiated)');
    if ((b1 & 0x80) !== 0) return this.fail(1002, 'a server must not mask its frames');
    const len7 = b1 & 0x7f;
    let length = len7;
    if (len7 === 126) length = this.header.readUInt16BE(2);
    else if (len7 === 127) {
      const high = this.header.readUInt32BE(2);
      if (high > 0x1fffff) return this.fail(1009, 'frame length beyond 2^53');
      length = high * 2 ** 32 + this.header.readUInt32BE(6);
    }
    if (opcode >= OPCODE_CLOSE) {
      if (!fin || length > 125 || opcode > 0xa) return this.fail(1002, `invalid control frame (opcode ${opcode}, length ${length})`);
      this.controlBytes = 0;
    } else if (opcode === OPCODE_CONTINUATION) {
      if (this.message === null) return this.fail(1002, 'continuation frame without a message');
      if (this.messageBytes + length > this.maxPayloadBytes) return this.fail(1009, 'message larger than maxPayload');
      this.grow(this.messageBytes + length);
    } else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      if (this.message !== null) return this.fail(1002, 'new message before the last one finished');
      if (length > this.maxPayloadBytes) return this.fail(1009, 'message larger than maxPayload');
      // A single-frame message gets a buffer of its size; a fragmented one grows as it comes.
      this.message = this.acquire(fin ? length : Math.max(length, MESSAGE_GRANULE_BYTES));
      this.messageBytes = 0;
      this.messageBinary = opcode === OPCODE_BINARY;
    } else {
      return this.fail(1002, `unknown opcode ${opcode}`);
    }
    this.frameFin = fin;
    this.frameOpcode = opcode;
    this.payloadLeft = length;
    this.inPayload = true;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    this.inPayload = false;
    if (this.frameOpcode >= OPCODE_CLOSE) {
      this.onControl();
      return;
    }
    if (!this.frameFin) return;
    const message = this.message!.subarray(0, this.messageBytes);
    this.lent.push(this.message!);
    this.message = null;
    if (this.sink !== null) this.sink(message, this.messageBinary);
    else this.early.push({ message, isBinary: this.messageBinary });
  }

  private onControl(): void {
    const payload = this.control.subarray(0, this.controlBytes);
    if (this.frameOpcode === OPCODE_PING) {
      this.websocket?.pong(Buffer.from(payload));
      return;
    }
    if (this.frameOpcode !== OPCODE_CLOSE) return; // pong
    const code = payload.byteLength >= 2 ? payload.readUInt16BE(0) : 1005;
    const reason = payload.subarray(2).toString('utf8');
    this.closeInfo ??= { code, reason, byPeer: true };
    this.failed = true;
    // Answer the close and end the connection (ws never saw the peer's close frame).
    try {
      this.websocket?.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // An invalid code from the peer: just end.
    }
    setImmediate(() => this.socket?.end());
  }

  private fail(code: number, reason: string): void {
    this.failed = true;
    this.closeInfo ??= { code, reason: `refused the peer's frames: ${reason}`, byPeer: false };
    this.websocket?.close(code, reason.slice(0, 123));
    setImmediate(() => this.socket?.destroy());
  }

  private acquire(byteLength: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i -= 1) {
      const buf = this.free[i]!;
      if (buf.byteLength >= byteLength) {
        this.free[i] = this.free[this.free.length - 1]!;
        this.free.pop();
        return buf;
      }
    }
    const size = Math.max(MESSAGE_GRANULE_BYTES, Math.ceil(byteLength / MESSAGE_GRANULE_BYTES) * MESSAGE_GRANULE_BYTES);
    return Buffer.alloc(size);
  }

  /** Makes the message in progress hold at least `byteLength` bytes (fragmented messages only). */
  private grow(byteLength: number): void {
    const current = this.message!;
    if (current.byteLength >= byteLength) return;
    const bigger = this.acquire(Math.max(byteLength, current.byteLength * 2));
    bigger.set(current.subarray(0, this.messageBytes), 0);
    this.free.push(current);
    this.message = bigger;
  }
}
