// A throwaway Slurm cluster for tests: slurmctld and munged on host `ctl`, one slurmd per node,
// each in its own network namespace with its own address (infra/netns) and its own UTS host name
// (slurmctld checks that its host name is SlurmctldHost; each slurmd is started with -N). Every
// file (slurm.conf, munge key and socket, state, spool, logs, pid files) lives in a temporary
// folder of its own (`dir`, for the jobs' files too); every daemon runs in the foreground as our
// child, and stop() ends jobs, daemons and then every process left in the namespaces, by PID
// (HostNetwork.destroy), and removes the folder; so does process exit or a signal. How to start slurmd matters:
// `ip netns exec` remounts /sys and hides the cgroup mount, and slurmd then refuses to start, so
// the namespace is entered with `nsenter --net` (HostNetwork.spawn) and `unshare --uts`.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostNetwork, type HostNetwork, type NetHost } from '../../netns/src/index.js';
import { registerExitCleanup } from '../../netns/src/index.js';
import { renderGresConf, renderSlurmConf } from './slurm_conf.js';
import { jobEnded, parseJobRecord, type JobRecord } from './slurm_job.js';

/** Bound on one client call (sbatch, scontrol, ...): instant on a quiet machine, seconds on a loaded one. */
const CLIENT_TIMEOUT_MS = 30_000;
/** Bound on each daemon becoming ready (munged's socket, slurmctld answering, every node idle). */
const READY_TIMEOUT_MS = 60_000;
/** How often readiness and job state are polled (sbatch --wait polls only every ~10 s). */
const POLL_MS = 500;
/** Characters of each daemon's output kept for failure messages. */
const OUTPUT_TAIL_CHARS = 8 * 1024;

interface Daemon {
  name: string;
  child: ChildProcess;
  output: string;
  exited: boolean;
}

export interface SlurmCluster {
  /** The cluster's temporary folder; jobs may write here (it goes with stop()). */
  dir: string;
  network: HostNetwork;
  controller: NetHost;
  nodes: NetHost[];
  /** Environment for Slurm clients: SLURM_CONF set, no SLURM_* of a job this process may run in. */
  clientEnv: NodeJS.ProcessEnv;
  /** Pid of the slurmd of `node`: a process inside that node's network namespace. */
  slurmdPid(node: string): number;
  /** `sbatch --parsable args` on the controller's host with `env` added; the job id. */
  sbatch(args: readonly string[], env: Readonly<Record<string, string>>): Promise<number>;
  /** The job's fields, as `scontrol show job` has them. */
  job(id: number): Promise<JobRecord>;
  /** Polls the job until it has ended; rejects after `timeoutMs` with its last state. */
  waitForJob(id: number, timeoutMs: number): Promise<JobRecord>;
  /** The tails of the daemons' logs, for failure messages. */
  logTails(): Promise<string>;
  /** Cancels jobs, stops the daemons, kills what is left in the namespaces, removes them and `dir`. */
  stop(): Promise<void>;
}

/** Starts munged, slurmctld and a slurmd per name in `nodes`, and waits until every node is idle. */
export async function startSlurmCluster(options: { nodes: readonly string[]; cpusPerNode: number }): Promise<SlurmCluster> {
  const network = await createHostNetwork({ hosts: [{ name: 'ctl' }, ...options.nodes.map((name) => ({ name }))] });
  // Made after the network, so at exit its cleanup (killing every process in the namespaces)
  // runs before this folder's removal: nothing is left writing into it.
  const dir = await mkdtemp(join(tmpdir(), 'gnet-slurm-')).catch(async (err: unknown) => {
    await network.destroy();
    throw err;
  });
  const unregister = registerExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const daemons: Daemon[] = [];
  const jobs: number[] = [];
  const controller = network.host('ctl');
  const nodes = options.nodes.map((n) => network.host(n));
  const conf = join(dir, 'slurm.conf');
  // Daemons live in /usr/sbin; jobs need this node binary first on PATH.
  const path = [dirname(process.execPath), process.env['PATH'] ?? '', '/usr/sbin', '/usr/bin'].join(delimiter);
  const clientEnv: NodeJS.ProcessEnv = { ...withoutSlurmVariables(process.env), PATH: path, SLURM_CONF: conf };

  const client = async (command: string, args: readonly string[], env: NodeJS.ProcessEnv = clientEnv): Promise<string> => {
    const r = await network.exec('ctl', command, [...args], { timeoutMs: CLIENT_TIMEOUT_MS, env });
    if (r.code !== 0) throw new Error(`\`${command} ${args.join(' ')}\` exited with ${String(r.code)}: ${r.stderr.trim().slice(-500)}`);
    return r.stdout;
  };
  const start = (host: string, name: string, command: string, args: readonly string[], utsName?: string): Daemon => {
    // `unshare --uts` and `sh -c 'hostname ... && exec ...'` exec in turn: the child's pid stays the daemon's.
    const argv = utsName === undefined ? [...args] : ['--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', utsName, command, ...args];
    const child = network.spawn(host, utsName === undefined ? command : 'unshare', argv, {
      env: clientEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon: Daemon = { name, child, output: '', exited: false };
    const keep = (chunk: string): void => void (daemon.output = (daemon.output + chunk).slice(-OUTPUT_TAIL_CHARS));
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    child.once('exit', () => (daemon.exited = true));
    daemons.push(daemon);
    return daemon;
  };
  const waitUntil = async (what: string, ready: () => Promise<boolean>, watched: readonly Daemon[]): Promise<void> => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const dead = watched.find((d) => d.exited);
      if (dead !== undefined) throw new Error(`${dead.name} exited while waiting for ${what}: ${dead.output.slice(-1500)}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`${what} within ${READY_TIMEOUT_MS} ms; ${watched.map((d) => `${d.name}: ${d.output.slice(-600)}`).join('\n')}`);
      await sleep(POLL_MS);
    }
  };

  const job = async (id: number): Promise<JobRecord> => parseJobRecord(await client('scontrol', ['show', 'job', '-o', String(id)]));
  const stop = async (): Promise<void> => {
    // Jobs first, so their steps end through Slurm (KillWait=5) rather than by SIGKILL below.
    if (jobs.length > 0 && daemons.every((d) => !d.exited)) {
      await client('scancel', jobs.map(String)).catch(() => undefined);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const states = await Promise.all(jobs.map((id) => job(id).catch(() => null)));
        if (states.every((s) => s === null || jobEnded(s))) break;
        await sleep(POLL_MS);
      }
    }
    for (const d of daemons) if (!d.exited) d.child.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (daemons.some((d) => !d.exited) && Date.now() < deadline) await sleep(100);
    // SIGKILLs whatever is left (slurmstepd, job processes) by pid, and removes the namespaces.
    try {
      await network.destroy();
    } finally {
      await rm(dir, { recursive: true, force: true });
      unregister();
    }
  };

  try {
    const mungeDir = join(dir, 'munge');
    for (const sub of ['state', 'log', ...options.nodes.map((n) => join('spool', n))]) await mkdir(join(dir, sub), { recursive: true });
    // munged refuses a socket folder others cannot search, and a key others can read.
    await mkdir(mungeDir, { recursive: true });
    await chmod(dir, 0o711);
    await chmod(mungeDir, 0o711);
    await writeFile(join(mungeDir, 'munge.key'), randomBytes(1024), { mode: 0o400 });
    const socket = join(mungeDir, 'munge.socket');
    await writeFile(
      conf,
      renderSlurmConf({
        dir,
        controller: { name: 'ctl', address: controller.address },
        nodes: nodes.map((n) => ({ name: n.name, address: n.address })),
        cpusPerNode: options.cpusPerNode,
        mungeSocket: socket,
      }),
    );
    await writeFile(join(dir, 'gres.conf'), renderGresConf());

    const munged = start('ctl', 'munged', 'munged', [
      '--foreground',
      `--socket=${socket}`,
      `--key-file=${join(mungeDir, 'munge.key')}`,
      `--pid-file=${join(mungeDir, 'munged.pid')}`,
      `--log-file=${join(mungeDir, 'munged.log')}`,
      `--seed-file=${join(mungeDir, 'munged.seed')}`,
    ]);
    await waitUntil('munged to create its socket', () => Promise.resolve(existsSync(socket)), [munged]);
    // -c: start from empty state (there is none; it also silences the "no state file" recovery).
    const slurmctld = start('ctl', 'slurmctld', 'slurmctld', ['-D', '-c', '-f', conf], 'ctl');
    await waitUntil('slurmctld to answer `scontrol ping`', async () => /\bUP\b/.test(await client('scontrol', ['ping'])), [
      munged,
      slurmctld,
    ]);
    const slurmds = nodes.map((n) => start(n.name, `slurmd on ${n.name}`, 'slurmd', ['-D', '-N', n.name, '-f', conf], n.name));
    await waitUntil(
      `every node idle in sinfo`,
      async () => {
        const states = (await client('sinfo', ['-h', '-N', '-o', '%N %t'])).trim().split('\n');
        return states.length === nodes.length && states.every((l) => / idle$/.test(l));
      },
      [munged, slurmctld, ...slurmds],
    );
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  return {
    dir,
    network,
    controller,
    nodes,
    clientEnv,
    slurmdPid(node) {
      const d = daemons.find((x) => x.name === `slurmd on ${node}`);
      if (d?.child.pid === undefined) throw new Error(`no slurmd on node '${node}'`);
      return d.child.pid;
    },
    async sbatch(args, env) {
      const out = await client('sbatch', ['--parsable', ...args], { ...clientEnv, ...env });
      const id = Number(out.trim().split(';')[0]);
      if (!Number.isInteger(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(out)}`);
      jobs.push(id);
      return id;
    },
    job,
    async waitForJob(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await job(id);
        if (jobEnded(record)) return record;
        if (Date.now() > deadline)
          throw new Error(
            `job ${id} did not end within ${timeoutMs} ms: JobState=${record['JobState'] ?? '?'} Reason=${record['Reason'] ?? '?'}`,
          );
        await sleep(POLL_MS);
      }
    },
    async logTails() {
      const files = ['slurmctld.log', ...options.nodes.map((n) => `slurmd-${n}.log`)];
      const tails = await Promise.all(
        files.map(async (f) => `--- ${f}\n${(await readFile(join(dir, 'log', f), 'utf8').catch(() => '')).slice(-1500)}`),
      );
      return tails.join('\n');
    },
    stop,
  };
}

/** `env` without the variables of a Slurm job this process may itself run in (they would steer sbatch). */
function withoutSlurmVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^(SLURM|SBATCH|SRUN|SALLOC)_/.test(k)));
}
