// Test helpers: fake workers over real WebSockets on 127.0.0.1 (hello, then raw frames).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Hello, type Message } from '@gnet/protocol';

export function hello(workerId: string, overrides: Partial<Hello> = {}): Hello {
  return { type: 'hello', protocolVersion: PROTOCOL_VERSION, token: 'tok', workerId, backend: 'cpu', device: 'test', peer: { host: '127.0.0.1', port: 1 }, ...overrides };
}

/** A fake worker: connected socket and the messages it received. */
export interface FakeWorker {
  socket: WebSocket;
  received: Message[];
  closed: Promise<{ code: number; reason: string }>;
  /** The next message received (or already received and not yet taken). */
  next(): Promise<Message>;
}

export async function fakeWorker(url: string, first: Hello | Uint8Array): Promise<FakeWorker> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const received: Message[] = [];
  let taken = 0;
  const waiters: ((m: Message) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    received.push(decodeMessage(data));
    const w = waiters.shift();
    if (w !== undefined) w(received[taken++]!);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.send(first instanceof Uint8Array ? first : encodeMessage(first));
  return {
    socket,
    received,
    closed,
    next: () => (taken < received.length ? Promise.resolve(received[taken++]!) : new Promise((resolve) => waiters.push(resolve))),
  };
}

/** A logger whose lines land in `lines` (parsed). */
export function capturingLogger(level = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, stream), lines };
}
