// coordinator:serve and worker:train build their parsers from @gnet/recipe's rows: the same argv
// gives the same hyperparameters and model in both, in-process (no spawn). This replaces the test
// that parsed both commands' --help to catch two copies of the recipe drifting apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCoordinatorConfig } from '@gnet/coordinator';
import { ConfigError, hyperParamsOf, modelConfigOf, RECIPE } from '@gnet/recipe';
import { parseTrainConfig } from '@gnet/worker';

const env = {};
const now = new Date('2026-01-02T03:04:05.000Z');
const ARGVS: string[][] = [
  [],
  ['--epochs', '3', '--batch-size', '64', '--micro-batch', '16', '--lr', '0.05', '--warmup-epochs', '0.5', '--momentum', '0.8'],
  ['--no-nesterov', '--momentum', '0', '--weight-decay', '0', '--label-smoothing', '0', '--seed', '7'],
  ['--crop', '0', '--no-flip', '--cutout', '0', '--width', '0.5', '--dropout', '0', '--aux-dropout', '0.5'],
  ['--no-aux-heads', '--aux-weight', '0.5', '--no-batch-norm', '--train-limit', '512', '--eval-limit', '200', '--eval-batch', '50'],
  [
    '--keep-checkpoints',
    '1',
    '--checkpoint-every-steps',
    '7',
    '--resume',
    '--run-dir',
    'runs/x',
    '--data-dir',
    '/d',
    '--log-level',
    'warn',
  ],
];

test('the same argv gives the same recipe in coordinator:serve and worker:train', () => {
  for (const argv of ARGVS) {
    const coordinator = parseCoordinatorConfig(argv, env, 'runs', now);
    const train = parseTrainConfig(argv, env, 'runs', now);
    assert.deepEqual(hyperParamsOf(coordinator), hyperParamsOf(train), argv.join(' '));
    assert.deepEqual(modelConfigOf(coordinator), modelConfigOf(train), argv.join(' '));
    for (const key of Object.keys(RECIPE) as (keyof typeof RECIPE)[]) {
      if (key === 'checkpointEverySteps' && !argv.includes('--checkpoint-every-steps')) continue;
      assert.deepEqual(coordinator[key], train[key], `${key} after ${argv.join(' ')}`);
    }
  }
});

test('the only default the two commands do not share is the checkpoint cadence', () => {
  const coordinator = parseCoordinatorConfig([], env, 'runs', now);
  const train = parseTrainConfig([], env, 'runs', now);
  const differ = (Object.keys(RECIPE) as (keyof typeof RECIPE)[]).filter(
    (key) => JSON.stringify(coordinator[key]) !== JSON.stringify(train[key]),
  );
  assert.deepEqual(differ, ['checkpointEverySteps']);
  assert.equal(coordinator.checkpointEverySteps, 100);
  assert.equal(train.checkpointEverySteps, 0);
});

test('a bad recipe value is the same ConfigError, naming the flag, in both commands', () => {
  const bad: [string[], RegExp][] = [
    [['--lr', '0'], /^--lr: Too small: expected number to be >0, but got 0$/],
    [['--crop', '17'], /^--crop: .*but got 17$/],
    [['--momentum', '1'], /^--momentum: .*but got 1$/],
    [['--keep-checkpoints', '0'], /^--keep-checkpoints: .*but got 0$/],
    [['--epochs', 'x'], /^option '--epochs <n>' argument 'x' is invalid\. Expected a finite number\.$/],
    [['--momentum', '0'], /^--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov for plain SGD$/],
  ];
  for (const [argv, message] of bad) {
    const errors = [() => parseCoordinatorConfig(argv, env), () => parseTrainConfig(argv, env)].map((parse) => {
      try {
        parse();
      } catch (err) {
        return err;
      }
      return undefined;
    });
    for (const err of errors) {
      assert.ok(err instanceof ConfigError, `${argv.join(' ')}: ${String(err)}`);
      assert.match(err.message, message);
    }
    assert.equal((errors[0] as Error).message, (errors[1] as Error).message);
  }
});
