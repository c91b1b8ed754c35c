// Test harness over real sockets on 127.0.0.1: a ring of WsTransports (each rank with its own
// listener, dialing its right neighbour) or a star (workers dialing a hub's listener).
import { connectRing, connectStarWorker, acceptStarWorkers } from '../ws_connect.js';
import { WsPeerListener } from '../ws_peer_listener.js';
import type { TlsCredentials } from '../ws_server.js';
import type { WsTransport } from '../ws_transport.js';

export interface WsGroup {
  transports: WsTransport[];
  close(): Promise<void>;
}

/**
 * `worldSize` ranks connected in a ring (run `ring-test`, generation 0), authenticated with
 * `token`; with `tls`, every listener serves `wss://` with that certificate, which dialers trust;
 * `fastReceive` false reads dialed sockets through ws instead of a WsFrameReader.
 */
export async function wsRing(worldSize: number, token = 'secret', tls: TlsCredentials | null = null, fastReceive = true): Promise<WsGroup> {
  const listeners = await Promise.all(Array.from({ length: worldSize }, () => WsPeerListener.listen({ token, tls })));
  const peers = listeners.map((l, rank) => ({ rank, url: l.url }));
  const transports = await Promise.all(
    listeners.map((listener, rank) =>
      connectRing({
        listener,
        rank,
        worldSize,
        runId: 'ring-test',
        generation: 0,
        peers,
        token,
        ca: tls?.cert ?? null,
        timeoutMs: 5000,
        fastReceive,
      }),
    ),
  );
  return {
    transports,
    close: async () => {
      await Promise.all(transports.map((t) => t.close()));
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}

/** A hub and `worldSize` workers; `transports[worldSize]` is the hub's. */
export async function wsStar(worldSize: number, zeroMask = false): Promise<WsGroup> {
  const listener = await WsPeerListener.listen();
  const [hub, ...workers] = await Promise.all([
    acceptStarWorkers({ listener, worldSize, runId: 'star-test', generation: 0, timeoutMs: 5000 }),
    ...Array.from({ length: worldSize }, (_, rank) =>
      connectStarWorker({ url: listener.url, rank, worldSize, runId: 'star-test', generation: 0, timeoutMs: 5000, zeroMask }),
    ),
  ]);
  const transports = [...workers, hub];
  return {
    transports,
    close: async () => {
      await Promise.all(transports.map((t) => t.close()));
      await listener.close();
    },
  };
}
