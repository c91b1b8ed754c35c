import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunEvents } from '../run_events.js';
import { RunMetrics } from './run_metrics.js';
import { sampleRun, sampleRunEnd } from '../testing/sample_run.js';

/** `name{labels} value` lines of the exposition text, keyed by everything before the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const value = line.slice(at + 1);
    out.set(line.slice(0, at), value === 'NaN' ? Number.NaN : value === '+Inf' ? Infinity : Number(value));
  }
  return out;
}

test('folds the run so far, then follows the feed: steps, losses, accuracies, membership, per-worker phases', async () => {
  const events = new RunEvents();
  const [first, ...rest] = sampleRun();
  events.emit(first!);
  // Created mid-run (after `started`): the history is folded first.
  const metrics = new RunMetrics(events);
  for (const e of rest) events.emit(e);
  let s = samples(await metrics.text());
  assert.equal(s.get('gnet_planned_steps'), 8);
  assert.equal(s.get('gnet_steps_total'), 6);
  assert.equal(s.get('gnet_skipped_steps_total'), 1);
  assert.equal(s.get('gnet_train_images_total'), 5 * 24 + 12);
  assert.equal(s.get('gnet_global_step'), 5);
  assert.equal(s.get('gnet_learning_rate'), 0.05);
  assert.equal(s.get('gnet_images_per_second'), 12);
  assert.equal(s.get('gnet_world_size'), 1);
  assert.equal(s.get('gnet_generation'), 1);
  assert.equal(s.get('gnet_workers_joined_total'), 2);
  assert.equal(s.get('gnet_workers_lost_total'), 1);
  assert.equal(s.get('gnet_checkpoints_total'), 1);
  assert.equal(s.get('gnet_last_checkpoint_step'), 4);
  assert.equal(s.get('gnet_epochs_completed'), 1);
  assert.equal(s.get('gnet_accuracy{split="train"}'), 0.25);
  assert.equal(s.get('gnet_accuracy{split="val"}'), 0.3);
  assert.equal(s.get('gnet_loss{split="val"}'), 2.2);
  assert.equal(s.get('gnet_accuracy{split="test"}'), undefined);
  assert.equal(s.get('gnet_run_finished'), 0);
  // Per-worker phases: w0 took part in all 6 steps, w1 in the 5 of generation 0.
  assert.equal(s.get('gnet_worker_reduce_seconds_count{worker="w0"}'), 6);
  assert.equal(s.get('gnet_worker_reduce_seconds_count{worker="w1"}'), 5);
  assert.ok(Math.abs(s.get('gnet_worker_reduce_seconds_sum{worker="w1"}')! - 5 * 0.31) < 1e-9);
  // compute = step - reduce: (900 - 300) ms in generation 0, 800 ms alone.
  assert.ok(Math.abs(s.get('gnet_worker_compute_seconds_sum{worker="w0"}')! - (5 * 0.6 + 0.8)) < 1e-9);
  assert.ok(Math.abs(s.get('gnet_worker_wait_seconds_sum{worker="w0"}')! - (5 * 0.1 + 0.05)) < 1e-9);
  assert.equal(s.get('gnet_worker_wait_seconds_bucket{le="0.1",worker="w0"}'), 6);
  assert.equal(s.get('gnet_step_seconds_count'), 6);
  // Gauges describe the current group: w1 left with generation 1.
  assert.equal(s.get('gnet_worker_num_tensors{worker="w0"}'), 400);
  assert.equal(s.get('gnet_worker_resident_memory_bytes{worker="w0"}'), 300 * 2 ** 20);
  assert.equal(s.get('gnet_worker_num_tensors{worker="w1"}'), undefined);
  assert.equal(s.get('gnet_worker_images_per_second{worker="w0"}'), 12 / 0.8);

  for (const e of sampleRunEnd()) events.emit(e);
  s = samples(await metrics.text());
  assert.equal(s.get('gnet_steps_total'), 8);
  assert.equal(s.get('gnet_epochs_completed'), 2);
  assert.equal(s.get('gnet_accuracy{split="test"}'), 0.45);
  assert.equal(s.get('gnet_loss{split="test"}'), 2.05);
  assert.equal(s.get('gnet_run_finished'), 1);
  assert.equal(s.get('gnet_run_failed'), 0);
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
  metrics.close();
});

test('a diverged step loss is exported as NaN; after close() nothing more is counted', async () => {
  const events = new RunEvents();
  const metrics = new RunMetrics(events);
  const run = sampleRun();
  for (const e of run.slice(0, 6)) events.emit(e);
  assert.ok(Number.isNaN(samples(await metrics.text()).get('gnet_step_loss')));
  metrics.close();
  events.emit(run[6]!);
  assert.equal(samples(await metrics.text()).get('gnet_steps_total'), 2);
});
