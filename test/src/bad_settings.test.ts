// Settings that cannot work on this machine end the process at start-up with exit 2 and one line
// naming the flag and the fix (README "Quick start"), with real processes: a coordinator --port
// and a worker --peer-port that another process already holds (issue 10).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { COORDINATOR_ENTRY, WORKER_ENTRY } from './distributed_group.js';
import { runApp } from './run_process.js';

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  assert.match(lines[0]!, pattern);
}

test('a coordinator --port already in use: exit 2, one line naming the flag and the fix', { timeout: 120_000 }, async () => {
  const { server, port } = await holdPort();
  try {
    const r = await runApp(
      COORDINATOR_ENTRY,
      ['--workers', '1', '--port', String(port), '--data-dir', CIFAR10_TEST_DIR, '--no-dashboard', '--run-dir', '/tmp/gnet-unused-run'],
      { timeoutMs: 100_000, env: { GNET_TOKEN: 's' } },
    );
    assert.equal(r.code, 2, r.stderr);
    assertOneLine(
      r.stderr,
      new RegExp(
        `^coordinator: --port ${port} on 127\\.0\\.0\\.1: the port is already in use \\(EADDRINUSE\\); pick another --port \\(0: any free port\\)`,
      ),
    );
    assert.ok(!r.logs.some((l) => l['err'] !== undefined), 'no error object (stack) in the log');
  } finally {
    server.close();
  }
});

test('a worker --peer-port already in use: exit 2, one line naming the flag and the fix', { timeout: 120_000 }, async () => {
  const { server, port } = await holdPort();
  try {
    const r = await runApp(
      WORKER_ENTRY,
      ['--coordinator', 'ws://127.0.0.1:1', '--peer-port', String(port), '--backend', 'wasm', '--data-dir', CIFAR10_TEST_DIR],
      { timeoutMs: 100_000, env: { GNET_TOKEN: 's' } },
    );
    assert.equal(r.code, 2, r.stderr);
    assertOneLine(r.stderr, new RegExp(`^worker: --peer-port ${port} on 127\\.0\\.0\\.1: the port is already in use \\(EADDRINUSE\\)`));
  } finally {
    server.close();
  }
});
