// Closing a WebSocket with a bounded wait: ws alone waits up to 30 s for a peer that never answers
// our close frame (its close timeout), so every close we await is cut after `timeoutMs`. Shared by
// the WsTransport and the ControlChannel, the two owners of a socket.
import type WebSocket from 'ws';

/** Closes `socket` with `code`, waiting at most `timeoutMs` for the peer's close frame before cutting it. */
export function closeSocket(socket: WebSocket, code: number, reason: string, timeoutMs: number): Promise<void> {
  if (socket.readyState === socket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      socket.close(code, reason.slice(0, 123));
    } catch {
      // An invalid close code from a caller: cut the connection instead of leaving it open.
      socket.terminate();
    }
  });
}
