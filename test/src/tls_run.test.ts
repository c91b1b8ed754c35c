// A whole run over TLS, as real processes: single-node mode with `--tls-cert/--tls-key` serves
// `wss://`, hands the local workers `--tls-ca` and the same certificate for their ring listeners,
// and the two workers train by ring all-reduce over `wss://` between themselves to the end
// (evaluation and test included). The certificate is a throw-away self-signed one for 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { selfSignedCert } from '@gnet/collective/testing';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { COORDINATOR_ENTRY, coordinatorArgs } from './distributed_group.js';
import { runApp } from './run_process.js';

const TIMEOUT_MS = 5 * 60_000;

test(
  'single-node mode over TLS: the coordinator serves wss://, the local workers trust it and run their ring over wss://',
  { timeout: TIMEOUT_MS + 30_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gnet-tls-run-'));
    try {
      const { cert, key } = await selfSignedCert('127.0.0.1');
      await writeFile(join(dir, 'cert.pem'), cert);
      await writeFile(join(dir, 'key.pem'), key);
      const runDir = join(dir, 'run');
      const result = await runApp(
        COORDINATOR_ENTRY,
        coordinatorArgs({
          localWorkers: 2,
          algorithm: 'ring',
          backend: 'wasm',
          port: 0,
          dashboard: false,
          dataDir: CIFAR10_TEST_DIR,
          runDir,
          tlsCert: join(dir, 'cert.pem'),
          tlsKey: join(dir, 'key.pem'),
          epochs: 1,
          batchSize: 16,
          trainLimit: 64,
          evalLimit: 32,
          checkpointEverySteps: 0,
        }),
        { timeoutMs: TIMEOUT_MS, env: { GNET_TOKEN: 'tls-run-secret' } },
      );
      assert.equal(result.code, 0, result.stderr.slice(-3000));
      const listening = result.logs.find((l) => l['msg'] === 'coordinator listening');
      assert.match(String(listening?.['url']), /^wss:\/\/127\.0\.0\.1:\d+$/);
      const joined = result.logs.filter((l) => l['msg'] === 'worker joined');
      assert.equal(joined.length, 2);
      for (const line of joined)
        assert.deepEqual((line['peer'] as { tls: boolean }).tls, true, `ring listener of ${String(line['workerId'])} serves wss://`);
      const finished = result.logs.filter((l) => l['msg'] === 'run finished');
      assert.equal(finished.length, 2, 'both workers finished');
      assert.equal(new Set(finished.map((l) => l['weightsSha256'])).size, 1, 'replicas identical at the end');
      const metrics = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; count?: number });
      assert.equal(metrics.find((r) => r.kind === 'test')?.count, 32, 'the test split was evaluated');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
