// The distributed run (`coordinator:serve`) and the single-process one (`worker:train`) take the
// same training recipe: every recipe flag must exist in both with the same default, read from
// their real `--help`. The coordinator cannot import @gnet/training (no tfjs in the control plane),
// so its defaults are written out separately; this test is what keeps the two from drifting (it
// found worker:train without --dropout / --aux-dropout). A flag both commands share must be listed
// here either as recipe or as an intended difference, so a new one gets a decision.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from './cifar_dir.js';
import { COORDINATOR_ENTRY } from './distributed_group.js';

const RECIPE_FLAGS = [
  '--epochs', '--batch-size', '--micro-batch', '--lr', '--warmup-epochs', '--momentum', '--no-nesterov', '--weight-decay',
  '--label-smoothing', '--aux-weight', '--crop', '--no-flip', '--cutout', '--width', '--no-aux-heads', '--no-batch-norm',
  '--dropout', '--aux-dropout', '--seed', '--train-limit', '--eval-limit', '--eval-batch', '--keep-checkpoints',
];
/** Shared flags whose defaults differ on purpose, or that are not part of the recipe. */
const INTENDED_DIFFERENCES: Record<string, string> = {
  '--checkpoint-every-steps': 'a distributed run checkpoints every 100 steps so a lost coordinator costs little; one process only at epoch ends',
  '--run-dir': 'a timestamped folder each time',
  '--data-dir': 'not a recipe setting',
  '--backend': 'the coordinator passes it to local workers',
  '--log-level': 'not a recipe setting',
  '--resume': 'not a recipe setting',
  '--no-progress': 'not a recipe setting',
  '--help': 'commander',
};

/** Flag → its default as --help prints it (`(none)` for switches without one). */
async function helpDefaults(entry: string): Promise<Map<string, string>> {
  // execFile rejects on a non-zero exit: --help must exit 0 (it exited 2 with "(outputHelp)" once).
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', join(REPO_ROOT, entry), '--help'], { cwd: REPO_ROOT, timeout: 60_000 });
  assert.equal(stderr, '', `${entry} --help wrote to stderr`);
  const flags = new Map<string, string>();
  // One block per option: its first line starts with two spaces and a dash; wrapped lines follow.
  for (const block of stdout.split(/\n(?= {2}-)/).slice(1)) {
    const text = block.replace(/\s+/g, ' ').trim();
    const flag = /^(?:-\w, )?(--[\w-]+)/.exec(text)?.[1];
    if (flag === undefined) continue;
    flags.set(flag, /default: ([^)]*?)\)?$/.exec(text)?.[1]?.replace(/\)$/, '') ?? '(none)');
  }
  return flags;
}

test('coordinator:serve and worker:train share every recipe flag with the same default; --help exits 0', async () => {
  const [coordinator, train, serve] = await Promise.all([helpDefaults(COORDINATOR_ENTRY), helpDefaults('apps/worker/src/train_main.ts'), helpDefaults('apps/worker/src/serve_main.ts')]);
  assert.ok(serve.has('--coordinator'), 'worker:serve --help lists its flags');
  assert.ok(coordinator.size > 40 && train.size > 25, `parsed ${coordinator.size} and ${train.size} flags`);
  for (const flag of RECIPE_FLAGS) {
    assert.ok(coordinator.has(flag), `coordinator:serve lacks ${flag}`);
    assert.ok(train.has(flag), `worker:train lacks ${flag}`);
    assert.equal(train.get(flag), coordinator.get(flag), `${flag}: worker:train default ${train.get(flag)}, coordinator:serve ${coordinator.get(flag)}`);
  }
  assert.equal(coordinator.get('--lr'), '0.1', 'the parser reads defaults');
  const shared = [...train.keys()].filter((flag) => coordinator.has(flag));
  const undecided = shared.filter((flag) => !RECIPE_FLAGS.includes(flag) && INTENDED_DIFFERENCES[flag] === undefined);
  assert.deepEqual(undecided, [], 'shared flags neither recipe nor an intended difference');
});
