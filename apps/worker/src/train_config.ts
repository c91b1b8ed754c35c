// Configuration of single-node training: command-line flags (commander) and environment, validated
// once by one strict zod schema, frozen, then passed down. No module reads process.env after this.
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { defaultHyperParams } from '@gnet/training';

/** `--help` was given: commander has printed the help to stdout; the command exits 0. */
export class HelpShown extends Error {
  override readonly name = 'HelpShown';
}

/** Commander's error for `--help` becomes {@link HelpShown}; any other becomes a ConfigError. */
export function commanderFailure(err: unknown): Error {
  if ((err as { code?: unknown }).code === 'commander.helpDisplayed') return new HelpShown('help shown');
  return new ConfigError((err as Error).message.replace(/^error: /, ''));
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Backends a worker may be asked for (selectBackend's names). 'tensorflow-gpu' is native TensorFlow
 * on a GPU or an error at start-up: tfjs-node-gpu otherwise falls back to the CPU silently when
 * CUDA or cuDNN cannot be loaded.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu'] as const;

/** The backends `--require-gpu` turns into 'tensorflow-gpu'; the others run on the CPU and conflict with it. */
const GPU_CAPABLE = new Set<string>(['auto', 'tensorflow', 'tensorflow-gpu']);

/** GNET_REQUIRE_GPU as a boolean: unset or empty is false; anything but 1/true/0/false is refused. */
export function requireGpuFromEnv(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new ConfigError(`GNET_REQUIRE_GPU must be 1, true, 0 or false, but got ${JSON.stringify(value)}`);
}

/**
 * `--require-gpu` folded into the backend, so that one value reaches selectBackend: with it,
 * 'auto' and 'tensorflow' become 'tensorflow-gpu'; a CPU backend named alongside it is a conflict.
 */
export function resolveBackend(backend: string, requireGpu: boolean): string {
  if (!requireGpu) return backend;
  if (GPU_CAPABLE.has(backend)) return 'tensorflow-gpu';
  throw new ConfigError(`--require-gpu (native TensorFlow on a GPU) conflicts with --backend ${backend}, a CPU backend; drop one of the two`);
}

const positiveInt = z.number().int().positive();
const hp = defaultHyperParams;

export const TrainConfigSchema = z
  .object({
    // Empty: the default cache folder (defaultCacheDir).
    dataDir: z.string(),
    runDir: z.string().min(1),
    resume: z.boolean(),
    backend: z.enum(BACKEND_CHOICES),
    /** oneDNN's threads; 0: every core this process may use. */
    threads: z.number().int().min(0).max(1024),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
    progress: z.boolean(),
    epochs: positiveInt,
    batchSize: positiveInt,
    microBatch: positiveInt,
    lrPeak: z.number().positive().finite(),
    warmupEpochs: z.number().min(0),
    momentum: z.number().min(0).lt(1),
    nesterov: z.boolean(),
    weightDecay: z.number().min(0),
    labelSmoothing: z.number().min(0).lt(1),
    auxWeight: z.number().min(0),
    crop: z.number().int().min(0).max(16),
    flip: z.boolean(),
    cutout: z.number().int().min(0).max(32),
    width: z.number().gt(0).max(4),
    auxHeads: z.boolean(),
    batchNorm: z.boolean(),
    dropout: z.number().min(0).lt(1),
    auxDropout: z.number().min(0).lt(1),
    seed: z.number().int().min(0).max(2 ** 31 - 1),
    trainLimit: z.number().int().min(0),
    evalLimit: z.number().int().min(0),
    evalBatch: positiveInt,
    checkpointEverySteps: z.number().int().min(0),
    keepCheckpoints: z.number().int().min(1),
    /** Chrome trace-event file of each step's phases and each evaluation (relative: to the folder the command was typed in); empty: none. */
    timeline: z.string(),
  })
  .strict();

export type TrainConfig = Readonly<z.infer<typeof TrainConfigSchema>>;

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a finite number.');
  return n;
};

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseTrainConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  runsRoot = 'runs',
  now = new Date(),
): TrainConfig {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const requireGpu = requireGpuFromEnv(env.GNET_REQUIRE_GPU);
  const program = new Command('train')
    .description('Train GoogLeNet on CIFAR-10 in one process (development mode).')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .option('--data-dir <dir>', 'CIFAR-10 binary folder; fetched there if missing (env CIFAR10_DIR)', env.CIFAR10_DIR ?? '')
    .option('--run-dir <dir>', 'run folder (metrics, chart, checkpoints)', `${runsRoot}/${stamp}`)
    .option('--resume', 'continue the run in --run-dir from its newest good checkpoint', false)
    .addOption(new Option('--backend <name>', "TF.js backend ('tensorflow-gpu': native TensorFlow on a GPU or an error) (env GNET_BACKEND)").choices(BACKEND_CHOICES).default(env.GNET_BACKEND ?? 'auto'))
    .option('--require-gpu', 'stop at start-up, naming what is missing, unless native TensorFlow runs on a GPU (= --backend tensorflow-gpu) (env GNET_REQUIRE_GPU=1)', requireGpu)
    .option('--threads <n>', "oneDNN backend's threads (0: all cores; local workers get their share) (env GNET_THREADS)", num, env.GNET_THREADS === undefined ? 0 : Number(env.GNET_THREADS))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default(env.LOG_LEVEL ?? 'info'))
    .option('--no-progress', 'no progress bar even at a terminal')
    .option('--epochs <n>', 'epochs', num, hp.epochs)
    .option('--batch-size <n>', 'images per optimizer step', num, hp.batchSize)
    .option('--micro-batch <n>', 'images per forward/backward pass (gradient accumulation)', num, hp.microBatch)
    .option('--lr <x>', 'peak learning rate', num, hp.lrPeak)
    .option('--warmup-epochs <x>', 'linear warm-up length in epochs', num, hp.warmupEpochs)
    .option('--momentum <x>', 'SGD momentum', num, hp.momentum)
    .option('--no-nesterov', 'plain momentum instead of Nesterov')
    .option('--weight-decay <x>', 'L2 weight decay on kernels', num, hp.weightDecay)
    .option('--label-smoothing <x>', 'label smoothing', num, hp.labelSmoothing)
    .option('--aux-weight <x>', 'weight of each auxiliary loss', num, hp.auxWeight)
    .option('--crop <px>', 'random-crop padding (0 = off)', num, hp.augmentation.crop)
    .option('--no-flip', 'no random horizontal flip')
    .option('--cutout <px>', 'cutout side (0 = off)', num, hp.augmentation.cutout)
    .option('--width <x>', 'GoogLeNet channel multiplier (1 = paper)', num, 1)
    .option('--no-aux-heads', 'train without the auxiliary classifiers')
    .option('--no-batch-norm', 'no BatchNorm after convolutions (as the paper)')
    .option('--dropout <x>', 'dropout before the classifier (paper: 0.4)', num, 0.4)
    .option('--aux-dropout <x>', 'dropout in the auxiliary heads (paper: 0.7)', num, 0.7)
    .option('--seed <n>', 'run seed', num, hp.seed)
    .option('--train-limit <n>', 'use only the first N training images (0 = all 45,000)', num, 0)
    .option('--eval-limit <n>', 'use only the first N validation and test images (0 = all)', num, 0)
    .option('--eval-batch <n>', 'evaluation batch', num, 100)
    // 0: a checkpoint at each epoch end only (an epoch of full CIFAR-10 is ~350 steps at batch 128).
    .option('--checkpoint-every-steps <n>', 'also checkpoint every N steps (0 = only at epoch ends)', num, 0)
    // 3: survives a torn newest checkpoint and one more, at 3x the checkpoint size on disk.
    .option('--keep-checkpoints <n>', 'checkpoints kept in <run-dir>/checkpoints, newest first (>= 1)', num, 3)
    .option('--timeline <file>', "write each step's phases (data, compute, apply) and evaluations as Chrome trace-event JSON", '');
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    throw commanderFailure(err);
  }
  const o = program.opts();
  const candidate = {
    dataDir: o.dataDir as string,
    runDir: o.runDir as string,
    resume: o.resume as boolean,
    backend: resolveBackend(o.backend as string, o.requireGpu as boolean),
    threads: o.threads as number,
    logLevel: o.logLevel as string,
    progress: o.progress as boolean,
    epochs: o.epochs as number,
    batchSize: o.batchSize as number,
    microBatch: o.microBatch as number,
    lrPeak: o.lr as number,
    warmupEpochs: o.warmupEpochs as number,
    momentum: o.momentum as number,
    nesterov: o.nesterov as boolean,
    weightDecay: o.weightDecay as number,
    labelSmoothing: o.labelSmoothing as number,
    auxWeight: o.auxWeight as number,
    crop: o.crop as number,
    flip: o.flip as boolean,
    cutout: o.cutout as number,
    width: o.width as number,
    auxHeads: o.auxHeads as boolean,
    batchNorm: o.batchNorm as boolean,
    dropout: o.dropout as number,
    auxDropout: o.auxDropout as number,
    seed: o.seed as number,
    trainLimit: o.trainLimit as number,
    evalLimit: o.evalLimit as number,
    evalBatch: o.evalBatch as number,
    checkpointEverySteps: o.checkpointEverySteps as number,
    keepCheckpoints: o.keepCheckpoints as number,
    timeline: o.timeline as string,
  };
  const parsed = TrainConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const flag = key === 'lrPeak' ? '--lr' : '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new ConfigError(`${flag}: ${issue.message}, but got ${JSON.stringify((candidate as Record<string, unknown>)[key])}`);
  }
  return Object.freeze(parsed.data);
}
