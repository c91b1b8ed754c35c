// Facts of the recipe that are not flags, written once.

/**
 * Validation images per class held out of CIFAR-10's 50,000 training images: 500 x 10 classes
 * leaves 45,000 to train on and 5,000 to validate, as the reference recipe does.
 */
export const VAL_PER_CLASS = 500;

/**
 * Backends a worker may be asked for (selectBackend's names). 'tensorflow-gpu' is native TensorFlow
 * on a GPU or an error at start-up: tfjs-node-gpu otherwise falls back to the CPU silently when
 * CUDA or cuDNN cannot be loaded.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu'] as const;

/** pino's levels, as `--log-level` takes them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/**
 * Steps in a row skipped for a non-finite gradient before a run stops with a checkpoint: the
 * coordinator's `--max-skipped-steps` default and `worker:train`'s limit (it has no flag for it).
 */
export const DEFAULT_MAX_SKIPPED_STEPS = 5;
