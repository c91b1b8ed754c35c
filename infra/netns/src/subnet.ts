// IPv4 /24 subnets for a host network: parsing one a caller asked for, and choosing one that
// overlaps nothing the machine routes. The namespaces are not connected to the machine's own
// network, so a clash could not misroute anything; avoiding one keeps `ip` output and logs
// unambiguous (a host at 10.0.0.2 while the machine also has 10.0.0.0/24 would confuse a reader).
import { NetnsError } from './errors.js';

/** An IPv4 prefix as a 32-bit unsigned base and a length. */
export interface Prefix {
  base: number;
  length: number;
}

/** `a.b.c.d` to a 32-bit unsigned integer, or null. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** 32-bit unsigned integer to `a.b.c.d`. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** `a.b.c.d/len` (or a bare address: /32) to a prefix with its host bits cleared, or null. */
export function parsePrefix(text: string): Prefix | null {
  const [address, lengthText, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined) return null;
  const value = parseIpv4(address);
  const length = lengthText === undefined ? 32 : /^\d{1,2}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (value === null || !(length >= 0 && length <= 32)) return null;
  const size = 2 ** (32 - length);
  return { base: value - (value % size), length };
}

/** True when the two prefixes share an address. */
export function overlaps(a: Prefix, b: Prefix): boolean {
  const size = 2 ** (32 - Math.min(a.length, b.length));
  return Math.floor(a.base / size) === Math.floor(b.base / size);
}

/**
 * The caller's `subnet` checked: an IPv4 /24 such as `10.1.2.0/24` (host bits may be set; they
 * are cleared). Hosts get .1, .2, ... in order, so a /24 holds up to 254 of them.
 */
export function parseSubnet(text: string): Prefix {
  const prefix = parsePrefix(text);
  if (prefix === null || prefix.length !== 24 || !text.includes('/')) {
    throw new NetnsError(
      'NETNS_BAD_SPEC',
      `\`subnet\` passed to createHostNetwork must be an IPv4 /24 such as '10.1.2.0/24', but got '${text}'`,
    );
  }
  return prefix;
}

/**
 * Every IPv4 prefix in `ip -o -4 addr` and `ip -4 route` output (addresses with their prefix
 * lengths, route destinations); `default` routes are skipped (they overlap everything).
 */
export function prefixesInIpOutput(addrOutput: string, routeOutput: string): Prefix[] {
  const found: Prefix[] = [];
  for (const m of addrOutput.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) {
    const p = parsePrefix(m[1]!);
    if (p !== null) found.push(p);
  }
  for (const line of routeOutput.split('\n')) {
    const destination = line.trim().split(/\s+/)[0] ?? '';
    if (destination === '' || destination === 'default') continue;
    const p = parsePrefix(destination);
    if (p !== null) found.push(p);
  }
  return found;
}

/** 10.64.0.0/10 holds 16,384 /24s: the space the default subnets come from (rarely used by real networks, unlike 10.0.x and 192.168.x). */
const POOL_BASE = parseIpv4('10.64.0.0')!;
const POOL_SIZE = 16_384;

/**
 * A /24 inside 10.64.0.0/10 that overlaps none of `taken`, starting at a place derived from
 * `seed` (the pid and a counter) so that networks of different processes tend to differ too.
 */
export function chooseSubnet(taken: readonly Prefix[], seed: number): Prefix {
  for (let i = 0; i < POOL_SIZE; i += 1) {
    const candidate = { base: POOL_BASE + ((seed + i) % POOL_SIZE) * 256, length: 24 };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  throw new NetnsError(
    'NETNS_BAD_SPEC',
    'createHostNetwork found no free /24 in 10.64.0.0/10 (every one overlaps a route or address of this machine); pass `subnet`',
  );
}
