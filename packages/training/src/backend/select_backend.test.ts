// selectBackend on this machine, where neither native TensorFlow binding is installed and oneDNN
// is (.ci/run installs libdnnl-dev; without it the 'onednn' tests fail, naming what to install):
// 'auto' lands on onednn and says why native TensorFlow failed, forced names load or throw typed
// errors, the fallback order holds (a rejecting loader stands for a machine without libdnnl), and
// the choice is logged once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { pino, type Logger } from 'pino';
import { BackendUnavailableError, UnknownBackendError } from './backend_errors.js';
import { availableParallelism } from 'node:os';
import { loadNativeAddon } from '@gnet/native-cpu';
import { BadThreadCountError, selectBackend } from './select_backend.js';

/** A pino logger writing NDJSON lines into an array. */
function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log: Logger = pino({ base: null, timestamp: false }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const NOT_FOUND = /Cannot find (package|module) '@tensorflow\/tfjs-node(-gpu)?'/;

describe('selectBackend', () => {
  it("'auto' without native TensorFlow picks onednn with all cores, names both native failures and logs once", async () => {
    const { log, lines } = capture();
    const sel = await selectBackend({ requested: 'auto', log });
    assert.equal(sel.name, 'onednn');
    assert.equal(tf.getBackend(), 'onednn');
    assert.equal(sel.nativeAvailable, false);
    assert.equal(sel.threads, availableParallelism());
    assert.deepEqual(
      sel.nativeAttempts.map((a) => a.package),
      ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
    );
    for (const a of sel.nativeAttempts) assert.match(a.error ?? '', NOT_FOUND);
    assert.match(
      sel.reason,
      /^no native TensorFlow \(@tensorflow\/tfjs-node-gpu: .*; @tensorflow\/tfjs-node: .*\); oneDNN \d+\.\d+\.\d+ \(\w+, \d+ threads?\) is the fastest CPU backend available$/,
    );
    assert.ok(sel.kernels.includes('Conv2D') && sel.kernels.includes('GnetBatchNormTrain'), sel.kernels.join());
    assert.deepEqual(lines(), [{ level: 30, backend: 'onednn', reason: sel.reason, threads: sel.threads, msg: 'backend selected' }]);
  });

  it('defaults to auto', async () => {
    const { log } = capture();
    assert.equal((await selectBackend({ log })).name, 'onednn');
  });

  it("'onednn' is honoured with the thread count asked for, which oneDNN reports back", async () => {
    const { log, lines } = capture();
    const sel = await selectBackend({ requested: 'onednn', threads: 1, log });
    assert.equal(sel.name, 'onednn');
    assert.equal(sel.threads, 1);
    assert.equal(loadNativeAddon().addon?.info().maxThreads, 1);
    assert.match(sel.reason, /^requested; oneDNN .*, 1 thread\)$/);
    assert.equal(lines()[0]!['threads'], 1);
    await selectBackend({ requested: 'onednn', log }); // back to all cores for later tests
  });

  it('rejects a thread count that is not a positive integer', async () => {
    const { log } = capture();
    for (const threads of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(selectBackend({ requested: 'onednn', threads, log }), (err: unknown) => {
        assert.ok(err instanceof BadThreadCountError);
        assert.equal(err.code, 'BACKEND_BAD_THREADS');
        assert.match(err.message, new RegExp(`must be a positive integer, but got ${String(threads)}$`));
        return true;
      });
    }
  });

  it("'auto' without oneDNN picks wasm and says what was missing", async () => {
    const { log } = capture();
    const sel = await selectBackend({
      log,
      loaders: { onednn: () => Promise.reject(new Error('oneDNN is not installed: install libdnnl2')) },
    });
    assert.equal(sel.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(sel.reason, /^no native TensorFlow \(.*\); no oneDNN: oneDNN is not installed: install libdnnl2; wasm/);
    assert.deepEqual(sel.kernels, ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPoolGrad', 'Slice', 'SplitV']);
  });

  it("'tensorflow' without a native binding throws BackendUnavailableError naming both causes", async () => {
    const { log, lines } = capture();
    await assert.rejects(selectBackend({ requested: 'tensorflow', log }), (err: unknown) => {
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.code, 'BACKEND_UNAVAILABLE');
      assert.equal(err.backend, 'tensorflow');
      assert.match(
        err.message,
        /^Backend 'tensorflow' requested from selectBackend could not be loaded: @tensorflow\/tfjs-node-gpu: Cannot find .*; @tensorflow\/tfjs-node: Cannot find /,
      );
      return true;
    });
    assert.deepEqual(lines(), [], 'nothing is logged for a failed selection');
  });

  it("'cpu' is honoured with our kernels, and reports the native bindings as not installed", async () => {
    const { log, lines } = capture();
    const sel = await selectBackend({ requested: 'cpu', log });
    assert.equal(sel.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(sel.nativeAvailable, false);
    assert.deepEqual(sel.kernels, ['Conv2DBackpropFilter', 'MaxPoolGrad']);
    assert.equal(lines().length, 1);
    assert.equal(lines()[0]!['backend'], 'cpu');
  });

  it("'wasm' that fails to come up throws BackendUnavailableError with the cause", async () => {
    const { log } = capture();
    const cause = new Error('wasm binary missing');
    await assert.rejects(selectBackend({ requested: 'wasm', log, loaders: { wasm: () => Promise.reject(cause) } }), (err: unknown) => {
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.code, 'BACKEND_UNAVAILABLE');
      assert.equal(err.message, "Backend 'wasm' requested from selectBackend could not be loaded: wasm binary missing");
      assert.equal(err.cause, cause);
      return true;
    });
  });

  it("'auto' falls back to cpu when wasm fails, and says so", async () => {
    const { log } = capture();
    const sel = await selectBackend({
      log,
      loaders: { onednn: () => Promise.reject(new Error('no libdnnl')), wasm: () => Promise.reject(new Error('no SIMD')) },
    });
    assert.equal(sel.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.match(sel.reason, /; wasm failed \(no SIMD\); cpu with our conv gradient kernels$/);
  });

  it("'auto' with nothing loadable throws BackendUnavailableError for 'auto'", async () => {
    const { log } = capture();
    const fail = (why: string) => () => Promise.reject(new Error(why));
    await assert.rejects(selectBackend({ log, loaders: { onednn: fail('o'), wasm: fail('w'), cpu: fail('c') } }), (err: unknown) => {
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.backend, 'auto');
      assert.match(
        err.message,
        /^Backend 'auto' requested from selectBackend could not be loaded: no native TensorFlow \(.*\); no oneDNN: o; wasm: w; cpu: c$/,
      );
      return true;
    });
  });

  it('rejects an unknown name with UnknownBackendError', async () => {
    const { log } = capture();
    await assert.rejects(selectBackend({ requested: 'webgl' as 'cpu', log }), (err: unknown) => {
      assert.ok(err instanceof UnknownBackendError);
      assert.equal(err.code, 'BACKEND_UNKNOWN');
      assert.equal(
        err.message,
        "`requested` passed to selectBackend must be one of 'auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu', but got \"webgl\"",
      );
      return true;
    });
  });
});
