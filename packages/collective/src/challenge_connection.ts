// The server side of every handshake (packages/protocol/README.md, steps 1 and 7), shared by the
// coordinator's rendezvous and the workers' peer listeners: send `challenge` with a fresh nonce,
// then wait for the client's first message under a deadline and a byte budget. Nothing the
// client sends is read as anything but that first frame until the caller has checked it.
import type { Duplex } from 'node:stream';
import { createNonce, encodeMessage, errorMessageFor, HANDSHAKE_MAX_FRAME_BYTES, ProtocolError } from '@gnet/protocol';
import type WebSocket from 'ws';

/** Largest WebSocket frame header (2 + 8 length + 4 mask bytes, RFC 6455 §5.2). */
const MAX_FRAME_HEADER_BYTES = 14;

/**
 * How long a refused connection has to read our refusal and answer our close frame before it is
 * dropped, in milliseconds: plenty for an honest peer, and ws alone would wait 30 s for a silent
 * one (its close timeout), holding a socket a flood can multiply.
 */
export const REFUSAL_GRACE_MS = 1000;

/**
 * Sends `frame` (a `reject` or `error` message), starts the close handshake with `closeCode` and
 * `reason`, and terminates the connection {@link REFUSAL_GRACE_MS} later unless the peer has closed
 * it by then. Does nothing on a socket no longer open.
 */
export function sendRefusal(socket: WebSocket, frame: Uint8Array, closeCode: number, reason: string): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(frame, { binary: true }, () => undefined);
  socket.close(closeCode, reason);
  const timer = setTimeout(() => socket.terminate(), REFUSAL_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * The answer to a peer that broke the protocol: `error` naming `err`'s code, then the close with
 * the code's close code, cut after {@link REFUSAL_GRACE_MS} (see {@link sendRefusal}). Every
 * endpoint (coordinator, worker link, peer listener, ring dialer) answers a bad frame this way.
 */
export function refuseProtocolError(socket: WebSocket, err: ProtocolError): void {
  sendRefusal(socket, encodeMessage(errorMessageFor(err)), err.closeCode, err.code);
}

/** Options of {@link challengeConnection}. */
export interface ChallengeOptions {
  /** The message expected first (`hello`, `peerHello`), for error messages. */
  expected: string;
  /** The handshake deadline: how long the client may take to send its first message, in milliseconds. */
  timeoutMs: number;
  /**
   * Called once with the first complete message and this connection's challenge nonce. Runs in
   * the tick the frame arrived, so a caller that attaches its own `message` listener here misses
   * nothing that follows.
   */
  onFirstFrame(frame: Uint8Array, serverNonce: Uint8Array): void;
  /**
   * Called once, instead of `onFirstFrame`, when the deadline passes (`PROTO_HANDSHAKE_TIMEOUT`)
   * or more than `HANDSHAKE_MAX_FRAME_BYTES` arrive before the first message is complete
   * (`PROTO_FRAME_TOO_LARGE`, counted on the socket as the bytes come, so an oversized frame is
   * never buffered whole). The caller sends its refusal and closes (see {@link sendRefusal}).
   */
  onRefused(err: ProtocolError): void;
}

/**
 * Sends `challenge` on a freshly accepted WebSocket and watches for the first message.
 * `raw` is the underlying (TCP or TLS) socket, `request.socket` of ws's `connection` event.
 */
export function challengeConnection(socket: WebSocket, raw: Duplex, options: ChallengeOptions): void {
  const { expected, timeoutMs } = options;
  const serverNonce = createNonce();
  const byteLimit = HANDSHAKE_MAX_FRAME_BYTES + MAX_FRAME_HEADER_BYTES;
  let received = 0;
  let settled = false;
  const settle = (): void => {
    settled = true;
    clearTimeout(timer);
    raw.off('data', count);
    socket.off('message', onMessage);
  };
  const refuse = (err: ProtocolError): void => {
    if (settled) return;
    settle();
    options.onRefused(err);
  };
  // ws reads the socket through its own 'data' listener, added before ours: a chunk that
  // completes the first message settles us before we count it.
  const count = (chunk: Buffer): void => {
    if (settled) return;
    received += chunk.byteLength;
    if (received <= byteLimit) return;
    // Stop reading at once (ws would buffer the frame up to its maxPayload), refuse, and end the
    // connection shortly after the refusal went out: the client may still be sending.
    raw.pause();
    refuse(
      new ProtocolError(
        'PROTO_FRAME_TOO_LARGE',
        `More than ${byteLimit} bytes arrived before the first message was complete; a ${expected} must fit in ${HANDSHAKE_MAX_FRAME_BYTES} bytes`,
      ),
    );
    setTimeout(() => socket.terminate(), 200).unref();
  };
  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (settled) return;
    // Our protocol is binary only: a text frame is malformed whatever it says (the servers skip
    // ws's UTF-8 check, so invalid UTF-8 is refused here with our code too, not with ws's 1007).
    if (!isBinary) {
      refuse(new ProtocolError('PROTO_MALFORMED', `The first message must be a binary ${expected} frame, but came as a text frame`));
      return;
    }
    settle();
    options.onFirstFrame(data as Buffer, serverNonce);
  };
  const timer = setTimeout(
    () => refuse(new ProtocolError('PROTO_HANDSHAKE_TIMEOUT', `No ${expected} within ${timeoutMs} ms of connecting`)),
    timeoutMs,
  );
  // The open socket keeps the process alive while it matters; the deadline alone should not.
  timer.unref();
  socket.once('close', () => {
    if (!settled) settle();
  });
  raw.on('data', count);
  socket.on('message', onMessage);
  socket.send(encodeMessage({ type: 'challenge', nonce: serverNonce }), { binary: true }, () => undefined);
}
