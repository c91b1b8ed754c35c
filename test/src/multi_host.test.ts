// Three "machines" on one: the real coordinator and two real workers, each in its own network
// namespace with its own IPv4 address, on a bridge, over 1 Gbit links shaped by tc
// (infra/netns). The multi-machine command shape of the README: the coordinator listens on its
// host's address (`--host`), each worker dials `ws://<coordinator>:29500` and serves its ring
// listener on its own address (`--peer-host`). Checked: the workers came from their own addresses
// and advertised them (the coordinator's 'worker joined' lines, from which it builds the welcome's
// ring peers), the ring connections really run between the two workers' addresses (`ss` inside
// each worker's namespace while training), the replicas stay bit-identical after every step, and
// the run finishes stating its test accuracy. Needs root and iproute2: otherwise it skips saying
// so, or fails under GNET_INFRA_REQUIRED=1 (CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHostNetwork,
  netnsUnavailableReason,
  requireOrSkip,
  watchNdjson,
  type HostNetwork,
  type NdjsonProcess,
} from '@gnet/infra/netns';
import { CIFAR10_TEST_DIR, REPO_ROOT } from './cifar_dir.js';
import { COORDINATOR_ENTRY, WORKER_ENTRY, rankOf, weightDigests } from './distributed_group.js';

/** A fixed port is safe: nothing else lives in a namespace made for this test. */
const COORDINATOR_PORT = 29500;
const TOKEN = 'multi-host-secret';
const TRAIN_IMAGES = 384;
const GLOBAL_BATCH = 32;
const STEPS = TRAIN_IMAGES / GLOBAL_BATCH;
const RUN_TIMEOUT_MS = 5 * 60_000;

type Line = Record<string, unknown>;

function startApp(net: HostNetwork, host: string, entry: string, args: string[]): NdjsonProcess {
  const child = net.spawn(host, process.execPath, ['--conditions=source', '--import', 'tsx', join(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, GNET_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchNdjson(child, { name: `${entry} on ${host}`, timeoutMs: RUN_TIMEOUT_MS });
}

/** `::ffff:10.64.3.2` (an IPv4 peer of a dual-stack socket) as `10.64.3.2`. */
const ipv4 = (address: unknown): string => String(address).replace(/^::ffff:/, '');

/**
 * Polls `ss` in `host`'s namespace until it shows an established TCP connection between `own` and
 * `peer` addresses, or `until` settles (the run ended), or `timeoutMs` pass; returns the `ss` line.
 */
async function ringConnection(
  net: HostNetwork,
  host: string,
  own: string,
  peer: string,
  until: Promise<unknown>,
  timeoutMs: number,
): Promise<string | null> {
  let over = false;
  void until.finally(() => (over = true));
  const deadline = Date.now() + timeoutMs;
  while (!over && Date.now() < deadline) {
    const { stdout } = await net.exec(host, 'ss', ['-tnH', 'state', 'established'], { timeoutMs: 10_000 });
    const line = stdout.split('\n').find((l) => l.includes(`${own}:`) && l.includes(`${peer}:`));
    if (line !== undefined) return line.trim().replace(/\s+/g, ' ');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

test(
  "coordinator and two workers on three hosts over 1 Gbit links: the ring runs between the workers' own addresses, replicas stay identical, the run finishes",
  { timeout: 8 * 60_000 },
  async (t) => {
    if (!requireOrSkip(t, await netnsUnavailableReason())) return;
    const net = await createHostNetwork({ hosts: ['coordinator', 'w0', 'w1'].map((name) => ({ name, rateMbit: 1000 })) });
    const runDir = await mkdtemp(join(tmpdir(), 'multi-host-run-'));
    try {
      const coordinatorAddress = net.host('coordinator').address;
      const workerHosts = [net.host('w0'), net.host('w1')];
      const coordinator = startApp(net, 'coordinator', COORDINATOR_ENTRY, [
        ...['--host', coordinatorAddress, '--port', String(COORDINATOR_PORT), '--workers', '2', '--algorithm', 'ring', '--no-dashboard'],
        ...[
          '--width',
          '0.0625',
          '--epochs',
          '1',
          '--batch-size',
          String(GLOBAL_BATCH),
          '--train-limit',
          String(TRAIN_IMAGES),
          '--eval-limit',
          '50',
        ],
        ...[
          '--warmup-epochs',
          '0',
          '--seed',
          '12',
          '--data-dir',
          CIFAR10_TEST_DIR,
          '--run-dir',
          runDir,
          '--join-timeout-ms',
          String(RUN_TIMEOUT_MS),
        ],
      ]);
      const listening = await coordinator.waitForLog((l) => l['msg'] === 'coordinator listening', 60_000);
      assert.equal(listening['url'], `ws://${coordinatorAddress}:${COORDINATOR_PORT}`);
      const workers = workerHosts.map((h) =>
        startApp(net, h.name, WORKER_ENTRY, [
          ...['--coordinator', `ws://${coordinatorAddress}:${COORDINATOR_PORT}`, '--worker-id', h.name, '--peer-host', h.address],
          ...['--backend', 'onednn', '--threads', '1', '--data-dir', CIFAR10_TEST_DIR, '--trace-weights'],
        ]),
      );
      const everyone = Promise.all([coordinator.done, ...workers.map((worker) => worker.done)]);
      // While they train: each worker's namespace holds a TCP connection to the other worker.
      await Promise.all(workers.map((worker) => worker.waitForLog((l) => l['msg'] === 'welcome', 120_000)));
      const [ring0, ring1] = await Promise.all([
        ringConnection(net, 'w0', workerHosts[0]!.address, workerHosts[1]!.address, everyone, 120_000),
        ringConnection(net, 'w1', workerHosts[1]!.address, workerHosts[0]!.address, everyone, 120_000),
      ]);
      const [coordinatorResult, ...workerResults] = await everyone;
      const describe = (): string =>
        [coordinatorResult!, ...workerResults]
          .map(
            (r, i) =>
              `${i === 0 ? 'coordinator' : `w${i - 1}`}: code ${String(r.code)}${r.timedOut ? ' (timed out)' : ''} ${r.stderr.slice(-800)}`,
          )
          .join('\n');
      assert.equal(coordinatorResult!.code, 0, describe());
      workerResults.forEach((r) => assert.equal(r.code, 0, describe()));
      assert.ok(ring0 !== null && ring1 !== null, `no TCP connection between the workers' addresses was seen (w0: ${ring0}, w1: ${ring1})`);

      // The coordinator saw each worker arrive from its own address and advertise a ring listener on it.
      const joined = coordinatorResult!.logs.filter((l) => l['msg'] === 'worker joined');
      assert.equal(joined.length, 2);
      for (const h of workerHosts) {
        const line = joined.find((l) => l['workerId'] === h.name);
        assert.ok(line, `no 'worker joined' for ${h.name}`);
        assert.equal(ipv4(line['remote']), h.address, `${h.name} did not dial from its own address`);
        assert.equal((line['peer'] as Line | undefined)?.['host'], h.address, `${h.name} did not advertise its own address`);
      }

      // Ring all-reduce, two ranks, bit-identical weights after every step.
      const byRank = [...workerResults].sort((a, b) => rankOf(a.logs) - rankOf(b.logs));
      assert.deepEqual(
        byRank.map((worker) => rankOf(worker.logs)),
        [0, 1],
      );
      for (const worker of byRank) assert.equal(worker.logs.find((l) => l['msg'] === 'welcome')?.['algorithm'], 'ring');
      const digests = byRank.map((worker) => weightDigests(worker.logs));
      assert.equal(digests[0]!.size, STEPS);
      for (const [step, digest] of digests[0]!) assert.equal(digests[1]!.get(step), digest, `weights differ after step ${step}`);

      const final = coordinatorResult!.logs.find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('final test accuracy '));
      assert.ok(final, 'the coordinator states the final test accuracy');
      t.diagnostic(`${final['msg'] as string}; ring seen from w0: ${ring0}; from w1: ${ring1}`);
    } finally {
      await net.destroy();
      await rm(runDir, { recursive: true, force: true });
    }
  },
);
