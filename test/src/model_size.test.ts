// The coordinator plans gradient buckets from its own tfjs-free mirror of GoogLeNet's parameter
// count (it may not load @gnet/model). This checks the mirror, through `coordinator:serve
// --print-plan`, against @gnet/model's countParams for widths whose channel rounding differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countParams } from '@gnet/model';
import { COORDINATOR_ENTRY } from './distributed_group.js';
import { runApp } from './run_process.js';

const CASES: { width: number; auxHeads: boolean; batchNorm: boolean }[] = [
  { width: 0.0625, auxHeads: true, batchNorm: true },
  { width: 0.3, auxHeads: false, batchNorm: true },
  { width: 0.7, auxHeads: true, batchNorm: false },
  { width: 1.37, auxHeads: true, batchNorm: true },
];

test('coordinator --print-plan agrees with @gnet/model on parameter and buffer counts', { timeout: 120_000 }, async () => {
  await Promise.all(
    CASES.map(async (c) => {
      const flags = [
        '--print-plan',
        '--width',
        String(c.width),
        ...(c.auxHeads ? [] : ['--no-aux-heads']),
        ...(c.batchNorm ? [] : ['--no-batch-norm']),
        '--bucket-bytes',
        '1048576',
      ];
      const result = await runApp(COORDINATOR_ENTRY, flags, { timeoutMs: 100_000 });
      assert.equal(result.code, 0, result.stderr);
      const plan = result.logs[0] as { paramElements: number; bufferElements: number; buckets: { offset: number; length: number }[] };
      const expected = countParams({ width: c.width, auxHeads: c.auxHeads, batchNorm: c.batchNorm });
      assert.deepEqual([plan.paramElements, plan.bufferElements], [expected.total, expected.buffers], JSON.stringify(c));
      const last = plan.buckets.at(-1)!;
      assert.equal(last.offset + last.length, expected.total);
      assert.ok(plan.buckets.every((b) => b.length <= 1048576 / 4));
    }),
  );
});
