import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeGrowth, summarizeWorker, type StepSample } from './soak_summary.js';

const MiB = 1024 * 1024;

/** `n` steps 100 ms apart; `at(step)` gives numTensors and RSS in MiB. */
function samples(n: number, at: (step: number) => { numTensors: number; rssMiB: number }): StepSample[] {
  return Array.from({ length: n }, (_, i) => {
    const { numTensors, rssMiB } = at(i + 1);
    return { step: i + 1, numTensors, rssBytes: rssMiB * MiB, heapUsedBytes: 10 * MiB, timeMs: 1000 + 100 * (i + 1) };
  });
}

test('a flat run after warm-up is within targets, whatever warm-up did', () => {
  // Warm-up creates tensors and grows RSS; both settle at step 10.
  const s = summarizeWorker(
    samples(50, (step) => ({ numTensors: Math.min(step, 10) * 3, rssMiB: step < 10 ? 100 + step : 200 })),
    10,
    5,
    5,
  );
  assert.equal(s.steps, 50);
  assert.equal(s.numTensorsMin, 30);
  assert.equal(s.numTensorsMax, 30);
  assert.equal(s.numTensorsFlat, true);
  assert.equal(s.rssWarmBytes, 200 * MiB);
  assert.equal(s.rssGrowthPct, 0);
  assert.equal(s.rssMedianGrowthPct, 0);
  assert.equal(s.msPerStep, 100);
  assert.equal(s.withinTargets, true);
});

test('one leaked tensor after warm-up breaks flatness', () => {
  const s = summarizeWorker(
    samples(50, (step) => ({ numTensors: step === 49 ? 31 : 30, rssMiB: 200 })),
    10,
    5,
    5,
  );
  assert.equal(s.numTensorsMax, 31);
  assert.equal(s.numTensorsFlat, false);
  assert.equal(s.withinTargets, false);
});

test('RSS growth of 10% or more misses the target; just under passes', () => {
  // Steady growth: the last 5 steps' median is 10% above the first 5 after warm-up.
  const grown = summarizeWorker(
    samples(20, (step) => ({ numTensors: 5, rssMiB: step <= 15 ? 100 : 110 })),
    5,
    5,
    5,
  );
  assert.equal(grown.rssMedianGrowthPct, 10);
  assert.equal(grown.rssFloorGrowthPct, 10);
  assert.equal(grown.withinTargets, false);
  const under = summarizeWorker(
    samples(20, (step) => ({ numTensors: 5, rssMiB: step <= 15 ? 100 : 109.9 })),
    5,
    5,
    5,
  );
  assert.ok(Math.abs(under.rssMedianGrowthPct - 9.9) < 1e-9);
  assert.equal(under.withinTargets, true);
});

test('a single spike at the last step shows in the point figures but not in the verdict', () => {
  // Rank 0 around a checkpoint: RSS jumps for a step or two and falls back.
  const s = summarizeWorker(
    samples(30, (step) => ({ numTensors: 5, rssMiB: step === 30 ? 150 : 100 })),
    10,
    5,
    5,
  );
  assert.equal(s.rssGrowthPct, 50);
  assert.equal(s.rssMaxBytes, 150 * MiB);
  assert.equal(s.rssEndMedianBytes, 100 * MiB);
  assert.equal(s.rssMedianGrowthPct, 0);
  assert.equal(s.withinTargets, true);
});

test('no verdict without steps after warm-up', () => {
  assert.throws(
    () =>
      summarizeWorker(
        samples(10, () => ({ numTensors: 5, rssMiB: 100 })),
        10,
        5,
        5,
      ),
    {
      name: 'RangeError',
      message: 'summarizeWorker needs more samples (10) than warm-up steps (10), and warm-up >= 1',
    },
  );
  assert.throws(() => summarizeGrowth([1, 2, 3], 0, 1, 1), { name: 'RangeError', message: /warm-up steps \(0\)/ });
});

test('coordinator growth is measured from the warm-up step to the last', () => {
  const growth = summarizeGrowth([50, 80, 100, 104, 112], 3, 1, 1);
  assert.equal(growth.warmBytes, 100);
  assert.equal(growth.endBytes, 112);
  assert.ok(Math.abs(growth.growthPct - 12) < 1e-9);
  assert.ok(Math.abs(growth.medianGrowthPct - 12) < 1e-9);
  assert.equal(growth.withinTarget, false);
  // Window of 2: medians of [100, 104] and [104, 112].
  const windowed = summarizeGrowth([50, 80, 100, 104, 112], 3, 2, 2);
  assert.equal(windowed.warmMedianBytes, 102);
  assert.equal(windowed.endMedianBytes, 108);
});

test('uncollected garbage at the end raises medians, not the floor; a rising floor is a leak', () => {
  // Sawtooth: RSS climbs for 40 steps and falls back at each major GC. The last 10 steps all sit
  // high in a tooth, so their median is well up, but the lowest value over 40 steps is unchanged.
  const tooth = (step: number): number => 100 + ((step - 1) % 40);
  const lazy = summarizeWorker(
    samples(160, (step) => ({ numTensors: 5, rssMiB: step > 150 ? 130 + (step % 5) : tooth(step) })),
    10,
    10,
    40,
  );
  assert.ok(lazy.rssMedianGrowthPct > 10, `median growth ${lazy.rssMedianGrowthPct} (a median verdict would fail)`);
  assert.equal(lazy.rssWarmFloorBytes, 100 * MiB);
  assert.equal(lazy.rssEndFloorBytes, 100 * MiB);
  assert.equal(lazy.withinTargets, true);
  // The same sawtooth on a floor rising 0.2 MiB per step (a leak): +16 MiB between the floors.
  const leak = summarizeWorker(
    samples(160, (step) => ({ numTensors: 5, rssMiB: tooth(step) + 0.2 * step })),
    10,
    10,
    40,
  );
  assert.ok(leak.rssFloorGrowthPct >= 10, `floor growth ${leak.rssFloorGrowthPct}`);
  assert.equal(leak.withinTargets, false);
  // The heap's floor is reported the same way.
  assert.equal(lazy.heapWarmFloorBytes, 10 * MiB);
  assert.equal(lazy.heapEndFloorBytes, 10 * MiB);
});
