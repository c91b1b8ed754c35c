// Tests for the analytic FLOP count per 32x32 image.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flopsPerImage } from './flops.js';
import { ModelConfigError } from './errors.js';
import { planGoogLeNet } from './layer_plan.js';
import { resolveGoogLeNetConfig } from './config.js';

/** FLOPs of the planned layers whose name starts with `prefix`, at width 1. */
function planFlops(prefix: string): number {
  return planGoogLeNet(resolveGoogLeNetConfig())
    .filter((l) => l.name.startsWith(prefix))
    .reduce((n, l) => n + 2 * l.size ** 2 * l.kernelSize ** 2 * l.inChannels * l.outChannels, 0);
}

describe('flopsPerImage', () => {
  it('pins width 1 and width 0.25 (2 FLOPs per multiply-add)', () => {
    assert.deepEqual(flopsPerImage({}), { forward: 2_894_483_456, auxForward: 12_689_408 });
    assert.deepEqual(flopsPerImage({ width: 0.25 }), { forward: 182_899_712, auxForward: 800_768 });
    assert.deepEqual(flopsPerImage({ auxHeads: false }), { forward: 2_894_483_456, auxForward: 0 });
  });

  it('adds up by hand for the stem, inception 3a and one aux head', () => {
    const stem = 2 * 32 * 32 * (3 * 3 * 3 * 192);
    // 3a at 32x32: 1x1 192->64, 1x1 192->96, 3x3 96->128, 1x1 192->16, 5x5 16->32, 1x1 192->32.
    const block3a = 2 * 32 * 32 * (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32);
    assert.equal(planFlops('stem'), stem);
    assert.equal(planFlops('inception_3a/'), block3a);
    assert.equal(block3a, 334_495_744);
    // Aux head on 4x4 pooled maps: 1x1 conv 512->128 (after 4a) / 528->128 (after 4d), FC 2048->1024, FC 1024->10.
    const aux = (cin: number): number => 2 * (16 * cin * 128 + 2048 * 1024 + 1024 * 10);
    assert.equal(flopsPerImage({}).auxForward, aux(512) + aux(528));
    // Doubling the width roughly quadruples the cost (rounding of channel counts aside).
    const ratio = flopsPerImage({ width: 0.5 }).forward / flopsPerImage({}).forward;
    assert.ok(Math.abs(ratio - 0.25) < 0.01, `ratio ${ratio}`);
  });

  it('refuses a bad config, naming flopsPerImage', () => {
    assert.throws(
      () => flopsPerImage({ numClasses: 0 }),
      (err: unknown) => {
        assert.ok(err instanceof ModelConfigError);
        assert.equal(err.code, 'MODEL_ERR_CONFIG');
        assert.equal(err.message, '`numClasses` passed to `flopsPerImage` must be a positive integer, but got 0');
        return true;
      },
    );
  });
});
