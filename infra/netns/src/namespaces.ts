// Namespace bookkeeping shared by destroy(), the exit handler and stale cleanup: naming, listing
// the processes inside a namespace (`ip netns pids`), emptying and deleting namespaces. Deleting a
// namespace unmounts /run/netns/<name>; the kernel frees it (and the veth ends inside, which
// takes their peers with them) once no process is left in it, so every process is killed first.
import { readFileSync } from 'node:fs';
import { runCommand, runSyncQuietly, killPid } from './command.js';

/** Prefix of every namespace this helper makes: `gnet<pid>-`, so names never collide across processes and a dead owner is recognisable. */
export const NAME_PREFIX = 'gnet';

/** `gnet<pid>-<n>`: the stem of the n-th network of this process (namespace names add `-br` or `-<host>`). */
export function networkId(pid: number, n: number): string {
  return `${NAME_PREFIX}${pid}-${n}`;
}

/** The pid in a namespace name this helper made, or null for anyone else's namespace. */
export function ownerPid(netns: string): number | null {
  const m = /^gnet(\d+)-/.exec(netns);
  return m === null ? null : Number(m[1]);
}

/** Names in `ip netns list` output (`name (id: 3)` or `name`). */
export function parseNetnsList(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** Pids in `ip netns pids` output. */
function parsePids(output: string): number[] {
  return output
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** The processes inside `netns` (empty when it has none or is gone). */
export async function pidsIn(netns: string, timeoutMs: number): Promise<number[]> {
  const result = await runCommand('ip', ['netns', 'pids', netns], { timeoutMs });
  return result.code === 0 ? parsePids(result.stdout) : [];
}

/** Namespaces that exist now. */
export async function listNetns(timeoutMs: number): Promise<string[]> {
  const result = await runCommand('ip', ['netns', 'list'], { timeoutMs });
  return result.code === 0 ? parseNetnsList(result.stdout) : [];
}

/**
 * Kills every process in `netns` with `signal` until none is left or `timeoutMs` has passed
 * (a process may fork while we kill); returns the pids still there (empty: done).
 */
export async function emptyNetns(netns: string, signal: NodeJS.Signals, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await pidsIn(netns, Math.max(1000, deadline - Date.now()));
    if (pids.length === 0) return [];
    for (const pid of pids) killPid(pid, signal);
    if (Date.now() >= deadline) return pids;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Deletes `netns`; true when it is gone (or was never there). */
export async function deleteNetns(netns: string, timeoutMs: number): Promise<boolean> {
  await runCommand('ip', ['netns', 'del', netns], { timeoutMs }).catch(() => undefined);
  return !(await listNetns(timeoutMs)).includes(netns);
}

/** The synchronous, best-effort version for exit handlers: SIGKILL everything inside, then delete. */
export function destroyNetnsSync(netns: string, timeoutMs: number): void {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const pids = parsePids(runSyncQuietly('ip', ['netns', 'pids', netns], timeoutMs) ?? '');
    if (pids.length === 0) break;
    for (const pid of pids) killPid(pid, 'SIGKILL');
  }
  runSyncQuietly('ip', ['netns', 'del', netns], timeoutMs);
}

/**
 * Removes namespaces left by processes of this helper that died without cleaning up (SIGKILL,
 * OOM killer, a crashed CI runner): those named `gnet<pid>-...` whose pid no longer exists (or
 * is ours, but the namespace is not in `ownLive`). A live pid is left alone, even if reused by an
 * unrelated process: never touch what may be in use.
 */
export async function removeStaleNetworks(timeoutMs: number, ownLive: ReadonlySet<string>): Promise<string[]> {
  const stale = (await listNetns(timeoutMs)).filter((netns) => {
    const pid = ownerPid(netns);
    if (pid === null) return false;
    // Ours by name but not live here: left by an earlier process that had our pid.
    return pid === process.pid ? !ownLive.has(netns) : !isAlive(pid);
  });
  for (const netns of stale) {
    await emptyNetns(netns, 'SIGKILL', timeoutMs);
    await deleteNetns(netns, timeoutMs);
  }
  return stale;
}

/**
 * Whether `pid` is a live process: it exists and is not a zombie. A killed process stays a zombie
 * until its parent reaps it, and orphans are re-parented to PID 1, which on some machines (a
 * firecracker VM's init, a container's entrypoint) never reaps: such a zombie is dead for us.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but is not ours to signal (only possible when not root): alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: `pid (comm) state ...`; comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
