// overlays/tls with the certificates make-tls-certs.sh makes, as the README says to: the
// certificate verifies against the run's CA under every name a peer dials (the coordinator's
// Service, each worker's advertised name) in real TLS handshakes, a name beyond WORKERS is
// refused, and the apps' own parsers accept the overlay's --tls-* flags with those files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOrSkip } from '../../netns/src/availability.js';
import { containerOf, expandedArgs, findObject } from './manifest_query.js';
import { envOf, parseWithApps, type ParseInput } from './testing/app_parsers.js';
import { K8S_DIR, renderedOrSkip } from './testing/rendered.js';

/** Key generation and signing: well under a second; bounded for a loaded machine. */
const SCRIPT_TIMEOUT_MS = 60_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Where overlays/tls mounts the Secret gnet-tls. */
const MOUNT = '/etc/gnet/tls';

function makeCerts(out: string, workers: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('sh', [join(K8S_DIR, 'make-tls-certs.sh'), out, String(workers)], { timeout: SCRIPT_TIMEOUT_MS }, (err, _stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (err !== null && typeof code !== 'number') return reject(err);
      resolve({ code: typeof code === 'number' ? code : 0, stderr });
    });
  });
}

async function opensslMissing(): Promise<string | null> {
  return new Promise((resolve) =>
    execFile('openssl', ['version'], { timeout: SCRIPT_TIMEOUT_MS }, (err) =>
      resolve(err === null ? null : 'make-tls-certs.sh needs `openssl` (apt-get install openssl)'),
    ),
  );
}

/** A TLS handshake to a server holding tls.crt/tls.key, as `servername`, trusting only ca.crt: null when verified, else the error code. */
async function handshake(dir: string, servername: string): Promise<string | null> {
  const server = createServer({ cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<string | null>((resolve) => {
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        servername,
        ca: readFileSync(join(dir, 'ca.crt')),
        timeout: HANDSHAKE_TIMEOUT_MS,
      });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(null);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.once('timeout', () => {
        socket.destroy();
        resolve('timeout');
      });
    });
  } finally {
    server.close();
  }
}

test('make-tls-certs.sh: the certificate verifies under gnet-coordinator and every worker name up to WORKERS, and no further', async (t) => {
  if (!requireOrSkip(t, await opensslMissing())) return;
  const dir = mkdtempSync(join(tmpdir(), 'gnet-k8s-tls-'));
  try {
    assert.deepEqual(await makeCerts(join(dir, 'certs'), 3), { code: 0, stderr: '' });
    const certs = join(dir, 'certs');
    for (const name of ['gnet-coordinator', 'gnet-worker-0.gnet-workers', 'gnet-worker-1.gnet-workers', 'gnet-worker-2.gnet-workers']) {
      assert.equal(await handshake(certs, name), null, name);
    }
    assert.equal(await handshake(certs, 'gnet-worker-3.gnet-workers'), 'ERR_TLS_CERT_ALTNAME_INVALID');
    const bad = await makeCerts(join(dir, 'bad'), 0);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /WORKERS must be at least 1, but got 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tls: the apps' own parsers accept the overlay's flags with make-tls-certs.sh's files in place of the mounted Secret", async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null || !requireOrSkip(t, await opensslMissing())) return;
  const dir = mkdtempSync(join(tmpdir(), 'gnet-k8s-tls-'));
  try {
    assert.equal((await makeCerts(dir, 2)).code, 0);
    const here = (args: string[]) => args.map((a) => (a.startsWith(`${MOUNT}/`) ? join(dir, a.slice(MOUNT.length + 1)) : a));
    const pod = { JOB_COMPLETION_INDEX: '1', POD_NAME: 'gnet-worker-1-q9z4m' };
    const c = containerOf(findObject(all.tls, 'Deployment', 'gnet-coordinator'), 'coordinator');
    const workerContainer = containerOf(findObject(all.tls, 'Job', 'gnet-worker'), 'worker');
    const input: { coordinators: Record<string, ParseInput>; workers: Record<string, ParseInput> } = {
      coordinators: { tls: { args: here(expandedArgs(c)), env: envOf(c, { GNET_TOKEN: 'x' }) } },
      workers: {
        tls: {
          args: here(expandedArgs(workerContainer, pod)),
          env: envOf(workerContainer, { GNET_TOKEN: 'x', GNET_THREADS: '4', ...pod }),
        },
      },
    };
    const out = (await parseWithApps(input)) as Record<string, Record<string, unknown>>;
    assert.deepEqual([out['coordinator tls']!['tlsCert'], out['coordinator tls']!['tlsKey']], [join(dir, 'tls.crt'), join(dir, 'tls.key')]);
    const worker = out['worker tls']!;
    assert.deepEqual(
      [worker['coordinator'], worker['tlsCa'], worker['tlsCert'], worker['tlsKey'], worker['advertiseHost']],
      ['wss://gnet-coordinator:29500', join(dir, 'ca.crt'), join(dir, 'tls.crt'), join(dir, 'tls.key'), 'gnet-worker-1.gnet-workers'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
