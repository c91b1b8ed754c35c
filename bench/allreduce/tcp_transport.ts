// A raw-TCP Transport for the all-reduce benchmark's baseline: 4-byte little-endian length
// prefix plus payload over `net`, no WebSocket framing or masking. Receives through net's
// `onread` option into one reused read buffer, reassembling messages into recycled message
// buffers, so the steady state allocates nothing; sends resolve on the socket's write callback,
// like WsTransport. `onread` exists only for sockets we dial, so a rank receives on the
// connection it dialed and sends on the one it accepted (the ring's direction, r → r - 1).
import net from 'node:net';
import { FrameInbox, PeerLostError, TransportClosedError, boundedWait, type Transport, type WaitOptions } from '@gnet/collective';

/** Bytes of the buffer each read lands in. */
const READ_BUFFER_BYTES = 256 * 1024;

interface Receiver {
  inbox: FrameInbox;
  /** Message buffers not in use. */
  free: Buffer[];
  /** The frame last handed out by `recv`: free again at the next `recv`. */
  lent: Buffer | null;
}

/** Raw-TCP channels to ring neighbours: send sockets and receive sockets kept apart. */
export class TcpTransport implements Transport {
  private readonly senders = new Map<number, net.Socket>();
  private readonly receivers = new Map<number, Receiver>();
  private closed = false;

  constructor(
    readonly rank: number,
    private readonly maxFrameBytes: number,
  ) {}

  /** Uses `socket` (one we accepted) to send to `peerRank`. */
  attachSender(peerRank: number, socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.senders.set(peerRank, socket);
  }

  /** Dials `port` on 127.0.0.1 to receive from `peerRank`; resolves once connected. */
  dialReceiver(peerRank: number, port: number, greeting: Uint8Array): Promise<void> {
    const inbox = new FrameInbox(peerRank);
    const receiver: Receiver = { inbox, free: [], lent: null };
    this.receivers.set(peerRank, receiver);
    const header = Buffer.alloc(4);
    let headerBytes = 0;
    let message: Buffer | null = null;
    let messageBytes = 0;
    let filled = 0;
    const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
    const onData = (nread: number, buf: Uint8Array): boolean => {
      let at = 0;
      while (at < nread) {
        if (message === null) {
          const take = Math.min(4 - headerBytes, nread - at);
          header.set(buf.subarray(at, at + take), headerBytes);
          headerBytes += take;
          at += take;
          if (headerBytes < 4) break;
          headerBytes = 0;
          messageBytes = header.readUInt32LE(0);
          message = receiver.free.pop() ?? Buffer.alloc(this.maxFrameBytes).fill(0);
          filled = 0;
        }
        const take = Math.min(messageBytes - filled, nread - at);
        message.set(buf.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === messageBytes) {
          inbox.push(message.subarray(0, messageBytes));
          message = null;
        }
      }
      return true;
    };
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, onread: { buffer: readBuffer, callback: onData } });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.write(greeting);
        resolve();
      });
      socket.once('error', reject);
      socket.on('close', () => inbox.fail((site) => new PeerLostError(site, 'connection closed')));
      this.senders.set(-1 - peerRank, socket); // kept only to close it
    });
  }

  send(peerRank: number, frames: Uint8Array | readonly Uint8Array[], options: WaitOptions): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError('closed'));
    const socket = this.senders.get(peerRank)!;
    const parts = frames instanceof Uint8Array ? [frames] : frames;
    let length = 0;
    for (const part of parts) length += part.byteLength;
    const prefix = Buffer.allocUnsafe(4); // from Node's small-buffer pool, not a fresh page
    prefix.writeUInt32LE(length, 0);
    return boundedWait<void>(peerRank, options, (settle) => {
      socket.cork();
      socket.write(prefix);
      parts.forEach((part, i) => {
        socket.write(part, i === parts.length - 1 ? (err) => (err ? settle.reject(err) : settle.resolve()) : undefined);
      });
      socket.uncork();
    });
  }

  async recv(peerRank: number, options: WaitOptions): Promise<Uint8Array> {
    const receiver = this.receivers.get(peerRank)!;
    if (receiver.lent !== null) {
      receiver.free.push(receiver.lent);
      receiver.lent = null;
    }
    const frame = await receiver.inbox.take(options);
    receiver.lent = Buffer.from(frame.buffer, frame.byteOffset, this.maxFrameBytes);
    return frame;
  }

  close(): Promise<void> {
    this.closed = true;
    for (const socket of this.senders.values()) socket.destroy();
    return Promise.resolve();
  }
}
