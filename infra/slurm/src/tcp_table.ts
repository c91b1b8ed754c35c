// Established TCP connections of a network namespace, read from /proc/<pid>/net/tcp of any
// process inside it (the kernel's table for that process's namespace): how the Slurm test sees
// that workers dialed each other's own addresses, without running anything in the namespaces.
import { readFile } from 'node:fs/promises';

export interface TcpConnection {
  local: { address: string; port: number };
  remote: { address: string; port: number };
}

/** `st` of an established connection in /proc/net/tcp (include/net/tcp_states.h). */
const TCP_ESTABLISHED = '01';

/** `0100007F:1F90` (little-endian IPv4, big-endian port, both hex) → 127.0.0.1 and 8080. */
function endpoint(hex: string): { address: string; port: number } {
  const [ip, port] = hex.split(':') as [string, string];
  const bytes = [6, 4, 2, 0].map((i) => parseInt(ip.slice(i, i + 2), 16));
  return { address: bytes.join('.'), port: parseInt(port, 16) };
}

/** The established IPv4 connections in the text of /proc/<pid>/net/tcp. */
export function parseEstablished(text: string): TcpConnection[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[3] === TCP_ESTABLISHED)
    .map((f) => ({ local: endpoint(f[1]!), remote: endpoint(f[2]!) }));
}

/** The established connections in the namespace of process `pid`; none when it has exited. */
export async function establishedIn(pid: number): Promise<TcpConnection[]> {
  try {
    return parseEstablished(await readFile(`/proc/${pid}/net/tcp`, 'utf8'));
  } catch {
    return [];
  }
}

/** `a:1 -> b:2`, a key for sets of connections seen. */
export function connectionKey(c: TcpConnection): string {
  return `${c.local.address}:${c.local.port} -> ${c.remote.address}:${c.remote.port}`;
}

/**
 * Samples the established connections of the namespaces of `pids` every `everyMs` until stop(),
 * which returns each connection seen at least once (a ring connection lasts a whole group
 * generation, many samples long).
 */
export function watchConnections(pids: readonly number[], everyMs: number): { stop(): TcpConnection[] } {
  const seen = new Map<string, TcpConnection>();
  const sample = async (): Promise<void> => {
    for (const pid of pids) for (const c of await establishedIn(pid)) seen.set(connectionKey(c), c);
  };
  const timer = setInterval(() => void sample(), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return [...seen.values()];
    },
  };
}
