// The recipe table itself: every row is well-formed, its defaults pass its own checks, and no two
// rows claim the same flag; the defaults a run gets are the recipe's documented ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Option } from 'commander';
import {
  DEFAULT_HYPER_PARAMS,
  DEFAULT_HYPER_SETTINGS,
  hyperParamsOf,
  modelConfigOf,
  withRecipeRules,
  checkRecipe,
} from './hyper_params_of.js';
import { HyperParamsSchema, ModelConfigSchema } from './hyper_params.js';
import { HYPER_SETTINGS, RECIPE, RUN_SETTINGS } from './recipe.js';
import { defaultOf, type CommandName, type DefaultContext } from './setting.js';
import { ConfigError } from './config_error.js';

const ctx: DefaultContext = { env: {}, runsRoot: 'runs', now: new Date('2026-01-02T03:04:05.678Z'), pid: 42 };
const COMMANDS: CommandName[] = ['coordinator:serve', 'worker:train', 'worker:serve'];

test("every row's default, for every command, passes the row's own schema", () => {
  for (const [key, row] of Object.entries(RECIPE)) {
    for (const command of COMMANDS) {
      const value = defaultOf(row, command, ctx);
      const parsed = row.schema.safeParse(value);
      assert.ok(parsed.success, `${key} (${command}): default ${JSON.stringify(value)} fails its schema`);
    }
  }
  assert.equal(defaultOf(RUN_SETTINGS.runDir, 'worker:train', ctx), 'runs/2026-01-02T03-04-05-678Z');
});

test('flags and commander attribute names are unique; switches that turn something off default to true', () => {
  const longs = new Set<string>();
  const attributes = new Set<string>();
  for (const [key, row] of Object.entries(RECIPE)) {
    const option = new Option(row.flags);
    assert.ok(option.long !== undefined && !longs.has(option.long), `${key}: flag ${row.flags} declared twice`);
    assert.ok(!attributes.has(option.attributeName()), `${key}: ${option.attributeName()} stored twice`);
    longs.add(option.long);
    attributes.add(option.attributeName());
    assert.ok(row.help.length > 0, `${key} has help`);
    if (option.negate) assert.equal(row.default, true, `${key}: ${row.flags} turns off what is on by default`);
    for (const override of Object.values(row.perCommand ?? {})) assert.ok(override.reason.length > 0, `${key}: an override says why`);
  }
});

test('every hyperparameter row says where its default comes from', () => {
  for (const [key, row] of Object.entries(HYPER_SETTINGS)) assert.ok((row.source ?? '').length > 0, `${key} has no source`);
});

test('the default hyperparameters are the documented recipe, on the wire schema', () => {
  assert.deepEqual(HyperParamsSchema.parse(DEFAULT_HYPER_PARAMS), {
    epochs: 100,
    globalBatch: 128,
    microBatch: 128,
    lrPeak: 0.1,
    warmupEpochs: 5,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 5e-4,
    labelSmoothing: 0.1,
    auxWeight: 0.3,
    seed: 0,
    augmentation: { cropPaddingPx: 4, flip: true, cutoutPx: 16 },
  });
  assert.deepEqual(ModelConfigSchema.parse(modelConfigOf(DEFAULT_HYPER_SETTINGS)), {
    width: 1,
    auxHeads: true,
    batchNorm: true,
    dropout: 0.4,
    auxDropout: 0.7,
  });
});

test('the per-command checkpoint cadence differs on purpose, and only there', () => {
  assert.equal(defaultOf(RUN_SETTINGS.checkpointEverySteps, 'coordinator:serve', ctx), 100);
  assert.equal(defaultOf(RUN_SETTINGS.checkpointEverySteps, 'worker:train', ctx), 0);
  const overridden = Object.entries(RECIPE).filter(([, row]) =>
    Object.values(row.perCommand ?? {}).some((option) => option.default !== undefined),
  );
  assert.deepEqual(
    overridden.map(([key]) => key),
    ['checkpointEverySteps'],
  );
});

test('an environment variable replaces the default, as a number for numeric rows', () => {
  assert.equal(defaultOf(RUN_SETTINGS.dataDir, 'worker:train', { ...ctx, env: { CIFAR10_DIR: '/data/c10' } }), '/data/c10');
  assert.equal(defaultOf(RUN_SETTINGS.backend, 'coordinator:serve', { ...ctx, env: { GNET_BACKEND: 'wasm' } }), 'wasm');
});

test('hyperParamsOf maps the flag vocabulary onto the wire one and takes the micro-batch actually used', () => {
  const hyper = hyperParamsOf({ ...DEFAULT_HYPER_SETTINGS, batchSize: 256, crop: 2, cutout: 0, flip: false }, 16);
  assert.equal(hyper.globalBatch, 256);
  assert.equal(hyper.microBatch, 16);
  assert.deepEqual(hyper.augmentation, { cropPaddingPx: 2, flip: false, cutoutPx: 0 });
});

test('--no-aux-heads sets the aux weight to 0; Nesterov needs momentum', () => {
  assert.equal(withRecipeRules({ auxHeads: false, auxWeight: 0.3 })['auxWeight'], 0);
  assert.equal(withRecipeRules({ auxHeads: true, auxWeight: 0.3 })['auxWeight'], 0.3);
  assert.throws(
    () => checkRecipe({ nesterov: true, momentum: 0 }),
    (err: unknown) => err instanceof ConfigError && /--momentum must be > 0 with Nesterov/.test(err.message),
  );
  checkRecipe({ nesterov: false, momentum: 0 });
});
