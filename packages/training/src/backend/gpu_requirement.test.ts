// The decision behind 'tensorflow-gpu' (classifyGpuProbe) for every kind of probe result, and the
// error it becomes: class, code, finding and a message naming what was found and what to check.
// The probe results are written out by hand from the messages Node and tfjs-node print (no GPU
// or tfjs-node-gpu exists on the machines that run these tests); select_backend_gpu.test.ts runs
// the real probe.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyGpuProbe, GpuUnavailableError, type GpuFinding } from './gpu_requirement.js';

describe('classifyGpuProbe', () => {
  const cases: Array<[string, Parameters<typeof classifyGpuProbe>[0], GpuFinding]> = [
    [
      'the package is not installed',
      {
        loadError: "Cannot find package '@tensorflow/tfjs-node-gpu' imported from /app/packages/training/dist/backend/native_backend.js",
        loadErrorCode: 'ERR_MODULE_NOT_FOUND',
      },
      'package-missing',
    ],
    [
      'libtensorflow did not load',
      { loadError: 'libtensorflow.so.2: cannot open shared object file: No such file or directory', loadErrorCode: 'ERR_DLOPEN_FAILED' },
      'native-library-missing',
    ],
    [
      'a CUDA library did not load, even without an error code',
      { loadError: 'libcudart.so.11.0: cannot open shared object file: No such file or directory' },
      'native-library-missing',
    ],
    [
      'the addon was never built',
      {
        loadError:
          'The Node.js native addon module (tfjs_binding.node) can not be found at path: /app/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v8/tfjs_binding.node. ',
      },
      'native-library-missing',
    ],
    [
      'a dependency of the package is missing',
      { loadError: "Cannot find module '@mapbox/node-pre-gyp'", loadErrorCode: 'ERR_MODULE_NOT_FOUND' },
      'load-failed',
    ],
    [
      'it brought its own tfjs-core',
      { loadError: 'it loaded its own @tensorflow/tfjs-core 4.21.0 (ours is 4.22.0); install the 4.22.0 release so npm dedupes them' },
      'load-failed',
    ],
    ['it loaded and TensorFlow runs on the CPU', { isUsingGpuDevice: false }, 'no-gpu-device'],
    ['it loaded and the binding did not say', {}, 'no-gpu-device'],
  ];
  for (const [what, probe, found] of cases) {
    it(`${what}: ${found}, with the loader's words kept`, () => {
      const verdict = classifyGpuProbe(probe);
      assert.equal(verdict.ok, false);
      if (verdict.ok) return;
      assert.equal(verdict.found, found);
      if (probe.loadError !== undefined) assert.equal(verdict.detail, probe.loadError);
      else assert.match(verdict.detail, /isUsingGpuDevice = (false|undefined)/);
    });
  }

  it('a GPU device in use is the only success', () => {
    assert.deepEqual(classifyGpuProbe({ isUsingGpuDevice: true }), { ok: true });
    assert.equal(classifyGpuProbe({ isUsingGpuDevice: 'true' }).ok, false);
  });
});

describe('GpuUnavailableError', () => {
  it('names what was found, the detail and what to check', () => {
    const err = new GpuUnavailableError(
      'no-gpu-device',
      'the binding reports isUsingGpuDevice = false: TensorFlow registered no GPU device and runs on the CPU',
    );
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'GpuUnavailableError');
    assert.equal(err.code, 'BACKEND_NO_GPU');
    assert.equal(err.found, 'no-gpu-device');
    assert.match(
      err.message,
      /^Backend 'tensorflow-gpu' requested from selectBackend found no GPU: @tensorflow\/tfjs-node-gpu loaded but TensorFlow found no GPU device \(the binding reports isUsingGpuDevice = false: .*\); check that nvidia-smi lists a GPU/,
    );
    for (const fact of ['CUDA_VISIBLE_DEVICES', 'CUDA 11.2 and cuDNN 8.1', 'libcudnn.so.8', 'LD_LIBRARY_PATH', 'nvidia.com/gpu'])
      assert.ok(err.message.includes(fact), fact);
  });

  it('for missing libraries, names them, LD_LIBRARY_PATH and the loader message', () => {
    const err = new GpuUnavailableError('native-library-missing', 'libcudnn.so.8: cannot open shared object file');
    assert.match(
      err.message,
      /its native libraries did not load \(libcudnn\.so\.8: cannot open shared object file\); check that CUDA 11\.2 and cuDNN 8\.1 .* are installed and on LD_LIBRARY_PATH/,
    );
  });

  it('for a missing package, says how to install it', () => {
    assert.match(
      new GpuUnavailableError('package-missing', 'x').message,
      /is not installed \(x\); install it \(npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/,
    );
  });
});
