// Frames that arrive on an authenticated socket while nobody reads it yet: between the handshake
// and the hand-over to a reader (a WsTransport, a ControlChannel), or between two generations of
// the coordinator's group. They are kept in arrival order and handed over in the tick the next
// reader starts, so none is lost or reordered (ws emits no message while that tick runs).
import type WebSocket from 'ws';

/**
 * Starts keeping every message `socket` receives; the returned `take` stops keeping them and
 * returns those kept so far, oldest first. Call `take` in the same tick as attaching the next reader.
 *
 * @example
 * const takeEarlyFrames = holdFrames(socket);
 * // ... later, in one tick:
 * transport.attach(rank, socket, 'accepted', takeEarlyFrames());
 */
export function holdFrames(socket: WebSocket): () => Uint8Array[] {
  const held: Uint8Array[] = [];
  const onMessage = (data: WebSocket.RawData): void => {
    held.push(data as Buffer);
  };
  socket.on('message', onMessage);
  return () => {
    socket.off('message', onMessage);
    return held.splice(0);
  };
}
