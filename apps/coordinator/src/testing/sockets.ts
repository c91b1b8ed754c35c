// Test helpers: fake workers over real WebSockets on 127.0.0.1 (challenge, hello with a real HMAC
// proof, then raw frames).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { createNonce, decodeMessage, encodeMessage, helloProof, PROTOCOL_VERSION, type Hello, type Message } from '@gnet/protocol';

/** A hello before its nonce and proof, plus the secret the fake worker proves (the tests' coordinators use 'tok'). */
export type HelloDraft = Omit<Hello, 'nonce' | 'proof'> & { secret: string };

export function hello(workerId: string, overrides: Partial<HelloDraft> = {}): HelloDraft {
  return {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    secret: 'tok',
    workerId,
    backend: 'cpu',
    device: 'test',
    peer: { host: '127.0.0.1', port: 1, tls: false },
    ...overrides,
  };
}

/** A fake worker: connected socket and the messages it received after the challenge. */
export interface FakeWorker {
  socket: WebSocket;
  /** The coordinator's challenge nonce and ours, for checking `welcome.serverProof`. */
  nonces: { serverNonce: Uint8Array; clientNonce: Uint8Array };
  received: Message[];
  closed: Promise<{ code: number; reason: string }>;
  /** The next message received (or already received and not yet taken). */
  next(): Promise<Message>;
}

/**
 * Connects, waits for the `challenge`, then sends `first`: a hello (its proof computed with the
 * draft's secret), raw bytes, or nothing (null: a client that never says hello). `ca` trusts a
 * wss:// coordinator's certificate; `onMessage` sees every message after the challenge as it
 * arrives, in order (a scripted worker answers from it: scripted_worker.ts).
 */
export async function fakeWorker(
  url: string,
  first: HelloDraft | Uint8Array | null,
  options: { ca?: string; onMessage?: (message: Message) => void } = {},
): Promise<FakeWorker> {
  const socket = new WebSocket(url, { perMessageDeflate: false, ...(options.ca === undefined ? {} : { ca: options.ca }) });
  const received: Message[] = [];
  let taken = 0;
  const waiters: ((m: Message) => void)[] = [];
  let onChallenge!: (nonce: Uint8Array) => void;
  const challenged = new Promise<Uint8Array>((resolve) => (onChallenge = resolve));
  let challengeSeen = false;
  socket.on('message', (data: Buffer) => {
    const message = decodeMessage(data);
    if (!challengeSeen && message.type === 'challenge') {
      challengeSeen = true;
      onChallenge(Uint8Array.from(message.nonce));
      return;
    }
    received.push(message);
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(received[taken++]!);
    options.onMessage?.(message);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const serverNonce = await challenged;
  const clientNonce = createNonce();
  if (first instanceof Uint8Array) socket.send(first);
  else if (first !== null) {
    const { secret, ...fields } = first;
    const nonces = { serverNonce, clientNonce };
    socket.send(encodeMessage({ ...fields, nonce: clientNonce, proof: helloProof(secret, nonces, fields.workerId) }));
  }
  return {
    socket,
    nonces: { serverNonce, clientNonce },
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
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, stream), lines };
}
