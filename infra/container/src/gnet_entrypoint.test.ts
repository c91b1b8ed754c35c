// Tests of the images' entry point (infra/container/gnet-entrypoint.sh) run as it runs in the images:
// by /bin/sh, under its own name or a gnet-<app> link, against an app root whose dist/ entry files
// are stand-ins that print what they were given. Also lints the shell scripts of this folder.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const CONTAINER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRYPOINT = join(CONTAINER_DIR, 'gnet-entrypoint.sh');
const SCRIPTS = [ENTRYPOINT, join(CONTAINER_DIR, 'build-and-run.sh')];

/** The entry files gnet-entrypoint.sh maps each app to. */
const ENTRIES: Record<string, string> = {
  coordinator: 'apps/coordinator/dist/main.js',
  worker: 'apps/worker/dist/serve_main.js',
  train: 'apps/worker/dist/train_main.js',
  evaluate: 'apps/worker/dist/tools/evaluate_main.js',
  predict: 'apps/worker/dist/tools/predict_main.js',
  export: 'apps/worker/dist/tools/export_main.js',
};

interface Seen {
  entry: string;
  argv: string[];
  token: string | null;
}

describe('gnet-entrypoint.sh', () => {
  let root = '';
  let bin = '';

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'gnet-entrypoint-'));
    bin = join(root, 'bin');
    mkdirSync(bin);
    symlinkSync(ENTRYPOINT, join(bin, 'gnet'));
    for (const [app, entry] of Object.entries(ENTRIES)) {
      symlinkSync('gnet', join(bin, `gnet-${app}`));
      mkdirSync(join(root, 'app', dirname(entry)), { recursive: true });
      // A stand-in for the built app: prints which file ran, its arguments and the token it got.
      writeFileSync(
        join(root, 'app', entry),
        'console.log(JSON.stringify({ entry: process.argv[1], argv: process.argv.slice(2), token: process.env.GNET_TOKEN ?? null }));\n',
      );
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  function run(command: string, args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GNET_')));
    return spawnSync(join(bin, command), args, {
      encoding: 'utf8',
      env: { ...clean, GNET_APP_ROOT: join(root, 'app'), ...env },
      timeout: 20_000,
    });
  }

  function seen(result: SpawnSyncReturns<string>): Seen {
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as Seen;
  }

  it('is valid POSIX sh', () => {
    const result = spawnSync('sh', ['-n', ENTRYPOINT], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  });

  it("runs each app's built entry file, as `gnet <app>` and as `gnet-<app>`", () => {
    for (const [app, entry] of Object.entries(ENTRIES)) {
      const direct = seen(run('gnet', [app, '--epochs', '2']));
      assert.equal(direct.entry, join(root, 'app', entry));
      assert.deepEqual(direct.argv, ['--epochs', '2']);
      const linked = seen(run(`gnet-${app}`, ['--epochs', '2']));
      assert.equal(linked.entry, join(root, 'app', entry));
      assert.deepEqual(linked.argv, ['--epochs', '2']);
    }
  });

  it('prints its usage for `help` and with no app, and refuses an unknown app', () => {
    const help = run('gnet', ['help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: gnet <app>/);
    const none = run('gnet', []);
    assert.equal(none.status, 2);
    assert.match(none.stdout, /^usage: gnet <app>/);
    const unknown = run('gnet', ['trainer']);
    assert.equal(unknown.status, 2);
    assert.equal(unknown.stderr, "gnet: unknown app 'trainer' (expected coordinator, worker, train, evaluate, predict or export)\n");
  });

  it('passes GNET_TOKEN through, or reads it from GNET_TOKEN_FILE (a mounted secret)', () => {
    assert.equal(seen(run('gnet-worker', [], { GNET_TOKEN: 's3cret' })).token, 's3cret');
    const file = join(root, 'token');
    writeFileSync(file, 'from-file\n');
    assert.equal(seen(run('gnet-worker', [], { GNET_TOKEN_FILE: file })).token, 'from-file');
    // An explicit GNET_TOKEN wins over the file.
    assert.equal(seen(run('gnet-worker', [], { GNET_TOKEN: 'env', GNET_TOKEN_FILE: file })).token, 'env');
    const missing = run('gnet-worker', [], { GNET_TOKEN_FILE: join(root, 'nope') });
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr, `gnet: GNET_TOKEN_FILE=${join(root, 'nope')} is not a readable file\n`);
  });

  it(
    'with GNET_REQUIRE_GPU=1, refuses to start a worker without a GPU, naming what it found',
    { skip: existsSync('/dev/nvidia0') ? 'this machine has a GPU' : false },
    () => {
      for (const app of ['worker', 'train']) {
        const result = run(`gnet-${app}`, ['--coordinator', 'ws://x:1'], { GNET_REQUIRE_GPU: '1' });
        assert.equal(result.status, 2);
        assert.match(
          result.stderr,
          /^gnet: GNET_REQUIRE_GPU=1 but this container has no usable GPU \(found: devices=\[\], libcuda\.so\.1=.*\); run it with --gpus all/,
        );
        assert.equal(result.stdout, '');
      }
      // --help loads nothing; the coordinator never needs a GPU.
      assert.deepEqual(seen(run('gnet-worker', ['--help'], { GNET_REQUIRE_GPU: '1' })).argv, ['--help']);
      assert.deepEqual(seen(run('gnet-coordinator', [], { GNET_REQUIRE_GPU: '1' })).argv, []);
    },
  );
});

describe('shell scripts of infra/container', () => {
  it('parse', () => {
    for (const script of SCRIPTS) {
      const shell = script.endsWith('build-and-run.sh') ? 'bash' : 'sh';
      const result = spawnSync(shell, ['-n', script], { encoding: 'utf8' });
      assert.equal(result.status, 0, `${script}: ${result.stderr}`);
    }
  });

  const shellcheck = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  it('are shellcheck clean', { skip: shellcheck.status === 0 ? false : 'shellcheck is not installed (apt-get install shellcheck)' }, () => {
    const result = spawnSync('shellcheck', ['--norc', ...SCRIPTS], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
