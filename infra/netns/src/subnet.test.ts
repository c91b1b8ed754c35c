// Unit tests of subnet parsing and choice (no root needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsError } from './errors.js';
import { chooseSubnet, formatIpv4, overlaps, parsePrefix, parseSubnet, prefixesInIpOutput } from './subnet.js';

test('prefixes parse, clear their host bits and compare', () => {
  assert.deepEqual(parsePrefix('10.1.2.77/24'), { base: parsePrefix('10.1.2.0/24')!.base, length: 24 });
  assert.equal(formatIpv4(parsePrefix('192.168.5.9/16')!.base), '192.168.0.0');
  assert.equal(parsePrefix('10.1.2.300/24'), null);
  assert.equal(parsePrefix('10.1.2.0/33'), null);
  assert.ok(overlaps(parsePrefix('10.0.0.0/8')!, parsePrefix('10.64.3.0/24')!));
  assert.ok(!overlaps(parsePrefix('10.64.2.0/24')!, parsePrefix('10.64.3.0/24')!));
});

test('a requested subnet must be an IPv4 /24', () => {
  assert.equal(formatIpv4(parseSubnet('10.9.8.1/24').base), '10.9.8.0');
  for (const bad of ['10.9.8.0/25', '10.9.8.0', 'fd00::/64', '']) {
    assert.throws(
      () => parseSubnet(bad),
      (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_BAD_SPEC' && err.message.includes(`'${bad}'`),
    );
  }
});

test('the default subnet avoids every address and route of the machine', () => {
  const addr = '2: eth0    inet 10.64.0.5/24 brd 10.64.0.255 scope global eth0\n1: lo    inet 127.0.0.1/8 scope host lo';
  const route = 'default via 192.0.2.1 dev eth0\n10.64.1.0/24 dev eth1 proto kernel\n10.64.2.7 dev eth2';
  const taken = prefixesInIpOutput(addr, route);
  assert.equal(taken.length, 4);
  assert.equal(formatIpv4(chooseSubnet(taken, 0).base), '10.64.3.0');
  // The seed moves the start; a wide route covering the pool's start is skipped past.
  assert.equal(formatIpv4(chooseSubnet([parsePrefix('10.64.0.0/22')!], 1).base), '10.64.4.0');
  assert.throws(
    () => chooseSubnet([parsePrefix('10.0.0.0/8')!], 0),
    (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_BAD_SPEC',
  );
});
