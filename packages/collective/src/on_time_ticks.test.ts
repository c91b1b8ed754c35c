import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onTimeTicks } from './on_time_ticks.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('on-time ticks call the check; a tick delayed by a blocked event loop is skipped', async () => {
  // Long enough that a loaded machine does not make an on-time tick look a whole tick late.
  const tickMs = 200;
  const checks: number[] = [];
  const timer = onTimeTicks(tickMs, (nowMs) => checks.push(nowMs));
  try {
    await sleep(tickMs * 4.5);
    const onTime = checks.length;
    assert.ok(onTime >= 2, `expected on-time ticks to check, got ${onTime}`);
    // Block the loop for 4 ticks: the one tick that fires after it is late and must not check.
    const blockedUntil = performance.now() + tickMs * 4;
    while (performance.now() < blockedUntil) {
      // busy, as a synchronous training step is
    }
    const afterBlock = performance.now();
    await sleep(tickMs * 0.5);
    assert.ok(
      checks.every((t) => t < blockedUntil || t - afterBlock > tickMs * 0.2),
      `no check right after the stall: ${JSON.stringify(checks.map((t) => Math.round(t - afterBlock)))}`,
    );
    await sleep(tickMs * 3);
    assert.ok(checks.length > onTime, 'ticks check again once they are on time');
  } finally {
    clearInterval(timer);
  }
});
