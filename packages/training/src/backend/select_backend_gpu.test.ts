// selectBackend({ requested: 'tensorflow-gpu' }): native TensorFlow on a GPU or a loud failure.
// The first test is real: this machine has no @tensorflow/tfjs-node-gpu (it cannot install here,
// and is never faked as present), and the request must fail naming that. The others replace the
// GPU probe with a test double through `loaders['tensorflow-gpu']`, because a machine with
// tfjs-node-gpu and a GPU, or with tfjs-node-gpu and a broken CUDA, cannot exist in this test run;
// the doubles return what the real probe (probeNativeGpu) reads from the binding.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { GpuUnavailableError } from './gpu_requirement.js';
import { selectBackend } from './select_backend.js';

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log: Logger = pino({ base: null, timestamp: false }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("selectBackend 'tensorflow-gpu'", () => {
  it('on this machine (no tfjs-node-gpu) throws GpuUnavailableError: package missing, how to install, nothing logged', async () => {
    const { log, lines } = capture();
    await assert.rejects(selectBackend({ requested: 'tensorflow-gpu', log }), (err: unknown) => {
      assert.ok(err instanceof GpuUnavailableError, String(err));
      assert.equal(err.code, 'BACKEND_NO_GPU');
      assert.equal(err.found, 'package-missing');
      assert.match(
        err.message,
        /^Backend 'tensorflow-gpu' requested from selectBackend found no GPU: @tensorflow\/tfjs-node-gpu is not installed \(Cannot find package '@tensorflow\/tfjs-node-gpu' .*\); install it \(npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/,
      );
      return true;
    });
    assert.deepEqual(lines(), [], 'a failed selection logs nothing (the caller logs the error once)');
  });

  it('never falls back to the CPU build: a CPU-only TensorFlow is the no-GPU case (test double)', async () => {
    const { log } = capture();
    const probe = () => Promise.resolve({ isUsingGpuDevice: false });
    await assert.rejects(selectBackend({ requested: 'tensorflow-gpu', log, loaders: { 'tensorflow-gpu': probe } }), (err: unknown) => {
      assert.ok(err instanceof GpuUnavailableError);
      assert.equal(err.found, 'no-gpu-device');
      assert.match(err.message, /TensorFlow found no GPU device .*nvidia-smi/);
      return true;
    });
  });

  it('CUDA libraries that do not load are named with the loader message (test double)', async () => {
    const { log } = capture();
    const probe = () =>
      Promise.resolve({
        loadError: 'libcudnn.so.8: cannot open shared object file: No such file or directory',
        loadErrorCode: 'ERR_DLOPEN_FAILED',
      });
    await assert.rejects(selectBackend({ requested: 'tensorflow-gpu', log, loaders: { 'tensorflow-gpu': probe } }), (err: unknown) => {
      assert.ok(err instanceof GpuUnavailableError);
      assert.equal(err.found, 'native-library-missing');
      assert.match(
        err.message,
        /\(libcudnn\.so\.8: cannot open shared object file: No such file or directory\); check that CUDA 11\.2 and cuDNN 8\.1/,
      );
      return true;
    });
  });

  it("a GPU in use selects 'tensorflow' and logs why once (test double)", async () => {
    const { log, lines } = capture();
    const sel = await selectBackend({
      requested: 'tensorflow-gpu',
      log,
      loaders: { 'tensorflow-gpu': () => Promise.resolve({ isUsingGpuDevice: true }) },
    });
    assert.equal(sel.name, 'tensorflow');
    assert.equal(sel.nativeAvailable, true);
    assert.match(sel.reason, /^requested on a GPU; native TensorFlow via @tensorflow\/tfjs-node-gpu with a GPU device in use/);
    assert.deepEqual(lines(), [{ level: 30, backend: 'tensorflow', reason: sel.reason, msg: 'backend selected' }]);
  });
});
