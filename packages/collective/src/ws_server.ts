// A WebSocket server over plain HTTP (`ws://`) or, given a certificate and key, HTTPS (`wss://`,
// ws's `WebSocketServer({ server })` on a Node server of ours, as the ws README shows): the
// coordinator's rendezvous and each worker's peer listener. Every connection passes a
// PreauthGuard first (caps and deadlines before authentication); the owner releases it once the
// peer proved the shared secret.
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { PreauthGuard } from './preauth_guard.js';

/** PEM certificate (chain) and private key a server presents for `wss://`. */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

/** Options of {@link listenWsServer}. */
export interface WsServerOptions {
  host: string;
  /** 0: the OS picks a free port. */
  port: number;
  /** Largest message ws accepts (its `maxPayload`), in bytes. */
  maxPayloadBytes: number;
  /** Serve `wss://` with these; null: plain `ws://`. */
  tls: TlsCredentials | null;
  /** Admission before authentication; default a guard with DEFAULT_PREAUTH_LIMITS that logs nowhere. */
  guard?: PreauthGuard;
}

/** A listening WebSocket server. */
export interface WsServer {
  readonly server: WebSocketServer;
  /** Counts each connection until its owner calls `guard.release(request.socket)`. */
  readonly guard: PreauthGuard;
  /** The bound port (the real one when asked for 0). */
  readonly port: number;
  /** `ws://host:port` or `wss://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Stops accepting connections and resets those not yet authenticated; authenticated ones stay open (their owners close them). */
  close(): void;
}

/** `ws://host:port` / `wss://host:port`, bracketing an IPv6 host. */
export function wsUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A plain request (no upgrade) is told to upgrade, as ws's own server does, and the connection ends. */
function upgradeRequired(_req: IncomingMessage, res: ServerResponse): void {
  const body = STATUS_CODES[426]!;
  res.writeHead(426, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}

/** Starts a WebSocket server; resolves once the port is bound, rejects if it cannot be. */
export async function listenWsServer(options: WsServerOptions): Promise<WsServer> {
  const { host, port, maxPayloadBytes, tls } = options;
  const guard = options.guard ?? new PreauthGuard();
  // Our own HTTP(S) server in both cases (ws would create a plain one itself), so the guard sees
  // each TCP connection before TLS or HTTP does.
  const http: Server =
    tls === null ? createHttpServer(upgradeRequired) : createHttpsServer({ cert: tls.cert, key: tls.key }, upgradeRequired);
  guard.attach(http);
  const server = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: maxPayloadBytes, skipUTF8Validation: true });
  await new Promise<void>((resolve, reject) => {
    // ws re-emits the HTTP server's 'listening' and 'error'.
    server.once('listening', resolve);
    server.once('error', reject);
    http.listen(port, host);
  });
  const address = http.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    guard,
    port: bound,
    url: wsUrl(host, bound, tls !== null),
    close: () => {
      server.close();
      // Stops accepting; connections already upgraded live on with their owners.
      http.close();
      guard.close();
    },
  };
}
