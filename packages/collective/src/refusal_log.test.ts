// RefusalLog: per interval, the first refusal of each code in full, the rest in one summary with
// counts per code and the most refused addresses; every refusal accounted for exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusalLog } from './refusal_log.js';

interface Line {
  fields: Record<string, unknown>;
  msg: string;
}

function capture(): { lines: Line[]; log: { warn(fields: Record<string, unknown>, msg: string): void } } {
  const lines: Line[] = [];
  return { lines, log: { warn: (fields, msg) => lines.push({ fields, msg }) } };
}

test('a flood gives one line per code and one summary per interval; a lone refusal is logged at once', async () => {
  const { lines, log } = capture();
  const refusals = new RefusalLog(log, { intervalMs: 150, topRemotes: 2 });
  refusals.record('PROTO_AUTH', '10.0.0.1', 'hello refused', { reason: 'wrong proof' });
  assert.deepEqual(lines, [{ fields: { reason: 'wrong proof', code: 'PROTO_AUTH', remote: '10.0.0.1' }, msg: 'hello refused' }]);
  for (let i = 0; i < 100; i += 1) refusals.record('ADDRESS_LIMIT', `10.0.0.${2 + (i % 3)}`, 'connection refused before authentication');
  refusals.record('PROTO_AUTH', '10.0.0.1', 'hello refused');
  assert.equal(lines.length, 2, 'only the first refusal of each code is logged during the interval');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[2], {
    msg: 'more connections refused',
    fields: {
      intervalMs: 150,
      refused: { ADDRESS_LIMIT: 99, PROTO_AUTH: 1 },
      total: 100,
      topRemotes: [
        { remote: '10.0.0.3', refused: 33 },
        { remote: '10.0.0.4', refused: 33 },
      ],
    },
  });
  assert.deepEqual(Object.fromEntries(refusals.counts), { PROTO_AUTH: 2, ADDRESS_LIMIT: 100 });
  // A new interval: the next refusal is shown in full again, and an interval with nothing left
  // to summarise ends without a line.
  refusals.record('PROTO_AUTH', '10.0.0.9', 'hello refused');
  assert.equal(lines.length, 4);
  await new Promise((r) => setTimeout(r, 300));
  refusals.close();
  assert.equal(lines.length, 4);
});

test('without a logger it only counts', () => {
  const refusals = new RefusalLog(null);
  refusals.record('PROTO_AUTH', '10.0.0.1', 'hello refused');
  refusals.close();
  assert.deepEqual(Object.fromEntries(refusals.counts), { PROTO_AUTH: 1 });
});
