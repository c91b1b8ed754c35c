// From the recipe's flags to what training consumes: the wire `HyperParams` and `ModelConfig`.
// One mapping for the coordinator (which sends them in `welcome`) and for worker:train.
import { z } from 'zod';
import { ConfigError } from './config_error.js';
import { HyperParamsSchema, type HyperParams, type ModelConfig } from './hyper_params.js';
import { HYPER_SETTINGS } from './recipe.js';
import { shapeOf } from './setting.js';

/** The hyperparameter rows as a schema: what both configs hold of the recipe. */
export const HyperSettingsSchema = z.object(shapeOf(HYPER_SETTINGS));
/** The recipe's values as both commands' configs hold them (flag vocabulary: `batchSize`, `crop`). */
export type HyperSettings = z.infer<typeof HyperSettingsSchema>;

/**
 * Rules between recipe values that hold before validation: without aux heads there is no aux loss
 * to weigh (and the protocol refuses auxWeight > 0 then), so `--no-aux-heads` sets it to 0.
 */
export function withRecipeRules(candidate: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return candidate['auxHeads'] === false ? { ...candidate, auxWeight: 0 } : { ...candidate };
}

/** Cross-field checks of a validated recipe, each naming both flags and the fix. */
export function checkRecipe(recipe: Pick<HyperSettings, 'nesterov' | 'momentum'>): void {
  if (recipe.nesterov && recipe.momentum === 0) {
    throw new ConfigError('--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov for plain SGD');
  }
}

/**
 * The hyperparameters of a run. `microBatch` is the one actually used, which the caller may have
 * lowered from `--micro-batch` (a rank's slice, a wasm heap).
 */
export function hyperParamsOf(recipe: Readonly<HyperSettings>, microBatch = recipe.microBatch): HyperParams {
  return {
    epochs: recipe.epochs,
    globalBatch: recipe.batchSize,
    microBatch,
    lrPeak: recipe.lrPeak,
    warmupEpochs: recipe.warmupEpochs,
    momentum: recipe.momentum,
    nesterov: recipe.nesterov,
    weightDecay: recipe.weightDecay,
    labelSmoothing: recipe.labelSmoothing,
    auxWeight: recipe.auxWeight,
    seed: recipe.seed,
    augmentation: { cropPaddingPx: recipe.crop, flip: recipe.flip, cutoutPx: recipe.cutout },
  };
}

/** The GoogLeNet every replica builds. */
export function modelConfigOf(recipe: Readonly<HyperSettings>): ModelConfig {
  return {
    width: recipe.width,
    auxHeads: recipe.auxHeads,
    batchNorm: recipe.batchNorm,
    dropout: recipe.dropout,
    auxDropout: recipe.auxDropout,
  };
}

/** The recipe's default values, straight from the rows. */
export const DEFAULT_HYPER_SETTINGS: Readonly<HyperSettings> = Object.freeze(
  HyperSettingsSchema.parse(Object.fromEntries(Object.entries(HYPER_SETTINGS).map(([key, s]) => [key, s.default]))),
);

/** The default hyperparameters (those of a run given no flags). */
export const DEFAULT_HYPER_PARAMS: Readonly<HyperParams> = Object.freeze(HyperParamsSchema.parse(hyperParamsOf(DEFAULT_HYPER_SETTINGS)));
