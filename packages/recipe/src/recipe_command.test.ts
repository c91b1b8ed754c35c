// parseRecipeCommand: the command's resolve step, the recipe's rules, the strict schema and the
// recipe's cross-field checks, in that order, for any command built on the recipe's rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError } from './config_error.js';
import { HYPER_SETTINGS } from './recipe.js';
import { parseRecipeCommand } from './recipe_command.js';
import { setting, shapeOf } from './setting.js';

const SETTINGS = {
  ...HYPER_SETTINGS,
  label: setting({ flags: '--label <text>', help: 'a label, upper-cased by resolve', schema: z.string().min(1), default: 'x' }),
};
const SPEC = {
  name: 't',
  description: 'test command',
  command: 'worker:train',
  settings: SETTINGS,
  schema: z.object(shapeOf(SETTINGS)).strict(),
} as const;
const INPUT = { env: {}, runsRoot: 'runs', now: new Date(0) };

function rejects(run: () => unknown, message: string): void {
  assert.throws(run, (err: unknown) => err instanceof ConfigError && err.code === 'CONFIG_INVALID' && err.message === message);
}

test('the config is what resolve made of the given values, validated, with the recipe rules applied', () => {
  const { config, given } = parseRecipeCommand(SPEC, { ...INPUT, argv: ['--label', 'abc', '--no-aux-heads', '--lr', '0.2'] }, (values) => ({
    ...values,
    label: String(values['label']).toUpperCase(),
  }));
  assert.equal(config.label, 'ABC');
  assert.equal(config.lrPeak, 0.2);
  // --no-aux-heads leaves no aux loss to weigh: the recipe rule sets it to 0 whatever --aux-weight says.
  assert.equal(config.auxWeight, 0);
  assert.equal(given['label'], 'abc', 'given holds the values before resolve');
});

test('a value resolve produced is checked by the schema, naming the flag', () => {
  rejects(
    () => parseRecipeCommand(SPEC, { ...INPUT, argv: [] }, (values) => ({ ...values, label: '' })),
    '--label: Too small: expected string to have >=1 characters, but got ""',
  );
});

test('the recipe cross-field checks run on the validated config', () => {
  rejects(
    () => parseRecipeCommand(SPEC, { ...INPUT, argv: ['--momentum', '0'] }, (values) => values),
    '--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov for plain SGD',
  );
  const { config } = parseRecipeCommand(SPEC, { ...INPUT, argv: ['--momentum', '0', '--no-nesterov'] }, (values) => values);
  assert.equal(config.momentum, 0);
});

test('an error thrown by resolve ends the parse unchanged', () => {
  rejects(
    () =>
      parseRecipeCommand(SPEC, { ...INPUT, argv: [] }, () => {
        throw new ConfigError('--label is refused by this command');
      }),
    '--label is refused by this command',
  );
});
