// A WebSocket server over plain HTTP (`ws://`) or, given a certificate and key, HTTPS (`wss://`,
// ws's `WebSocketServer({ server })` on a Node https server, as the ws README shows): the
// coordinator's rendezvous and each worker's peer listener.
import { createServer, type Server } from 'node:https';
import { WebSocketServer } from 'ws';

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
}

/** A listening WebSocket server. */
export interface WsServer {
  readonly server: WebSocketServer;
  /** The bound port (the real one when asked for 0). */
  readonly port: number;
  /** `ws://host:port` or `wss://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Stops accepting connections; open ones stay open (their owners close them). */
  close(): void;
}

/** `ws://host:port` / `wss://host:port`, bracketing an IPv6 host. */
export function wsUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Starts a WebSocket server; resolves once the port is bound, rejects if it cannot be. */
export async function listenWsServer(options: WsServerOptions): Promise<WsServer> {
  const { host, port, maxPayloadBytes, tls } = options;
  let https: Server | null = null;
  let server: WebSocketServer;
  if (tls === null) {
    server = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: maxPayloadBytes, skipUTF8Validation: true });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } else {
    const secure = createServer({ cert: tls.cert, key: tls.key });
    https = secure;
    server = new WebSocketServer({ server: secure, perMessageDeflate: false, maxPayload: maxPayloadBytes, skipUTF8Validation: true });
    await new Promise<void>((resolve, reject) => {
      secure.once('listening', resolve);
      secure.once('error', reject);
      secure.listen(port, host);
    });
  }
  const address = (https ?? server).address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    port: bound,
    url: wsUrl(host, bound, tls !== null),
    close: () => {
      server.close();
      // Stops accepting; connections already upgraded live on with their owners.
      https?.close();
    },
  };
}
