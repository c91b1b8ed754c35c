// Admission control for a server that faces a network, before its peers authenticate (nginx's
// `limit_conn`, sshd's `MaxStartups`, ws's advice to bound what a server holds): a cap on
// connections not yet authenticated per remote address and in total, checked at the raw TCP
// 'connection' event so a refused socket is reset at once (no TLS, no HTTP upgrade, no 30 s
// close handshake), a deadline for the first byte, and one for the whole pre-auth phase (TLS,
// HTTP upgrade and the protocol's hello). Authenticated connections stop counting. Without it,
// 1,100 silent connections exhausted the coordinator's file descriptors and ended the run
// (issue 10); with it, what a flood can hold is bounded by `maxTotal` sockets for
// `handshakeTimeoutMs` each, whatever the file-descriptor limit.
import { isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import { CollectiveConfigError } from './errors.js';
import { RefusalLog, type RefusalLogger, type RefusalLogOptions } from './refusal_log.js';

/** Bounds on connections that have not authenticated yet. */
export interface PreauthLimits {
  /** Most pending connections from one address (an IPv6 address counts by its /64). */
  maxPerAddress: number;
  /** Most pending connections in all. */
  maxTotal: number;
  /** A connection that has sent no byte this long after it was accepted is dropped, in milliseconds. */
  firstByteTimeoutMs: number;
  /** A connection not authenticated this long after it was accepted is dropped, in milliseconds. */
  handshakeTimeoutMs: number;
}

/**
 * Defaults. 64 per address: every worker behind one address (one host, or a NAT) may dial at
 * once after a coordinator restart, and honest ones retry a refused dial. 128 in all: with the
 * sockets of the run itself, well under the 1,024 descriptors a default `ulimit -n` gives. 5 s
 * for the first byte: an honest client writes its TLS hello or HTTP upgrade at once. 15 s for
 * the whole handshake: longer than the protocol's own hello deadline (10 s from the upgrade), so
 * a connection that upgraded and went silent is told `PROTO_HANDSHAKE_TIMEOUT` first; this one
 * is the backstop for a TLS handshake or HTTP request dribbled byte by byte.
 */
export const DEFAULT_PREAUTH_LIMITS: Readonly<PreauthLimits> = Object.freeze({
  maxPerAddress: 64,
  maxTotal: 128,
  firstByteTimeoutMs: 5_000,
  handshakeTimeoutMs: 15_000,
});

/**
 * Why the guard dropped a connection (the `code` of its log lines; nothing is sent: the socket
 * is reset). Protocol refusals, which do send a message, keep their `PROTO_*` codes.
 */
export type AdmissionRefusal = 'ADDRESS_LIMIT' | 'TOTAL_LIMIT' | 'FIRST_BYTE_TIMEOUT' | 'PREAUTH_TIMEOUT';

/** Options of {@link PreauthGuard}. */
export interface PreauthGuardOptions {
  /** Overrides of {@link DEFAULT_PREAUTH_LIMITS}. */
  limits?: Partial<PreauthLimits>;
  /** Where refusals are logged (rate-limited, see {@link RefusalLog}); null: nowhere. */
  log?: RefusalLogger | null;
  refusalLog?: RefusalLogOptions;
}

/** The part of a socket that identifies its connection: a TLS socket and the TCP socket beneath it agree on it. */
export type ConnectionEnds = Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>;

interface Pending {
  socket: Socket;
  key: string;
  /** What counts against `maxPerAddress`: the address, or an IPv6 address's /64. */
  group: string;
  timers: NodeJS.Timeout[];
}

/**
 * The admission guard of one listening server; see the file header.
 *
 * @example
 * const guard = new PreauthGuard({ log });
 * guard.attach(httpServer);                  // before the server's own 'connection' listeners
 * // ...once the peer proved the secret:
 * guard.release(request.socket);
 */
export class PreauthGuard {
  readonly limits: Readonly<PreauthLimits>;
  /** The server's refusal log; owners record their own protocol refusals here too, so one summary covers all. */
  readonly refusals: RefusalLog;
  /** Pending connections by {@link connectionKey}. */
  private readonly pending = new Map<string, Pending>();
  private readonly perGroup = new Map<string, number>();

  constructor(options: PreauthGuardOptions = {}) {
    const limits = { ...DEFAULT_PREAUTH_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new CollectiveConfigError(`PreauthGuard \`${name}\` must be a positive integer, but got ${value}`);
      }
    }
    this.limits = Object.freeze(limits);
    this.refusals = new RefusalLog(options.log ?? null, options.refusalLog);
  }

  /** Connections accepted and not yet released or closed. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Pending connections that count against `remote`'s per-address cap. */
  pendingFrom(remote: string): number {
    return this.perGroup.get(addressGroup(remote)) ?? 0;
  }

  /** Guards every connection `server` accepts: our listener runs before the server's own, so a refused socket never reaches TLS or HTTP. */
  attach(server: Server): void {
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
  }

  /** Counts `socket` as pending and starts its deadlines, or resets it; true when admitted. */
  admit(socket: Socket): boolean {
    const remote = socket.remoteAddress;
    if (remote === undefined || socket.destroyed) {
      // Reset by the peer before we saw it: nothing to hold.
      socket.destroy();
      return false;
    }
    const group = addressGroup(remote);
    const fromGroup = this.perGroup.get(group) ?? 0;
    if (fromGroup >= this.limits.maxPerAddress) {
      this.refuse(socket, 'ADDRESS_LIMIT', group, { pendingFromAddress: fromGroup, maxPerAddress: this.limits.maxPerAddress });
      return false;
    }
    if (this.pending.size >= this.limits.maxTotal) {
      this.refuse(socket, 'TOTAL_LIMIT', group, { pending: this.pending.size, maxTotal: this.limits.maxTotal });
      return false;
    }
    const entry: Pending = { socket, key: connectionKey(socket), group, timers: [] };
    this.pending.set(entry.key, entry);
    this.perGroup.set(group, fromGroup + 1);
    const { firstByteTimeoutMs, handshakeTimeoutMs } = this.limits;
    entry.timers.push(
      // bytesRead counts at the handle, so it also sees bytes the HTTP parser or TLS read directly.
      setTimeout(() => {
        if (socket.bytesRead === 0) this.expire(entry, 'FIRST_BYTE_TIMEOUT', { firstByteTimeoutMs });
      }, firstByteTimeoutMs),
      setTimeout(() => this.expire(entry, 'PREAUTH_TIMEOUT', { handshakeTimeoutMs, bytesRead: socket.bytesRead }), handshakeTimeoutMs),
    );
    // The socket keeps the process alive while it is open; its deadlines alone should not.
    for (const timer of entry.timers) timer.unref();
    socket.once('close', () => this.forget(entry));
    return true;
  }

  /**
   * The connection proved itself: it stops counting against the caps and its deadlines end.
   * `socket` may be the TCP socket or a TLS socket over it. False if it was not pending.
   */
  release(socket: ConnectionEnds): boolean {
    const entry = this.pending.get(connectionKey(socket));
    if (entry === undefined) return false;
    this.forget(entry);
    return true;
  }

  /** Resets every pending connection (the server is closing) and logs what the refusal log still counts. */
  close(): void {
    for (const entry of [...this.pending.values()]) {
      this.forget(entry);
      resetSocket(entry.socket);
    }
    this.refusals.close();
  }

  private expire(entry: Pending, code: AdmissionRefusal, fields: Record<string, unknown>): void {
    if (this.pending.get(entry.key) !== entry) return;
    this.forget(entry);
    this.refuse(entry.socket, code, entry.group, fields);
  }

  private refuse(socket: Socket, code: AdmissionRefusal, group: string, fields: Record<string, unknown>): void {
    resetSocket(socket);
    this.refusals.record(code, group, 'connection refused before authentication', fields);
  }

  private forget(entry: Pending): void {
    for (const timer of entry.timers) clearTimeout(timer);
    if (this.pending.get(entry.key) !== entry) return;
    this.pending.delete(entry.key);
    const left = (this.perGroup.get(entry.group) ?? 1) - 1;
    if (left === 0) this.perGroup.delete(entry.group);
    else this.perGroup.set(entry.group, left);
  }
}

/**
 * A TCP connection's identity, its four ends. `remoteAddress` and friends read the live socket,
 * so this is taken while it is open.
 */
function connectionKey(socket: ConnectionEnds): string {
  return `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? '?'}|${socket.localAddress ?? '?'}|${socket.localPort ?? '?'}`;
}

/**
 * Drops a connection with a TCP reset: nothing more is sent or read, and the descriptor is free
 * at once (a FIN would leave the socket in the kernel's close handshake).
 */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (a pipe, in tests): a plain destroy.
    socket.destroy();
  }
}

/**
 * What counts against the per-address cap: an IPv4 address (also when written IPv4-mapped,
 * `::ffff:10.0.0.7`), or an IPv6 address's /64, the block one host is usually given (counting
 * single IPv6 addresses would let one host open a cap's worth from each of its 2^64).
 */
export function addressGroup(remote: string): string {
  if (isIPv4(remote)) return remote;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped !== null && isIPv4(mapped[1]!)) return mapped[1]!;
  const address = remote.split('%')[0]!;
  if (!isIPv6(address)) return remote;
  const [head = '', tail] = address.split('::');
  const headParts = head === '' ? [] : head.split(':');
  // An embedded IPv4 tail (`64:ff9b::1.2.3.4`) stands for two hextets.
  const tailParts = (tail === undefined || tail === '' ? [] : tail.split(':')).flatMap((p) => (p.includes('.') ? ['0', '0'] : [p]));
  const hextets = [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts];
  return `${hextets
    .slice(0, 4)
    .map((h) => parseInt(h, 16).toString(16))
    .join(':')}::/64`;
}
