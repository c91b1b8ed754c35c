// The training recipe: every setting `coordinator:serve` and `worker:train` share, declared once
// (flag, schema, default and where it comes from, help). Both commands build their parsers from
// these rows, so the distributed run and the single-process one cannot drift apart.
//
// Defaults follow the widely reproduced CIFAR-10 recipe of kuangliu/pytorch-cifar (SGD, lr 0.1,
// momentum 0.9, weight decay 5e-4, random crop with 4-px padding + horizontal flip, cosine decay
// to zero (Loshchilov & Hutter 2017); its GoogLeNet reaches 95.04%), with three additions that are
// standard since:
//   - Nesterov momentum (Sutskever et al. 2013), as in torchvision's reference recipes;
//   - a linear warm-up of the learning rate (Goyal et al. 2017, "Accurate, Large Minibatch SGD"),
//     which matters when the global batch grows with the number of workers;
//   - label smoothing 0.1 (Szegedy et al. 2016, "Rethinking the Inception Architecture") and
//     Cutout 16 px (DeVries & Taylor 2017: -0.5 to -1 point of test error on CIFAR-10).
// The reference PyTorch Inception-v1 we grew from trained 100 epochs without augmentation and
// reached 85.06% test accuracy, heavily overfit; 100 epochs is kept as the default budget.
import { z } from 'zod';
import { BACKEND_CHOICES, LOG_LEVELS } from './constants.js';
import { setting, timeStamp } from './setting.js';

const positiveInt = z.number().int().positive();

/** The hyperparameters and model settings: what a run learns with (sent to workers in `welcome`). */
export const HYPER_SETTINGS = {
  epochs: setting({
    flags: '--epochs <n>',
    help: 'epochs',
    schema: positiveInt,
    number: true,
    default: 100,
    source: 'the reference PyTorch Inception-v1 budget',
  }),
  batchSize: setting({
    flags: '--batch-size <n>',
    help: 'global batch: images per optimizer step over all workers',
    schema: positiveInt,
    number: true,
    default: 128,
    source: 'kuangliu/pytorch-cifar',
  }),
  microBatch: setting({
    flags: '--micro-batch <n>',
    help: 'images per forward/backward pass (gradient accumulation; lowered for wasm)',
    schema: positiveInt,
    number: true,
    default: 128,
    source: 'the whole batch in one pass; lowered automatically where memory is capped (wasm: width 1 fits 16)',
  }),
  lrPeak: setting({
    flags: '--lr <x>',
    help: 'peak learning rate (for the global batch)',
    schema: z.number().positive().finite(),
    number: true,
    default: 0.1,
    source: 'kuangliu/pytorch-cifar, for batch 128',
  }),
  warmupEpochs: setting({
    flags: '--warmup-epochs <x>',
    help: 'linear warm-up length in epochs',
    schema: z.number().min(0),
    number: true,
    default: 5,
    source: 'Goyal et al. 2017',
  }),
  momentum: setting({
    flags: '--momentum <x>',
    help: 'SGD momentum',
    schema: z.number().min(0).lt(1),
    number: true,
    default: 0.9,
    source: 'kuangliu/pytorch-cifar',
  }),
  nesterov: setting({
    flags: '--no-nesterov',
    help: 'plain momentum instead of Nesterov',
    schema: z.boolean(),
    default: true,
    source: 'Sutskever et al. 2013; torchvision reference recipes',
  }),
  weightDecay: setting({
    flags: '--weight-decay <x>',
    // On convolution and dense kernels only, not biases or BatchNorm (as in Goyal et al.).
    help: 'L2 weight decay on kernels',
    schema: z.number().min(0),
    number: true,
    default: 5e-4,
    source: 'kuangliu/pytorch-cifar',
  }),
  labelSmoothing: setting({
    flags: '--label-smoothing <x>',
    help: 'label smoothing',
    schema: z.number().min(0).lt(1),
    number: true,
    default: 0.1,
    source: 'Szegedy et al. 2016',
  }),
  auxWeight: setting({
    flags: '--aux-weight <x>',
    help: 'weight of each auxiliary loss',
    schema: z.number().min(0),
    number: true,
    default: 0.3,
    source: 'Szegedy et al. 2015, section 5',
  }),
  crop: setting({
    flags: '--crop <px>',
    help: 'random-crop padding (0 = off)',
    schema: z.number().int().min(0).max(16),
    number: true,
    default: 4,
    source: 'kuangliu/pytorch-cifar',
  }),
  flip: setting({
    flags: '--no-flip',
    help: 'no random horizontal flip',
    schema: z.boolean(),
    default: true,
    source: 'kuangliu/pytorch-cifar',
  }),
  cutout: setting({
    flags: '--cutout <px>',
    help: 'cutout side (0 = off)',
    schema: z.number().int().min(0).max(32),
    number: true,
    default: 16,
    source: 'DeVries & Taylor 2017',
  }),
  width: setting({
    flags: '--width <x>',
    help: 'GoogLeNet channel multiplier (1 = paper)',
    schema: z.number().gt(0).max(4),
    number: true,
    default: 1,
    source: 'Szegedy et al. 2015',
  }),
  auxHeads: setting({
    flags: '--no-aux-heads',
    help: 'train without the auxiliary classifiers (sets --aux-weight 0)',
    schema: z.boolean(),
    default: true,
    source: 'Szegedy et al. 2015',
  }),
  batchNorm: setting({
    flags: '--no-batch-norm',
    help: 'no BatchNorm after convolutions (as the paper)',
    schema: z.boolean(),
    default: true,
    source: 'not in the paper; it makes CIFAR training stable',
  }),
  dropout: setting({
    flags: '--dropout <x>',
    help: 'dropout before the classifier (paper: 0.4)',
    schema: z.number().min(0).lt(1),
    number: true,
    default: 0.4,
    source: 'Szegedy et al. 2015',
  }),
  auxDropout: setting({
    flags: '--aux-dropout <x>',
    help: 'dropout in the auxiliary heads (paper: 0.7)',
    schema: z.number().min(0).lt(1),
    number: true,
    default: 0.7,
    source: 'Szegedy et al. 2015',
  }),
  seed: setting({
    flags: '--seed <n>',
    help: 'run seed',
    schema: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    number: true,
    default: 0,
    source: 'any; every random stream derives from it',
  }),
  trainLimit: setting({
    flags: '--train-limit <n>',
    help: 'use only the first N training images (0 = all 45,000)',
    schema: z.number().int().min(0),
    number: true,
    default: 0,
    source: 'all',
  }),
  evalLimit: setting({
    flags: '--eval-limit <n>',
    help: 'use only the first N validation and test images (0 = all)',
    schema: z.number().int().min(0),
    number: true,
    default: 0,
    source: 'all',
  }),
  evalBatch: setting({
    flags: '--eval-batch <n>',
    help: 'evaluation batch per worker',
    schema: positiveInt,
    number: true,
    default: 100,
    source: 'divides the 5,000 validation and 10,000 test images',
  }),
};

/** Where a run reads and writes, how it logs and checkpoints: shared, but not what it learns with. */
export const RUN_SETTINGS = {
  // Empty: the default cache folder (defaultCacheDir).
  dataDir: setting({
    flags: '--data-dir <dir>',
    help: 'CIFAR-10 binary folder; fetched there if missing (env CIFAR10_DIR)',
    schema: z.string(),
    env: 'CIFAR10_DIR',
    default: '',
  }),
  runDir: setting({
    flags: '--run-dir <dir>',
    help: 'run folder (metrics, chart, checkpoints)',
    schema: z.string().min(1),
    default: (ctx) => `${ctx.runsRoot}/${timeStamp(ctx.now)}`,
    source: 'a fresh folder named by the start time',
  }),
  resume: setting({
    flags: '--resume',
    help: 'continue the run in --run-dir from its latest good checkpoint',
    schema: z.boolean(),
    default: false,
  }),
  backend: setting({
    flags: '--backend <name>',
    help: "TF.js backend ('tensorflow-gpu': native TensorFlow on a GPU or an error) (env GNET_BACKEND)",
    // selectBackend's name; 'tensorflow-gpu' (also what --require-gpu makes of auto/tensorflow) demands a GPU.
    schema: z.enum(BACKEND_CHOICES),
    choices: BACKEND_CHOICES,
    env: 'GNET_BACKEND',
    default: 'auto',
    source: 'native TensorFlow where it loads, else the fastest pure backend',
    perCommand: {
      'coordinator:serve': {
        help: 'TF.js backend of local workers',
        reason: 'the coordinator never trains: it passes the backend to the workers it spawns',
      },
    },
  }),
  logLevel: setting({
    flags: '--log-level <level>',
    help: 'log level',
    schema: z.enum(LOG_LEVELS),
    choices: LOG_LEVELS,
    env: 'LOG_LEVEL',
    default: 'info',
  }),
  checkpointEverySteps: setting({
    flags: '--checkpoint-every-steps <n>',
    help: 'also checkpoint every N optimizer steps (0 = only at epoch ends)',
    schema: z.number().int().min(0),
    number: true,
    // An epoch of full CIFAR-10 is ~350 steps at batch 128.
    default: 0,
    source: 'one process: a checkpoint at each epoch end only',
    perCommand: {
      'coordinator:serve': {
        default: 100,
        reason: 'a distributed run checkpoints every 100 steps so a lost coordinator or group costs little',
      },
    },
  }),
  keepCheckpoints: setting({
    flags: '--keep-checkpoints <n>',
    help: 'checkpoints kept in <run-dir>/checkpoints, newest first (>= 1)',
    schema: z.number().int().min(1),
    number: true,
    default: 3,
    source: 'survives a torn newest checkpoint and one more, at 3x the checkpoint size on disk',
  }),
};

/** Every row shared by `coordinator:serve` and `worker:train`. */
export const RECIPE = { ...HYPER_SETTINGS, ...RUN_SETTINGS };
