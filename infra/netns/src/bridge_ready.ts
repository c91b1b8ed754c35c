// Waits until every port of the bridge forwards. A port is `disabled` until both ends of its veth
// are up, and a test that dials right after setup must not race that; with STP off (the default)
// a port goes straight to `forwarding` once it has carrier, so this normally passes at once.
import { runChecked } from './command.js';
import { NetnsError } from './errors.js';

/** Ports in `bridge link show` output that are in state `forwarding`. */
export function forwardingPorts(output: string): string[] {
  return [...output.matchAll(/^\d+: ([^@:\s]+)[^\n]* state forwarding\b/gm)].map((m) => m[1]!);
}

/** Resolves when `ports` ports of `br0` in `bridgeNetns` forward; rejects with `NETNS_TIMEOUT` after `timeoutMs`. */
export async function waitForBridgePorts(bridgeNetns: string, ports: number, timeoutMs: number, commandTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let output = '';
  while (Date.now() < deadline) {
    output = await runChecked('bridge', ['-n', bridgeNetns, 'link', 'show'], commandTimeoutMs);
    if (forwardingPorts(output).length >= ports) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new NetnsError(
    'NETNS_TIMEOUT',
    `the bridge in ${bridgeNetns} did not forward on all ${ports} ports within ${timeoutMs} ms; \`bridge link show\` said: ${output.trim()}`,
  );
}
