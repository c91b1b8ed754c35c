// /proc/<pid>/net/tcp parsing: little-endian IPv4, hex ports, only established connections kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionKey, establishedIn, parseEstablished } from './tcp_table.js';

const TABLE = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000:7CFC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1060 1 00000000de3379bd 100 0 0 10 0',
  '   1: 0200400A:B0F2 0300400A:A1B4 01 00000000:00000000 00:00000000 00000000     0        0 7920 1 000000008c2210a9 20 4 30 10 -1',
  '   2: 0200400A:8C3A 0200400A:7CFC 06 00000000:00000000 03:00000a3c 00000000     0        0 0 3 0000000000000000',
  '',
].join('\n');

test('parseEstablished keeps established connections (st 01) and decodes addresses and ports', () => {
  const connections = parseEstablished(TABLE);
  assert.deepEqual(connections, [{ local: { address: '10.64.0.2', port: 45298 }, remote: { address: '10.64.0.3', port: 41396 } }]);
  assert.equal(connectionKey(connections[0]!), '10.64.0.2:45298 -> 10.64.0.3:41396');
});

test("establishedIn reads this process's namespace, and nothing for a process that is gone", async () => {
  assert.ok(Array.isArray(await establishedIn(process.pid)));
  assert.deepEqual(await establishedIn(2 ** 22 + 1), []);
});
