// Unit test of reading `bridge link show` (no root needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardingPorts } from './bridge_ready.js';
import { parseNetnsList, ownerPid } from './namespaces.js';

test('forwarding ports are read from `bridge link show`', () => {
  const output = [
    '3: p0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state forwarding priority 32 cost 2 ',
    '4: p1@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 master br0 state disabled priority 32 cost 2 ',
  ].join('\n');
  assert.deepEqual(forwardingPorts(output), ['p0']);
});

test('namespace names: `ip netns list` and the owner pid in ours', () => {
  assert.deepEqual(parseNetnsList('gnet12-0-a (id: 3)\nother\n\n'), ['gnet12-0-a', 'other']);
  assert.equal(ownerPid('gnet12-0-br'), 12);
  assert.equal(ownerPid('slx-br'), null);
});
