// The Slurm launch for real (issue 12): a three-node Slurm cluster in network namespaces
// (slurm_cluster.ts) and the real infra/slurm/gnet.sbatch submitted to it, as the README's
// command with a tiny run (2 workers on 2 of the 3 nodes, width 0.0625, 256 training images,
// oneDNN on one thread). What a user relies on: the job completes and the run states its test
// accuracy (job output, summary.json); the coordinator ran on the allocation's first node and was
// dialed at its NodeAddr; each worker got its own "GPU" from Slurm (CUDA_VISIBLE_DEVICES) and
// advertised its own node's NodeAddr; the workers dialed each other's addresses for the ring
// all-reduce (seen in the namespaces' TCP tables). And the job ends by itself when it cannot
// run: no token, or every worker failing at start-up. Needs root, iproute2 and
// `apt-get install slurm-wlm munge`; otherwise it skips with one line, or fails under
// GNET_INFRA_REQUIRED=1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsUnavailableReason, requireOrSkip } from '../../netns/src/index.js';
import { slurmUnavailableReason } from './slurm_available.js';
import { startSlurmCluster, type SlurmCluster } from './slurm_cluster.js';
import { watchConnections, type TcpConnection } from './tcp_table.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SBATCH_SCRIPT = join(REPO_ROOT, 'infra', 'slurm', 'gnet.sbatch');
/** The real CIFAR-10, as the integration tests find it (test/src/cifar_dir.ts); read only. */
const CIFAR10_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

/** The run: one epoch of 8 steps of 32 images over 2 workers (test/'s smallest configurations). */
const COORDINATOR_ARGS = [
  ...['--algorithm', 'ring', '--width', '0.0625', '--epochs', '1', '--batch-size', '32', '--train-limit', '256'],
  ...['--eval-limit', '40', '--warmup-epochs', '0', '--seed', '3', '--no-dashboard'],
];
const WORKER_ARGS = '--backend onednn --threads 1';
/** gnet.sbatch's default GNET_PORT. */
const COORDINATOR_PORT = 29500;
/** The training job, from submission to its end: under a minute on two quiet cores; room for a loaded machine. */
const JOB_TIMEOUT_MS = 4 * 60_000;
/** A job that must end by itself soon: the coordinator's start-up, the workers' failure, the grace. */
const SHORT_JOB_TIMEOUT_MS = 2 * 60_000;

/** Null when this machine can run the cluster, else what is missing (skips, or fails under GNET_INFRA_REQUIRED=1). */
const unavailable = (await slurmUnavailableReason()) ?? (await netnsUnavailableReason());

type Line = Record<string, unknown>;

function ndjson(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

/** `::ffff:10.1.2.3` (an IPv4 peer of a dual-stack socket) → `10.1.2.3`. */
const ipv4 = (address: string): string => address.replace(/^::ffff:/, '');

/** A connection from `fromAddress` to the listener `to`, seen from either end. */
function dialed(connections: readonly TcpConnection[], fromAddress: string, to: { host: string; port: number }): boolean {
  return connections.some(
    (c) =>
      (c.local.address === fromAddress && c.remote.address === to.host && c.remote.port === to.port) ||
      (c.remote.address === fromAddress && c.local.address === to.host && c.local.port === to.port),
  );
}

describe(
  'gnet.sbatch on a 3-node Slurm cluster in network namespaces',
  { timeout: JOB_TIMEOUT_MS + 2 * SHORT_JOB_TIMEOUT_MS + 3 * 60_000 },
  () => {
    let cluster: SlurmCluster | null = null;
    let startedMs = 0;
    before(async () => {
      if (unavailable !== null) return;
      const startedAt = performance.now();
      cluster = await startSlurmCluster({ nodes: ['n1', 'n2', 'n3'], cpusPerNode: 2 });
      startedMs = performance.now() - startedAt;
    });
    after(async () => {
      await cluster?.stop();
    });

    /** The README's command, scaled down: one task (one "GPU") per node on 2 nodes; `env` adds to the submission's environment. */
    const submit = (c: SlurmCluster, env: Record<string, string>): Promise<number> =>
      c.sbatch(
        [
          `--chdir=${c.dir}`,
          `--output=${join(c.dir, 'job-%j.out')}`,
          '--nodes=2',
          '--ntasks-per-node=1',
          '--cpus-per-task=1',
          SBATCH_SCRIPT,
          '--',
          ...COORDINATOR_ARGS,
        ],
        {
          GNET_HOME: REPO_ROOT,
          CIFAR10_DIR,
          GNET_WORKER_ARGS: WORKER_ARGS,
          GNET_WORKER_EXIT_GRACE_S: '30',
          GNET_TOKEN: randomBytes(16).toString('hex'),
          ...env,
        },
      );
    const read = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');
    /** The job's output, its workers' logs and the daemons' logs, for a failure message. */
    const explain = async (c: SlurmCluster, id: number, runDir: string): Promise<string> => {
      const workers = await Promise.all(
        [0, 1].map(async (i) => `worker ${i}:\n${(await read(join(runDir, 'logs', `worker-${i}.ndjson`))).slice(-1500)}`),
      );
      return [`job output:\n${(await read(join(c.dir, `job-${id}.out`))).slice(-3000)}`, ...workers, await c.logTails()].join('\n');
    };

    it('refuses to start without GNET_TOKEN, with one line, before anything runs', async (t) => {
      if (!requireOrSkip(t, unavailable)) return;
      const c = cluster!;
      const id = await submit(c, { GNET_TOKEN: '', GNET_RUN_DIR: join(c.dir, 'no-token') });
      const job = await c.waitForJob(id, SHORT_JOB_TIMEOUT_MS);
      assert.equal(job['ExitCode'], '2:0');
      assert.match(
        await read(join(c.dir, `job-${id}.out`)),
        /^gnet\.sbatch: GNET_TOKEN is not set: export a shared secret before sbatch [^\n]*\n$/,
      );
    });

    it('stops the coordinator when every worker task fails at start-up, rather than waiting for them', async (t) => {
      if (!requireOrSkip(t, unavailable)) return;
      const c = cluster!;
      const runDir = join(c.dir, 'workers-fail');
      // A bad flag fails every worker at once, as a missing GPU library would (exit 2 at start-up).
      const id = await submit(c, { GNET_RUN_DIR: runDir, GNET_WORKER_ARGS: '--backend no-such-backend', GNET_ORPHAN_GRACE_S: '5' });
      const job = await c
        .waitForJob(id, SHORT_JOB_TIMEOUT_MS)
        .catch(async (err: Error) => assert.fail(`${err.message}\n${await explain(c, id, runDir)}`));
      const output = await read(join(c.dir, `job-${id}.out`));
      // SIGTERM before any step: the coordinator exits 143 (interrupted, nothing to resume).
      if (job['ExitCode'] !== '143:0')
        assert.fail(`job ${id} ended ${job['JobState']} with exit ${job['ExitCode']}\n${await explain(c, id, runDir)}`);
      assert.match(output, /gnet\.sbatch: every worker task has exited and the coordinator still runs 5 s later: stopping it/);
      for (const i of [0, 1])
        assert.match(
          await read(join(runDir, 'logs', `worker-${i}.ndjson`)),
          /worker: option '--backend <name>' argument 'no-such-backend' is invalid/,
          `worker ${i} says why it stopped`,
        );
    });

    it('2 workers on 2 nodes train over a ring between their own addresses, and the run states its test accuracy', async (t) => {
      if (!requireOrSkip(t, unavailable)) return;
      assert.ok(existsSync(join(CIFAR10_DIR, 'data_batch_1.bin')), `CIFAR-10 not found in ${CIFAR10_DIR} (set CIFAR10_DIR)`);
      const c = cluster!;
      const runDir = join(c.dir, 'run');
      const watcher = watchConnections(
        c.nodes.map((n) => c.slurmdPid(n.name)),
        500,
      );
      let connections: TcpConnection[] = [];
      const submittedAt = performance.now();
      let id = 0;
      let job;
      try {
        id = await submit(c, { GNET_RUN_DIR: runDir });
        job = await c
          .waitForJob(id, JOB_TIMEOUT_MS)
          .catch(async (err: Error) => assert.fail(`${err.message}\n${await explain(c, id, runDir)}`));
      } finally {
        connections = watcher.stop();
      }
      const jobMs = performance.now() - submittedAt;
      if (job['JobState'] !== 'COMPLETED' || job['ExitCode'] !== '0:0')
        assert.fail(`job ${id} ended ${job['JobState']} with exit ${job['ExitCode']}\n${await explain(c, id, runDir)}`);
      const output = await read(join(c.dir, `job-${id}.out`));
      const workerText = await Promise.all([0, 1].map((i) => read(join(runDir, 'logs', `worker-${i}.ndjson`))));

      // The allocation, in order: the coordinator on its first node, dialed at that node's NodeAddr.
      const allocated = (await c.network.exec('ctl', 'scontrol', ['show', 'hostnames', job['NodeList']!], { env: c.clientEnv })).stdout
        .trim()
        .split('\n');
      assert.equal(allocated.length, 2, `NodeList=${job['NodeList']}`);
      const hosts = allocated.map((name) => c.network.host(name));
      assert.ok(
        output.includes(`coordinator on ${hosts[0]!.name} at ws://${hosts[0]!.address}:${COORDINATOR_PORT}, 2 workers`),
        output.slice(0, 1000),
      );

      // The run finished and stated its test accuracy, in the job output and the run folder.
      const final = ndjson(output).find((l) => String(l['msg']).startsWith('final test accuracy'));
      assert.ok(final !== undefined, `no 'final test accuracy' line in the job output:\n${output.slice(-2000)}`);
      const accuracy = final['testAccuracy'] as number;
      assert.ok(accuracy >= 0 && accuracy <= 1, `testAccuracy ${accuracy}`);
      const summary = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as {
        testAccuracy: number;
        worldSize: number;
        algorithm: string;
      };
      assert.equal(summary.testAccuracy, accuracy);
      assert.equal(summary.worldSize, 2);
      assert.equal(summary.algorithm, 'ring');

      // One worker task per node, each with its own GPU from Slurm, advertising its own NodeAddr.
      const tasks = workerText.map((text, i) => {
        const m = new RegExp(`worker task ${i} on (\\S+), advertising (\\S+), CUDA_VISIBLE_DEVICES=(\\S+)`).exec(text);
        assert.ok(m, `worker task ${i} printed no start line:\n${text.slice(0, 1000)}`);
        assert.ok(
          ndjson(text).some((l) => l['msg'] === 'worker done'),
          `worker task ${i} did not finish:\n${text.slice(-1500)}`,
        );
        return { node: m[1]!, advertised: m[2]!, gpus: m[3]! };
      });
      assert.deepEqual(tasks.map((task) => task.node).sort(), [...allocated].sort());
      for (const task of tasks) {
        assert.equal(task.advertised, c.network.host(task.node).address, `worker on ${task.node}`);
        assert.equal(task.gpus, '0', `worker on ${task.node}: Slurm gives each task its node's one GPU`);
      }

      // The coordinator saw each worker come from, and advertise, its own node's address ...
      const coordinatorLogs = ndjson(await readFile(join(runDir, 'logs', 'coordinator.ndjson'), 'utf8'));
      const joined = coordinatorLogs
        .filter((l) => l['msg'] === 'worker joined')
        .map((l) => ({ remote: ipv4(String(l['remote'])), peer: l['peer'] as { host: string; port: number } }));
      assert.equal(joined.length, 2, 'worker joined lines');
      assert.deepEqual(joined.map((j) => j.peer.host).sort(), hosts.map((h) => h.address).sort());
      for (const j of joined) assert.equal(j.remote, j.peer.host, 'a worker dialed the coordinator from its own address');
      // ... and each worker dialed the other's advertised listener: the ring ran between the nodes.
      for (const [i, j] of joined.entries()) {
        const other = joined[1 - i]!;
        const seen = connections.map((x) => `${x.local.address}:${x.local.port}->${x.remote.address}:${x.remote.port}`).join(', ');
        assert.ok(
          dialed(connections, other.peer.host, j.peer),
          `no connection from ${other.peer.host} to the ring listener ${j.peer.host}:${j.peer.port}; seen: ${seen}`,
        );
      }
      t.diagnostic(
        `cluster up in ${Math.round(startedMs)} ms; job ${id} on ${job['NodeList']} ran ${Math.round(jobMs / 1000)} s; test accuracy ${(accuracy * 100).toFixed(2)}%; ring ${joined.map((j) => `${j.peer.host}:${j.peer.port}`).join(' <-> ')}`,
      );
    });
  },
);
