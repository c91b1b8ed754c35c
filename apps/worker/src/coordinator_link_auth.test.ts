// The worker's side of authentication and TLS over real sockets on 127.0.0.1, against a fake
// coordinator that speaks the real handshake (challenge, hello proof checked, welcome with
// serverProof): the worker proves the secret, refuses a coordinator that cannot prove it back,
// dials wss:// trusting --tls-ca, and fails at once and clearly on a certificate it does not trust.
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { test } from 'node:test';
import pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  checkHelloProof,
  createNonce,
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  welcomeProof,
  type Hello,
  type Message,
} from '@gnet/protocol';
import { CoordinatorLink, CoordinatorLinkError, type HelloFields } from './coordinator_link.js';
import { selfSignedCert } from '@gnet/collective/testing';
import { sampleWelcome } from './testing/sample_welcome.js';

const SECRET = 'coordinator-secret-9b2e';
const log = pino({ level: 'silent' });
const hello: HelloFields = { type: 'hello', protocolVersion: PROTOCOL_VERSION, workerId: 'w', backend: 'cpu', device: 'test', peer: null };
// Without its proof: each connection's is computed from its nonces.
const { serverProof: _unproven, ...welcome } = sampleWelcome();

interface FakeCoordinator {
  url: string;
  /** Messages the coordinator received after each hello, and how each connection closed. */
  after: Message[];
  closes: Promise<[number, string]>[];
  close(): void;
}

/**
 * A coordinator that checks each hello's proof with `secret` and answers `welcome` with a server
 * proof made with `proofSecret` (default: the same secret); over wss:// when `tls` is given.
 */
async function fakeCoordinator(options: {
  secret: string;
  proofSecret?: string;
  tls?: { cert: string; key: string };
}): Promise<FakeCoordinator> {
  const https = options.tls === undefined ? null : createServer(options.tls);
  const server = https === null ? new WebSocketServer({ host: '127.0.0.1', port: 0 }) : new WebSocketServer({ server: https });
  https?.listen(0, '127.0.0.1');
  await new Promise((resolve) => (https ?? server).once('listening', resolve));
  const after: Message[] = [];
  const closes: Promise<[number, string]>[] = [];
  server.on('connection', (socket: WebSocket) => {
    const serverNonce = createNonce();
    closes.push(new Promise((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()]))));
    socket.once('message', (data: Buffer) => {
      const h = decodeMessage(data) as Hello;
      checkHelloProof(h, serverNonce, options.secret);
      socket.on('message', (more: Buffer) => after.push(decodeMessage(more)));
      const serverProof = welcomeProof(options.proofSecret ?? options.secret, { serverNonce, clientNonce: h.nonce });
      socket.send(encodeMessage({ ...welcome, serverProof }));
    });
    socket.send(encodeMessage({ type: 'challenge', nonce: serverNonce }));
  });
  const { port } = (https ?? server).address() as { port: number };
  return {
    url: `${https === null ? 'ws' : 'wss'}://127.0.0.1:${port}`,
    after,
    closes,
    close: () => {
      for (const c of server.clients) c.terminate();
      server.close();
      https?.close();
    },
  };
}

const connect = (url: string, secret: string, ca: string | null = null, connectTimeoutMs = 5000) =>
  CoordinatorLink.connect({ url, hello, secret, ca, connectTimeoutMs, joinTimeoutMs: 5000, silenceTimeoutMs: 60_000, log });

test('the worker proves the secret in hello and accepts a welcome whose proof shows the coordinator knows it', async () => {
  const c = await fakeCoordinator({ secret: SECRET });
  try {
    const link = await connect(c.url, SECRET);
    assert.equal(link.welcome.runId, 'run');
    await link.close();
  } finally {
    c.close();
  }
});

test('a welcome whose serverProof is wrong is refused with PROTO_AUTH: error sent, close 1008, no secret in the message', async () => {
  // The coordinator accepts anyone and proves with another secret: an impostor.
  const c = await fakeCoordinator({ secret: '', proofSecret: 'impostor-secret' });
  try {
    const err = await connect(c.url, SECRET).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PROTO_AUTH');
    assert.equal(
      err.message,
      "welcome.serverProof does not match this worker's secret: the coordinator could not prove it knows it (the two sides were given different secrets (--token / GNET_TOKEN), or one has none)",
    );
    assert.ok(!err.message.includes(SECRET) && !err.message.includes('impostor-secret'));
    assert.deepEqual(await c.closes[0], [1008, 'PROTO_AUTH']);
    assert.deepEqual(
      c.after.map((m) => m.type === 'error' && m.code),
      ['PROTO_AUTH'],
    );
  } finally {
    c.close();
  }
});

test('wss:// with a self-signed certificate: trusted through --tls-ca it connects; untrusted it fails at once with LINK_TLS', async () => {
  const tls = await selfSignedCert();
  const c = await fakeCoordinator({ secret: SECRET, tls });
  try {
    assert.match(c.url, /^wss:\/\//);
    const link = await connect(c.url, SECRET, tls.cert);
    assert.equal(link.welcome.runId, 'run');
    await link.close();
    const started = performance.now();
    const err = await connect(c.url, SECRET, null, 20_000).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CoordinatorLinkError);
    assert.equal(err.code, 'LINK_TLS');
    assert.equal(
      err.message,
      `The coordinator at ${c.url} cannot be trusted: its TLS certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate); pass the certificate of the CA that signed it with --tls-ca <pem>`,
    );
    // Not retried until --connect-timeout-ms (20 s): a certificate does not become trusted.
    assert.ok(performance.now() - started < 5000);
  } finally {
    c.close();
  }
});
