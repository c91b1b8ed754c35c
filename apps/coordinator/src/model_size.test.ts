// The mirror of @gnet/model's parameter count, pinned to the same values packages/model pins
// against the variables createGoogLeNet actually builds (count_params.test.ts). The integration
// test test/src/model_size.test.ts compares it with countParams for more widths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelSize } from './model_size.js';

test('pinned counts equal those of the built model', () => {
  const cases: [{ width: number; auxHeads: boolean; batchNorm: boolean }, { params: number; buffers: number }][] = [
    [
      { width: 1, auxHeads: true, batchNorm: true },
      { params: 10_222_398, buffers: 14_816 },
    ],
    [
      { width: 1, auxHeads: false, batchNorm: true },
      { params: 5_871_914, buffers: 14_304 },
    ],
    [
      { width: 1, auxHeads: true, batchNorm: false },
      { params: 10_214_990, buffers: 0 },
    ],
    [
      { width: 1, auxHeads: false, batchNorm: false },
      { params: 5_864_762, buffers: 0 },
    ],
    [
      { width: 0.25, auxHeads: true, batchNorm: true },
      { params: 648_822, buffers: 3_704 },
    ],
  ];
  for (const [model, expected] of cases) assert.deepEqual(modelSize(model), expected, JSON.stringify(model));
});
