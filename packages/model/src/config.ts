// GoogLeNet configuration: the width multiplier, auxiliary heads and regularisation knobs, with
// defaults that reproduce Szegedy et al. 2015 (Table 1 channel counts, dropout 0.4 before the
// classifier, 0.7 in the auxiliary heads) adapted to CIFAR-10.
import { ModelConfigError } from './errors.js';

/** Hyperparameters of the network's shape and regularisation. */
export interface GoogLeNetConfig {
  /** Channel multiplier applied to every conv and hidden FC width; 1 = the paper. In (0, 4]. */
  readonly width: number;
  /** Build the two auxiliary classifiers (after 4a and 4d). They run only in training. */
  readonly auxHeads: boolean;
  /** BatchNorm after every conv (not in the paper, which predates it). */
  readonly batchNorm: boolean;
  /** Output classes of the main and auxiliary classifiers. */
  readonly numClasses: number;
  /** Dropout rate before the main classifier (fraction dropped, in [0, 1)). */
  readonly dropout: number;
  /** Dropout rate before the auxiliary classifiers' last FC (fraction dropped, in [0, 1)). */
  readonly auxDropout: number;
}

/** The paper's network at full width, for CIFAR-10. */
export const defaultGoogLeNetConfig: Readonly<GoogLeNetConfig> = Object.freeze({
  width: 1, // paper's channel counts
  auxHeads: true, // paper: two auxiliary classifiers during training, weight 0.3 each in the loss
  batchNorm: true, // needed to train from scratch in a few epochs; the paper used LRN instead
  numClasses: 10, // CIFAR-10
  dropout: 0.4, // paper: 40% dropout before the last FC
  auxDropout: 0.7, // paper: 70% dropout in the auxiliary heads
});

/** Largest accepted width multiplier: beyond 4 a 32x32 network only burns memory. */
export const MAX_WIDTH = 4;

const KEYS = Object.keys(defaultGoogLeNetConfig) as (keyof GoogLeNetConfig)[];

/**
 * Merges `input` over `defaultGoogLeNetConfig`, checks every field and returns a frozen config.
 * Unknown keys are refused so that a misspelt option cannot silently fall back to its default.
 *
 * @param caller named in error messages (`createGoogLeNet`, `countParams`, ...).
 * @throws ModelConfigError naming the field, the expectation and the value received.
 */
export function resolveGoogLeNetConfig(input: Partial<GoogLeNetConfig> = {}, caller = 'resolveGoogLeNetConfig'): Readonly<GoogLeNetConfig> {
  if (typeof input !== 'object' || input === null) {
    throw new ModelConfigError(`\`config\` passed to \`${caller}\` must be an object, but got ${String(input)}`);
  }
  for (const key of Object.keys(input)) {
    if (!(KEYS as string[]).includes(key)) {
      throw new ModelConfigError(`\`config\` passed to \`${caller}\` has unknown key \`${key}\` (known: ${KEYS.join(', ')})`);
    }
  }
  const c = { ...defaultGoogLeNetConfig, ...input };
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new ModelConfigError(`\`${field}\` passed to \`${caller}\` must be ${expected}, but got ${String(got)}`);
  };
  if (typeof c.width !== 'number' || !(c.width > 0 && c.width <= MAX_WIDTH)) {
    fail('width', `a number in (0, ${MAX_WIDTH}]`, c.width);
  }
  if (typeof c.auxHeads !== 'boolean') fail('auxHeads', 'a boolean', c.auxHeads);
  if (typeof c.batchNorm !== 'boolean') fail('batchNorm', 'a boolean', c.batchNorm);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1) {
    fail('numClasses', 'a positive integer', c.numClasses);
  }
  for (const field of ['dropout', 'auxDropout'] as const) {
    const rate = c[field];
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) fail(field, 'a rate in [0, 1)', rate);
  }
  return Object.freeze(c);
}

/**
 * A paper channel count scaled by `width`, never below one channel.
 *
 * @example scaleChannels(192, 0.25) === 48; scaleChannels(16, 0.01) === 1
 */
export function scaleChannels(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/** Checks that a seed is a finite integer (any sign; it is reduced to 32 bits). */
export function checkSeed(seed: unknown, field: string, caller: string): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ModelConfigError(`\`${field}\` passed to \`${caller}\` must be a safe integer, but got ${String(seed)}`);
  }
  return seed;
}
