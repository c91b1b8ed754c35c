// Whether this machine can build host networks, and the skip-or-fail policy every infra test
// shares: where something is missing a test skips with one line saying what it needs, except
// under GNET_INFRA_REQUIRED=1 (CI sets it), where that line fails the test instead, so CI can
// never go green by skipping.
import { runCommand } from './command.js';

/** Bound on each probe command, in milliseconds: these are instant when they work. */
const PROBE_TIMEOUT_MS = 10_000;

let cached: Promise<string | null> | null = null;

/**
 * Null when {@link createHostNetwork} can work here, else one line saying what is missing: not
 * root, no `ip` / `tc` / `bridge` / `nsenter`, or a kernel without network namespaces, veth, bridges or
 * tbf. Beyond looking for the tools, it builds (and removes) a throwaway pair of namespaces
 * joined by a veth with tbf on it, since root in a container may still lack the capability.
 * The answer is computed once per process.
 */
export function netnsUnavailableReason(): Promise<string | null> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux, but this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root, e.g. in CI or a VM)';
  for (const [tool, args, pkg] of [
    ['ip', ['-V'], 'iproute2'],
    ['tc', ['-V'], 'iproute2'],
    ['bridge', ['-V'], 'iproute2'],
    ['nsenter', ['--version'], 'util-linux'],
  ] as const) {
    const found = await runCommand(tool, args, { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => null);
    if (found === null || found.code !== 0) return `network namespaces need \`${tool}\` on PATH (apt-get install ${pkg})`;
  }
  // Two namespaces joined by a veth, tbf on one end: everything createHostNetwork asks of the kernel.
  const a = `gnet${process.pid}-probe-a`;
  const b = `gnet${process.pid}-probe-b`;
  const steps: Array<[string, string[], string]> = [
    ['ip', ['netns', 'add', a], 'cannot create a network namespace'],
    ['ip', ['netns', 'add', b], 'cannot create a network namespace'],
    ['ip', ['-n', a, 'link', 'add', 'br0', 'type', 'bridge'], 'the kernel has no bridge support'],
    ['ip', ['-n', a, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b], 'the kernel has no veth support'],
    [
      'tc',
      ['-n', b, 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '100mbit', 'burst', '65536', 'latency', '50ms'],
      'the kernel has no tbf qdisc (sch_tbf)',
    ],
  ];
  try {
    for (const [tool, args, missing] of steps) {
      const result = await runCommand(tool, args, { timeoutMs: PROBE_TIMEOUT_MS }).catch((err: Error) => ({
        code: -1,
        stderr: err.message,
      }));
      if (result.code !== 0) return `${missing}: \`${tool} ${args.join(' ')}\` said ${result.stderr.trim().split('\n')[0] ?? ''}`;
    }
    return null;
  } finally {
    for (const ns of [a, b]) await runCommand('ip', ['netns', 'del', ns], { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => undefined);
  }
}

/** What {@link requireOrSkip} needs of a test context (node:test's `TestContext` fits). */
export interface SkippableTest {
  skip(message?: string): void;
}

/** Thrown by {@link requireOrSkip} under GNET_INFRA_REQUIRED=1 when something the test needs is missing. */
export class InfraRequiredError extends Error {
  override readonly name = 'InfraRequiredError';
  readonly code = 'INFRA_REQUIRED';
}

/**
 * The skip policy of every infra test. `reason` null: returns true (run the test). Otherwise
 * skips `t` with `reason` and returns false, or, when `GNET_INFRA_REQUIRED=1` (CI), throws
 * {@link InfraRequiredError} with `reason` so the test fails.
 *
 * @example
 * test('two hosts talk', async (t) => {
 *   if (!requireOrSkip(t, await netnsUnavailableReason())) return;
 *   ...
 * });
 */
export function requireOrSkip(
  t: SkippableTest,
  reason: string | null,
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  if (reason === null) return true;
  if (env['GNET_INFRA_REQUIRED'] === '1') {
    throw new InfraRequiredError(`${reason} (GNET_INFRA_REQUIRED=1: this test must run here, not skip)`);
  }
  t.skip(reason);
  return false;
}
