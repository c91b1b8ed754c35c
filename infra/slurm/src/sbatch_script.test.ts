// gnet.sbatch without a cluster: its start-up refusals (one line each, exit 2, before it asks
// Slurm anything) and shellcheck. The launch itself is slurm.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOrSkip } from '../../netns/src/index.js';
import { findOnPath } from './slurm_available.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(REPO_ROOT, 'infra', 'slurm', 'gnet.sbatch');

/** Runs the script with `env` only (plus PATH), as a job would see it. */
function run(args: readonly string[], env: Record<string, string>): { code: number | null; stderr: string } {
  const r = spawnSync('bash', [SCRIPT, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, stderr: r.stderr };
}

/** A job's environment as far as the script reads it before calling scontrol. */
const JOB = { SLURM_JOB_ID: '7', SLURM_SUBMIT_DIR: REPO_ROOT, SLURM_JOB_NODELIST: 'n1', GNET_TOKEN: 'secret' };

test('outside a Slurm job it says to submit it with sbatch', () => {
  const r = run([], { GNET_TOKEN: 'secret' });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'gnet.sbatch: not inside a Slurm job: submit this script with sbatch (see infra/slurm/README.md)\n');
});

test('without GNET_TOKEN it stops with one line saying how to set one', () => {
  const r = run([], { ...JOB, GNET_TOKEN: '' });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^gnet\.sbatch: GNET_TOKEN is not set: export a shared secret before sbatch \(e\.g\. export GNET_TOKEN=\$\(openssl rand -hex 32\)\); [^\n]*\n$/,
  );
});

test('GNET_HOME that is not a checkout is named', () => {
  const r = run([], { ...JOB, GNET_HOME: '/nonexistent' });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^gnet\.sbatch: GNET_HOME=\/nonexistent is not a checkout of this project \(no apps\/coordinator\/src\/main\.ts\)[^\n]*\n$/,
  );
});

test('coordinator flags the script sets itself are refused, each naming what to change instead', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--', '--workers', '3'], /--workers is the job's task count \(--nodes x --ntasks-per-node\)/],
    [['--epochs', '1', '--port=1234'], /set GNET_PORT instead/],
    [['--', '--host', '10.0.0.1'], /listens on every interface of the first node/],
    [['--', '--run-dir', 'r'], /set GNET_RUN_DIR instead/],
  ];
  for (const [args, why] of cases) {
    const r = run(args, JOB);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});

test('gnet.sbatch passes shellcheck', async (t) => {
  const shellcheck = await findOnPath('shellcheck', process.env['PATH'] ?? '');
  if (!requireOrSkip(t, shellcheck === null ? 'checking gnet.sbatch needs `shellcheck` on PATH (apt-get install shellcheck)' : null))
    return;
  const r = spawnSync(shellcheck!, [SCRIPT], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
