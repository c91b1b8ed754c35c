// The containers' commands against the code they run: each entrypoint is a file the app's build
// emits (tsc -p tsconfig.lib.json, src/ -> dist/), the apps' own flag parsers accept the rendered
// flags (run in one child process on the TypeScript sources), and the images can be retargeted to
// a registry with kustomize `images:` in an overlay of the user's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allContainers, containerOf, envValue, expandedArgs, findObject, type Container } from './manifest_query.js';
import { envOf, parseWithApps, REPO, type ParseInput } from './testing/app_parsers.js';
import { renderedOrSkip } from './testing/rendered.js';

/** The `node <script>` of a container, from its command (possibly an `sh -c` wrapper that execs node). */
function nodeScript(container: Container): string {
  const command = container.command ?? [];
  if (command[0] === 'node') return command[1] ?? '';
  const execNode = /exec node (\S+)/.exec(command.join(' '));
  return execNode?.[1] ?? '';
}

test("each container runs the built JavaScript its app's build script emits", async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  const expected: Array<[Container, string, string]> = [
    [containerOf(findObject(all.base, 'Deployment', 'gnet-coordinator'), 'coordinator'), 'coordinator', 'main'],
    [containerOf(findObject(all.base, 'Job', 'gnet-worker'), 'worker'), 'worker', 'serve_main'],
  ];
  for (const [container, app, entry] of expected) {
    assert.equal(nodeScript(container), `apps/${app}/dist/${entry}.js`, app);
    assert.equal((container as { workingDir?: string }).workingDir, '/app', `${app}: the image holds the built repository at /app`);
    const pkg = JSON.parse(readFileSync(join(REPO, 'apps', app, 'package.json'), 'utf8')) as { scripts: { build: string } };
    assert.match(pkg.scripts.build, /^tsc -p tsconfig\.lib\.json\b/, app);
    const lib = JSON.parse(readFileSync(join(REPO, 'apps', app, 'tsconfig.lib.json'), 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    assert.deepEqual([lib.compilerOptions.rootDir, lib.compilerOptions.outDir], ['src', 'dist'], app);
    assert.ok(existsSync(join(REPO, 'apps', app, 'src', `${entry}.ts`)), `apps/${app}/src/${entry}.ts exists`);
  }
});

test("the apps' own parsers accept the rendered flags (base and gpu; tls in manifest_tls.test.ts, with certificate files)", async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  // What the kubelet would fill in for worker index 0.
  const pod = { JOB_COMPLETION_INDEX: '0', POD_NAME: 'gnet-worker-0-x7k2p' };
  const input = { coordinators: {} as Record<string, ParseInput>, workers: {} as Record<string, ParseInput> };
  for (const name of ['base', 'gpu'] as const) {
    const c = containerOf(findObject(all[name], 'Deployment', 'gnet-coordinator'), 'coordinator');
    input.coordinators[name] = { args: expandedArgs(c), env: envOf(c, { GNET_TOKEN: 'x' }) };
    const workerContainer = containerOf(findObject(all[name], 'Job', 'gnet-worker'), 'worker');
    input.workers[name] = {
      args: expandedArgs(workerContainer, pod),
      env: envOf(workerContainer, { GNET_TOKEN: 'x', GNET_THREADS: '4', ...pod }),
    };
  }
  const out = (await parseWithApps(input)) as Record<string, Record<string, unknown>>;
  for (const name of ['base', 'gpu']) {
    const c = out[`coordinator ${name}`]!;
    assert.deepEqual(
      [c['host'], c['port'], c['dashboardPort'], c['workers'], c['minWorkers'], c['maxWorkers'], c['runDir'], c['dataDir']],
      ['0.0.0.0', 29500, 29501, 2, 1, 2, '/runs/gnet', '/data/cifar-10-batches-bin'],
      name,
    );
    const worker = out[`worker ${name}`]!;
    assert.deepEqual(
      [
        worker['coordinator'],
        worker['advertiseHost'],
        worker['peerHost'],
        worker['peerPort'],
        worker['workerId'],
        worker['threads'],
        worker['dataDir'],
      ],
      [
        'ws://gnet-coordinator:29500',
        'gnet-worker-0.gnet-workers',
        '0.0.0.0',
        29600,
        'gnet-worker-0-x7k2p',
        4,
        '/data/cifar-10-batches-bin',
      ],
      name,
    );
  }
  assert.equal(out['worker base']!['backend'], 'auto');
  assert.equal(
    out['worker gpu']!['backend'],
    'tensorflow-gpu',
    '--backend tensorflow --require-gpu: native TensorFlow on a GPU or an error',
  );
  assert.equal(
    envValue(containerOf(findObject(all.base, 'Job', 'gnet-worker'), 'worker'), 'GNET_COORDINATOR'),
    'ws://gnet-coordinator:29500',
  );
});

test("the example of a user's overlay retargets every image with kustomize `images:`", async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  const images = allContainers(all['example-gpu-4-workers']).map(({ owner, container }) => `${owner} ${container.name} ${container.image}`);
  assert.deepEqual(images.sort(), [
    'Deployment/gnet-coordinator coordinator registry.example.com/ml/gnet:cpu',
    'Job/gnet-worker wait-for-cifar10 registry.example.com/ml/gnet:worker-gpu',
    'Job/gnet-worker worker registry.example.com/ml/gnet:worker-gpu',
  ]);
});
