import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallClock } from './stall_clock.js';

test('warns first after stallWarnMs, then once per period, with the time waited', () => {
  const clock = new StallClock(1000, 0);
  assert.equal(clock.due(999), null);
  assert.equal(clock.due(1000), 1000);
  assert.equal(clock.due(1500), null);
  assert.equal(clock.due(2100), 2100);
  // A late check (the loop was busy) warns once, not once per missed period.
  assert.equal(clock.due(5200), 5200);
  assert.equal(clock.due(5900), null);
  assert.equal(clock.due(6000), 6000);
});
