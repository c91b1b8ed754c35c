// The argument builders of distributed_group.ts: flag names, switches, overrides and the defaults
// every process test starts from. Pure, no process is started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { coordinatorArgs, FAULT_WORKER, flagsOf, workerArgs } from './distributed_group.js';

test('flagsOf: camelCase names become kebab-case flags, booleans switches, undefined nothing', () => {
  assert.deepEqual(flagsOf({ batchSize: 24, lr: 0.05, runDir: '/tmp/run', dashboard: false, resume: true, faultNanAtStep: undefined }), [
    '--batch-size',
    '24',
    '--lr',
    '0.05',
    '--run-dir',
    '/tmp/run',
    '--no-dashboard',
    '--resume',
  ]);
  assert.deepEqual(flagsOf({ localWorkerArgs: '--trace-weights --dump-dir /d' }), ['--local-worker-args', '--trace-weights --dump-dir /d']);
});

test('coordinatorArgs: the tiny model first, and an override replaces a default instead of repeating the flag', () => {
  assert.deepEqual(coordinatorArgs({ epochs: 1 }), ['--width', '0.0625', '--warmup-epochs', '0', '--epochs', '1']);
  const run = { epochs: 2, seed: 5 };
  assert.deepEqual(coordinatorArgs({ ...run, width: 0.125, epochs: 1 }), [
    '--width',
    '0.125',
    '--warmup-epochs',
    '0',
    '--epochs',
    '1',
    '--seed',
    '5',
  ]);
});

test('workerArgs: dials the coordinator as the given worker with one oneDNN thread on the test data, then the extra flags', () => {
  assert.deepEqual(workerArgs('ws://127.0.0.1:1', 'w0', { ...FAULT_WORKER, reconnectTimeoutMs: 0 }), [
    ...['--coordinator', 'ws://127.0.0.1:1', '--worker-id', 'w0', '--backend', 'onednn', '--threads', '1', '--data-dir', CIFAR10_TEST_DIR],
    ...['--log-level', 'debug', '--coordinator-timeout-ms', '30000', '--reconnect-timeout-ms', '0', '--collective-timeout-ms', '30000'],
  ]);
});
