// One hostile connection of the live socket fuzz: open a WebSocket to the coordinator, send the
// plan's frames (at once, or after the server's `challenge`), read every frame the server sends
// until it closes, and report the `reject` and the close code. Also a raw TCP connection that
// never speaks WebSocket. Every wait is bounded.
import { connect } from 'node:net';
import WebSocket from 'ws';
import { decodeMessage } from '@gnet/protocol';
import type { FuzzPlan } from './fuzz_first_frames.js';

/** How one fuzz connection ended. */
export interface ConnectionOutcome {
  kind: string;
  /** The server's `reject`, if it sent one. */
  reject: { code: string; message: string } | null;
  /** Close code the server sent (1005: none given, 1006: no close frame at all). */
  closeCode: number | null;
  /** Why the connection broke the rules, or null. */
  failure: string | null;
}

/** Runs `plan` against `url`; never rejects, the outcome names any failure. */
export function fuzzConnection(url: string, plan: FuzzPlan, timeoutMs: number): Promise<ConnectionOutcome> {
  return new Promise((resolve) => {
    const outcome: ConnectionOutcome = { kind: plan.kind, reject: null, closeCode: null, failure: null };
    const fail = (why: string): void => {
      outcome.failure ??= why;
    };
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, maxPayload: 1024 * 1024 });
    let sent = false;
    const send = (): void => {
      if (sent || ws.readyState !== WebSocket.OPEN) return;
      sent = true;
      // Send errors (the server closed first, e.g. on an oversized frame) are expected: the close tells.
      for (const frame of plan.frames) ws.send(frame.data, { binary: frame.binary }, () => undefined);
    };
    const timer = setTimeout(() => {
      fail(`no close within ${timeoutMs} ms`);
      ws.terminate();
    }, timeoutMs);
    ws.on('open', () => {
      if (!plan.afterChallenge) send();
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      let type: string;
      let message: Record<string, unknown>;
      try {
        message = decodeMessage(data as Buffer) as unknown as Record<string, unknown>;
        type = message['type'] as string;
      } catch (err) {
        fail(`server sent an undecodable ${isBinary ? 'binary' : 'text'} frame: ${String(err)}`);
        return;
      }
      if (type === 'challenge' && outcome.reject === null) {
        send();
      } else if (type === 'reject') {
        outcome.reject = { code: message['code'] as string, message: message['message'] as string };
      } else {
        fail(`server sent '${type}' to a fuzz connection (accepted it?)`);
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      fail(`upgrade refused with HTTP ${res.statusCode ?? '?'}`);
      ws.terminate();
    });
    // A reset after the server's close frame is fine; without a close frame `close` reports 1006.
    ws.on('error', () => undefined);
    ws.on('close', (code: number) => {
      clearTimeout(timer);
      outcome.closeCode = code;
      resolve(outcome);
    });
  });
}

/**
 * A raw TCP connection that sends `bytes` (not a WebSocket upgrade) and waits for the server to
 * close it; `failure` is set if it stays open past `timeoutMs`.
 */
export function rawTcpConnection(port: number, bytes: Uint8Array, timeoutMs: number): Promise<ConnectionOutcome> {
  return new Promise((resolve) => {
    const outcome: ConnectionOutcome = { kind: 'raw TCP', reject: null, closeCode: null, failure: null };
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.end(bytes);
    });
    const timer = setTimeout(() => {
      outcome.failure = `server kept a non-WebSocket connection open for ${timeoutMs} ms`;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', () => undefined);
    socket.on('error', (err) => {
      // ECONNRESET after the server answered 400 is fine; a refused connection means it stopped listening.
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') outcome.failure = 'connection refused: the coordinator stopped listening';
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}
