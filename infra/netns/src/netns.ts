// Several "hosts" on one machine, each with its own IPv4 address, for tests that must cross a
// real network: one Linux network namespace per host, and one more holding a bridge (a switch)
// that every host's veth cable plugs into. Nothing is added to the machine's own network
// namespace: each veth is created inside the bridge namespace with its other end created
// directly inside the host's (`ip -n <br> link add p0 type veth peer name eth0 netns <host>`).
// Links can be shaped with tc's tbf (shaping.ts). Everything made is removed by destroy(), on
// failure, and at process exit or SIGINT/SIGTERM (exit_cleanup.ts). Layout, for a network n of
// process pid with hosts a and b:
//
//   netns gnet<pid>-<n>-br:  br0 ── p0 (tbf) ── p1 (tbf)       (no address)
//   netns gnet<pid>-<n>-a:   lo, eth0 (tbf) 10.x.y.1/24       (eth0 is p0's other end)
//   netns gnet<pid>-<n>-b:   lo, eth0 (tbf) 10.x.y.2/24
import { spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { netnsUnavailableReason } from './availability.js';
import { collectUntilExit, commandLine, killGroup, killPid, runChecked, type CommandResult } from './command.js';
import { NetnsError } from './errors.js';
import { registerExitCleanup } from './exit_cleanup.js';
import { deleteNetns, destroyNetnsSync, emptyNetns, networkId, pidsIn, removeStaleNetworks } from './namespaces.js';
import { tbfCommand, tbfSettings } from './shaping.js';
import { chooseSubnet, formatIpv4, parseSubnet, prefixesInIpOutput, type Prefix } from './subnet.js';
import { waitForBridgePorts } from './bridge_ready.js';

export interface HostSpec {
  /** Unique within the network: letters, digits, `_`, `-` and `.`, at most 32 characters. */
  name: string;
  /** Egress shaping of this host's link, e.g. 1000 for 1 Gbit; absent: unshaped */
  rateMbit?: number;
}

export interface NetHost {
  name: string;
  /** netns name, usable with `ip netns exec` and /run/netns/<netns> */
  netns: string;
  /** IPv4 address on the bridge */
  address: string;
}

export interface HostNetwork {
  hosts: NetHost[];
  /** The /24 the hosts' addresses are in, e.g. `10.64.3.0/24`. */
  subnet: string;
  /** The namespace holding the bridge (`br0`) and each host's port `p<i>`. */
  bridgeNetns: string;
  /** @throws NetnsError `NETNS_UNKNOWN_HOST` */
  host(name: string): NetHost;
  /**
   * Spawns a command inside the host's namespace (`nsenter --net`, which keeps this machine's
   * mounts, /sys and cgroups, unlike `ip netns exec`), tracked for cleanup. It always leads a new
   * process group (`detached` is forced), so destroy() can kill it with everything it forked.
   */
  spawn(host: string, command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /**
   * Runs a command to completion inside the host's namespace. `env` replaces the environment
   * (as in child_process); default this process's. Rejects with `NETNS_TIMEOUT` after `timeoutMs`
   * (default 30 s), the process group killed first.
   */
  exec(
    host: string,
    command: string,
    args: string[],
    options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv },
  ): Promise<{ stdout: string; stderr: string; code: number | null }>;
  /**
   * Kills every process it spawned and every process left in its namespaces (SIGTERM, then
   * SIGKILL after a grace period) and deletes the namespaces. Idempotent.
   *
   * @throws NetnsError `NETNS_CLEANUP_FAILED` naming what could not be removed.
   */
  destroy(): Promise<void>;
}

/** Options of {@link createHostNetwork}. */
export interface CreateHostNetworkOptions {
  hosts: HostSpec[];
  /** default: a /24 chosen to not clash */
  subnet?: string;
  /** Bound on each `ip` / `tc` call, in milliseconds; default 15 s (they take milliseconds). */
  commandTimeoutMs?: number;
  /** How long destroy() waits after SIGTERM before SIGKILL, in milliseconds; default 3 s. */
  killGraceMs?: number;
  /** Overrides of the tbf settings of shaped links (default: tbfSettings(rateMbit)), for experiments with queue depth and burst. */
  tbf?: { burstBytes?: number; latencyMs?: number };
  /** MTU of every link (both veth ends and the bridge), in bytes; default 1500, Ethernet's and veth's. 9000: jumbo frames. */
  mtu?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
const DEFAULT_KILL_GRACE_MS = 3_000;
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Longest wait for every bridge port to forward after setup, in milliseconds. */
const BRIDGE_READY_TIMEOUT_MS = 10_000;
const HOST_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

/** Networks made by this process so far: the `<n>` of `gnet<pid>-<n>`. */
let networksMade = 0;
/** Subnets of this process's live networks, so two of them never share one. */
const liveSubnets = new Set<number>();
/** Namespaces of this process's live networks: any other `gnet<our pid>-` namespace is a dead process's. */
const liveNetns = new Set<string>();

/**
 * Builds hosts in network namespaces on a bridge of their own.
 *
 * @example
 * const net = await createHostNetwork({ hosts: [{ name: 'a', rateMbit: 1000 }, { name: 'b', rateMbit: 1000 }] });
 * try {
 *   const server = net.spawn('a', 'node', ['server.js', '--host', net.host('a').address]);
 *   await net.exec('b', 'curl', [`http://${net.host('a').address}:8080/`]);
 * } finally {
 *   await net.destroy();
 * }
 * @throws NetnsError `NETNS_UNAVAILABLE` (see netnsUnavailableReason), `NETNS_BAD_SPEC`, or the
 *   failing command's error (everything made so far is removed first).
 */
export async function createHostNetwork(options: CreateHostNetworkOptions): Promise<HostNetwork> {
  checkSpecs(options.hosts);
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new NetnsError(
      'NETNS_BAD_SPEC',
      `\`mtu\` passed to createHostNetwork must be an integer from 576 to 65535 bytes, but got ${String(options.mtu)}`,
    );
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const requested = options.subnet === undefined ? null : parseSubnet(options.subnet);
  const reason = await netnsUnavailableReason();
  if (reason !== null) throw new NetnsError('NETNS_UNAVAILABLE', reason);
  await removeStaleNetworks(commandTimeoutMs, liveNetns);
  const id = networkId(process.pid, networksMade);
  networksMade += 1;
  const subnet =
    requested ??
    chooseSubnet(
      [...(await machinePrefixes(commandTimeoutMs)), ...[...liveSubnets].map((base) => ({ base, length: 24 }))],
      process.pid * 97 + networksMade,
    );
  const hosts = options.hosts.map((spec, i) => ({
    name: spec.name,
    netns: `${id}-${spec.name}`,
    address: formatIpv4(subnet.base + i + 1),
  }));
  const network = new Network(id, subnet, hosts, commandTimeoutMs, options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
  try {
    await network.build(options.hosts, mtu, options.tbf ?? {});
  } catch (err) {
    await network.destroy().catch(() => undefined);
    throw err;
  }
  return network;
}

function checkSpecs(hosts: readonly HostSpec[]): void {
  if (hosts.length < 1 || hosts.length > 254) {
    throw new NetnsError(
      'NETNS_BAD_SPEC',
      `\`hosts\` passed to createHostNetwork must hold 1 to 254 hosts (one /24), but got ${hosts.length}`,
    );
  }
  const seen = new Set<string>();
  for (const spec of hosts) {
    // `br` is the bridge namespace's suffix.
    if (!HOST_NAME.test(spec.name) || spec.name === 'br') {
      throw new NetnsError(
        'NETNS_BAD_SPEC',
        `host name must be 1-32 letters, digits, '_', '-' or '.' and not 'br', but got ${JSON.stringify(spec.name)}`,
      );
    }
    if (seen.has(spec.name)) throw new NetnsError('NETNS_BAD_SPEC', `host names must be unique, but '${spec.name}' appears twice`);
    seen.add(spec.name);
    if (spec.rateMbit !== undefined && !(spec.rateMbit > 0 && Number.isFinite(spec.rateMbit))) {
      throw new NetnsError(
        'NETNS_BAD_SPEC',
        `\`rateMbit\` of host '${spec.name}' must be a positive number of Mbit/s, but got ${String(spec.rateMbit)}`,
      );
    }
  }
}

/** Prefixes the machine's own namespace has addresses or routes in. */
async function machinePrefixes(timeoutMs: number): Promise<Prefix[]> {
  const [addr, route] = await Promise.all([
    runChecked('ip', ['-o', '-4', 'addr', 'show'], timeoutMs),
    runChecked('ip', ['-4', 'route', 'show', 'table', 'all'], timeoutMs),
  ]);
  return prefixesInIpOutput(addr, route);
}

class Network implements HostNetwork {
  readonly bridgeNetns: string;
  readonly subnet: string;
  /** Namespaces created so far (the bridge's first), all deleted by destroy(). */
  private readonly made: string[] = [];
  /** Process groups of spawned commands (each leads its own), killed by destroy() even after their leader exited. */
  private readonly groups = new Set<number>();
  private readonly running = new Set<ChildProcess>();
  private destroying: Promise<void> | null = null;
  private readonly unregister: () => void;

  constructor(
    readonly id: string,
    private readonly prefix: Prefix,
    readonly hosts: NetHost[],
    private readonly commandTimeoutMs: number,
    private readonly killGraceMs: number,
  ) {
    this.bridgeNetns = `${id}-br`;
    this.subnet = `${formatIpv4(prefix.base)}/24`;
    liveSubnets.add(prefix.base);
    this.unregister = registerExitCleanup(() => this.destroySync());
  }

  /** Creates the namespaces, the bridge, a veth per host, addresses and shaping. */
  async build(specs: readonly HostSpec[], mtu: number, tbf: { burstBytes?: number; latencyMs?: number }): Promise<void> {
    const br = this.bridgeNetns;
    await this.addNetns(br);
    await this.ip(['-n', br, 'link', 'add', 'br0', 'mtu', String(mtu), 'type', 'bridge']);
    await this.ip(['-n', br, 'link', 'set', 'br0', 'up']);
    for (const [i, host] of this.hosts.entries()) {
      const port = `p${i}`;
      await this.addNetns(host.netns);
      await this.ip([
        '-n',
        br,
        'link',
        'add',
        port,
        'mtu',
        String(mtu),
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'mtu',
        String(mtu),
        'netns',
        host.netns,
      ]);
      await this.ip(['-n', br, 'link', 'set', port, 'master', 'br0', 'up']);
      await this.ip(['-n', host.netns, 'link', 'set', 'lo', 'up']);
      await this.ip(['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      await this.ip(['-n', host.netns, 'link', 'set', 'eth0', 'up']);
      const rateMbit = specs[i]!.rateMbit;
      if (rateMbit !== undefined) {
        const settings = { ...tbfSettings(rateMbit), ...tbf };
        await runChecked('tc', tbfCommand(host.netns, 'eth0', settings), this.commandTimeoutMs);
        await runChecked('tc', tbfCommand(br, port, settings), this.commandTimeoutMs);
      }
    }
    await waitForBridgePorts(br, this.hosts.length, BRIDGE_READY_TIMEOUT_MS, this.commandTimeoutMs);
  }

  host(name: string): NetHost {
    const found = this.hosts.find((h) => h.name === name);
    if (found === undefined) {
      throw new NetnsError(
        'NETNS_UNKNOWN_HOST',
        `no host '${name}' in network ${this.id} (hosts: ${this.hosts.map((h) => h.name).join(', ')})`,
      );
    }
    return found;
  }

  spawn(host: string, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const { netns } = this.host(host);
    if (this.destroying !== null)
      throw new NetnsError('NETNS_DESTROYED', `spawn('${host}', '${command}') after destroy() of network ${this.id}`);
    // nsenter joins the namespace and execs the command (no fork: the child's pid is the command's).
    const child = spawnChild('nsenter', [`--net=/run/netns/${netns}`, '--', command, ...args], { ...options, detached: true });
    if (child.pid !== undefined) {
      this.groups.add(child.pid);
      this.running.add(child);
    }
    child.once('exit', () => this.running.delete(child));
    return child;
  }

  exec(
    host: string,
    command: string,
    args: string[],
    options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<CommandResult> {
    const child = this.spawn(host, command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    return collectUntilExit(child, `${commandLine(command, args)}\` on host \`${host}`, options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    // 1. Ask politely: SIGTERM to every group we started and every process in our namespaces
    //    (daemons that forked away from their group, like slurmd, are only found there).
    for (const pgid of this.groups) killGroup(pgid, 'SIGTERM');
    for (const netns of this.made) for (const pid of await pidsIn(netns, this.commandTimeoutMs)) killPid(pid, 'SIGTERM');
    await this.waitForQuiet(this.killGraceMs);
    // 2. Then SIGKILL whatever is left, and make sure each namespace is empty.
    for (const pgid of this.groups) killGroup(pgid, 'SIGKILL');
    const left: string[] = [];
    for (const netns of this.made) {
      const stuck = await emptyNetns(netns, 'SIGKILL', this.commandTimeoutMs);
      if (stuck.length > 0) left.push(`processes ${stuck.join(', ')} in ${netns}`);
    }
    // 3. Delete the namespaces, hosts first (each takes its veth pair along), the bridge last.
    for (const netns of [...this.made].reverse()) {
      if (!(await deleteNetns(netns, this.commandTimeoutMs))) left.push(`namespace ${netns}`);
    }
    this.unregister();
    liveSubnets.delete(this.prefix.base);
    for (const netns of this.made) liveNetns.delete(netns);
    if (left.length > 0) throw new NetnsError('NETNS_CLEANUP_FAILED', `destroy() of network ${this.id} left ${left.join('; ')}`);
  }

  /** Waits until every spawned child has exited and the namespaces hold no process, or `ms` pass. */
  private async waitForQuiet(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.running.size === 0) {
        const counts = await Promise.all(this.made.map((netns) => pidsIn(netns, this.commandTimeoutMs)));
        if (counts.every((pids) => pids.length === 0)) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The exit handler's version of destroy(): synchronous, SIGKILL at once, best effort. */
  private destroySync(): void {
    for (const pgid of this.groups) killGroup(pgid, 'SIGKILL');
    for (const netns of [...this.made].reverse()) destroyNetnsSync(netns, 2000);
  }

  private async addNetns(netns: string): Promise<void> {
    // Recorded before the call: a timed-out `ip netns add` may still have made it.
    this.made.push(netns);
    liveNetns.add(netns);
    await this.ip(['netns', 'add', netns]);
  }

  private async ip(args: string[]): Promise<void> {
    await runChecked('ip', args, this.commandTimeoutMs);
  }
}
