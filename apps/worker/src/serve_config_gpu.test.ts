// A worker that demands a GPU: --require-gpu / GNET_REQUIRE_GPU / --backend tensorflow-gpu in the
// config, then the real `worker:serve` process on this machine, which has no
// @tensorflow/tfjs-node-gpu: it must stop at start-up (exit 1, before fetching data or dialing
// the coordinator) with GpuUnavailableError saying the package is missing and how to install it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseServeConfig } from './serve_config.js';
import { ConfigError } from './train_config.js';

const WORKER_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Start-up of tsx plus the failed import: a few seconds; 60 s bounds a machine under load. */
const EXIT_WITHIN_MS = 60_000;

test("--require-gpu and its environment variable resolve to 'tensorflow-gpu'; a CPU backend beside it is refused", () => {
  assert.equal(parseServeConfig(['--require-gpu'], {}).backend, 'tensorflow-gpu');
  assert.equal(parseServeConfig(['--backend', 'tensorflow', '--require-gpu'], {}).backend, 'tensorflow-gpu');
  assert.equal(parseServeConfig([], { GNET_REQUIRE_GPU: 'true', GNET_BACKEND: 'tensorflow' }).backend, 'tensorflow-gpu');
  assert.equal(parseServeConfig(['--backend', 'tensorflow-gpu'], {}).backend, 'tensorflow-gpu');
  assert.equal(parseServeConfig(['--backend', 'tensorflow'], {}).backend, 'tensorflow');
  assert.throws(
    () => parseServeConfig(['--require-gpu', '--backend', 'wasm'], {}),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.code === 'CONFIG_INVALID' &&
      e.message === '--require-gpu (native TensorFlow on a GPU) conflicts with --backend wasm, a CPU backend; drop one of the two',
  );
  assert.throws(
    () => parseServeConfig([], { GNET_REQUIRE_GPU: '2' }),
    (e: unknown) => e instanceof ConfigError && /^GNET_REQUIRE_GPU must be 1, true, 0 or false, but got "2"$/.test(e.message),
  );
});

/** Runs `worker:serve` with `args`; resolves with its exit code and output, killing it past the bound. */
function runServe(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/serve_main.ts', ...args], {
      cwd: WORKER_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

for (const [how, args, extraEnv] of [
  ['--require-gpu', ['--require-gpu'], {}],
  ['GNET_BACKEND=tensorflow-gpu', [], { GNET_BACKEND: 'tensorflow-gpu' }],
] as const) {
  test(`worker:serve ${how} on this machine (no tfjs-node-gpu) exits 1 at start-up naming the missing package`, async () => {
    // Port 9 (discard): were the worker to get past the backend, it would fail to connect, not train.
    const env: NodeJS.ProcessEnv = { ...process.env, GNET_COORDINATOR: 'ws://127.0.0.1:9', LOG_LEVEL: 'info', ...extraEnv };
    delete env.GNET_REQUIRE_GPU;
    const { code, stdout, stderr } = await runServe([...args, '--connect-timeout-ms', '1000'], env);
    assert.equal(code, 1, `exit code; stderr: ${stderr}`);
    assert.match(
      stderr,
      /^worker: GpuUnavailableError: Backend 'tensorflow-gpu' requested from selectBackend found no GPU: @tensorflow\/tfjs-node-gpu is not installed \(Cannot find package '@tensorflow\/tfjs-node-gpu' .*\); install it /m,
    );
    const failed = stdout
      .split('\n')
      .filter((l) => l.includes('"worker failed"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(failed.length, 1, 'logged once');
    assert.equal(failed[0]!['code'], 'BACKEND_NO_GPU');
    // The dataset step logs as module "data"; the config line may name a CIFAR-10 folder (CIFAR10_DIR).
    assert.ok(!stdout.includes('"module":"data"'), 'stopped before looking for the dataset');
  });
}
