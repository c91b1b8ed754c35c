// Configuration of `nx run coordinator:serve`: command-line flags (commander) and environment,
// validated once by one strict zod schema, frozen, then passed down; no module reads process.env
// after this. Hyperparameter flags carry the same names as `worker:train`'s (the coordinator owns
// them and sends them to every worker in `welcome`). Mirrors apps/worker/src/train_config.ts.
import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { CollectiveConfigError, readServerTls } from '@gnet/collective';
import { resolveUserPath } from '@gnet/data';

/** `--help` was given: commander has printed the help to stdout; the command exits 0. */
export class HelpShown extends Error {
  override readonly name = 'HelpShown';
}

/** A flag or environment value is invalid: the process ends at start-up (exit code 2). */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Default port: torchrun's MASTER_PORT, so the launch reads the same as torch's. */
export const DEFAULT_COORDINATOR_PORT = 29500;
/** Default dashboard port: the one after the coordinator's, as Ray puts its dashboard beside its head. */
export const DEFAULT_DASHBOARD_PORT = 29501;

const positiveInt = z.number().int().positive();
/** An IP address or a host name (RFC 1123 labels; `_` too, as container names use it): no scheme, port, brackets or spaces. */
const HostSchema = z
  .string()
  .refine((h) => isIP(h) !== 0 || /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/.test(h), 'expected an IP address or a host name');
const ms = z.number().int().positive();

export const CoordinatorConfigSchema = z
  .object({
    host: HostSchema,
    /** 0: the OS picks a free port (logged as `url` in 'coordinator listening'). */
    port: z.number().int().min(0).max(65535),
    /** Shared secret every worker must prove it knows in `hello` (never sent); empty accepts any worker. */
    token: z.string().max(1024),
    /** Absolute path of the PEM certificate (chain) to serve `wss://` with; empty: plain `ws://`. Set with `tlsKey`. */
    tlsCert: z.string(),
    /** Absolute path of the PEM private key of `tlsCert`; empty when `tlsCert` is. */
    tlsKey: z.string(),
    /** Workers to wait for; with `localWorkers` > 0 it must be equal or 0 (then it is `localWorkers`). */
    workers: z.number().int().min(0),
    /** Spawn this many workers on this machine (single-node mode); 0 = wait for remote ones. */
    localWorkers: z.number().int().min(0).max(64),
    /** Backend the local workers request. */
    backend: z.enum(['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu']),
    /** Extra flags for the local workers (debugging traces, e.g. `--trace-weights --dump-dir d`). */
    localWorkerArgs: z.array(z.string()),
    algorithm: z.enum(['ring', 'star']),
    // Empty: the default cache folder (defaultCacheDir).
    dataDir: z.string(),
    runDir: z.string().min(1),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
    epochs: positiveInt,
    /** Global batch: images of one optimizer step over all workers; a multiple of the world size. */
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
    bucketBytes: z.number().int().min(4),
    chunkBytes: z.number().int().min(4).multipleOf(4),
    wireDtype: z.enum(['float32', 'float16', 'bfloat16']),
    heartbeatMs: ms,
    joinTimeoutMs: ms,
    roundTimeoutMs: ms,
    stallWarnMs: ms,
    /** Elastic membership (torchrun's --nnodes=MIN:MAX): keep training while at least minWorkers remain. */
    minWorkers: z.number().int().min(1),
    /** Most workers at once; later arrivals are admitted at a step boundary up to this many. */
    maxWorkers: z.number().int().min(1),
    /** A worker silent this long is lost (heartbeats stop when its process freezes or machine dies). */
    workerTimeoutMs: ms,
    /** Below minWorkers, wait this long for a replacement before checkpointing and stopping. */
    rejoinTimeoutMs: z.number().int().min(0),
    stopGraceMs: z.number().int().min(0),
    /** Give up after this many re-formed groups in a row without a completed step. */
    maxReforms: positiveInt,
    /** Checkpoint every this many optimizer steps (0: only at the end of each epoch). */
    checkpointEverySteps: z.number().int().min(0),
    /** Checkpoints kept in <run>/checkpoints (older ones are pruned). */
    keepCheckpoints: positiveInt,
    /** Continue the run in --run-dir from its latest good checkpoint. */
    resume: z.boolean(),
    /** Stop (with a checkpoint) after this many steps in a row skipped for a non-finite gradient. */
    maxSkippedSteps: positiveInt,
    printPlan: z.boolean(),
    /** Serve the live dashboard and /metrics over HTTP on `host` (`--no-dashboard`: off). */
    dashboard: z.boolean(),
    /** Port of the dashboard; 0: the OS picks a free one (logged as `dashboard` in 'dashboard listening'). */
    dashboardPort: z.number().int().min(0).max(65535),
  })
  .strict();

export type CoordinatorConfig = Readonly<z.infer<typeof CoordinatorConfigSchema>>;

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a finite number.');
  return n;
};

/** Flag spelling of a config key, for error messages (`lrPeak` → `--lr`). */
function flagOf(key: string): string {
  if (key === 'lrPeak') return '--lr';
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseCoordinatorConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  runsRoot = 'runs',
  now = new Date(),
): CoordinatorConfig {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const program = new Command('serve')
    .description('Coordinate data-parallel GoogLeNet training: wait for workers (or spawn them), drive rounds, evaluate, write the run folder.')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .option('--host <host>', 'interface to listen on (0.0.0.0 for workers on other machines)', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', num, DEFAULT_COORDINATOR_PORT)
    .option('--token <secret>', 'shared secret workers must prove they know; never sent (env GNET_TOKEN)', env.GNET_TOKEN ?? '')
    .option('--tls-cert <pem>', 'serve wss:// with this PEM certificate (chain); needs --tls-key', '')
    .option('--tls-key <pem>', 'PEM private key of --tls-cert', '')
    .option('--workers <n>', 'workers to wait for (default: --local-workers, else 1)', num, 0)
    .option('--local-workers <n>', 'spawn N workers on this machine (single-node mode)', num, 0)
    .addOption(new Option('--backend <name>', 'TF.js backend of local workers').choices(['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu']).default(env.GNET_BACKEND ?? 'auto'))
    .option('--local-worker-args <flags>', "extra flags for local workers, space-separated (e.g. '--trace-weights --dump-dir d')", '')
    .addOption(new Option('--algorithm <name>', 'all-reduce: ring between workers, or star through the coordinator').choices(['ring', 'star']).default('ring'))
    .option('--data-dir <dir>', 'CIFAR-10 binary folder; fetched there if missing (env CIFAR10_DIR)', env.CIFAR10_DIR ?? '')
    .option('--run-dir <dir>', 'run folder (metrics, chart, checkpoints)', `${runsRoot}/${stamp}`)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default(env.LOG_LEVEL ?? 'info'))
    // Hyperparameters: same names and defaults as worker:train (packages/training defaultHyperParams).
    .option('--epochs <n>', 'epochs', num, 100)
    .option('--batch-size <n>', 'global batch: images per optimizer step over all workers', num, 128)
    .option('--micro-batch <n>', 'images per forward/backward pass (lowered for wasm workers)', num, 128)
    .option('--lr <x>', 'peak learning rate (for the global batch)', num, 0.1)
    .option('--warmup-epochs <x>', 'linear warm-up length in epochs', num, 5)
    .option('--momentum <x>', 'SGD momentum', num, 0.9)
    .option('--no-nesterov', 'plain momentum instead of Nesterov')
    .option('--weight-decay <x>', 'L2 weight decay on kernels', num, 5e-4)
    .option('--label-smoothing <x>', 'label smoothing', num, 0.1)
    .option('--aux-weight <x>', 'weight of each auxiliary loss', num, 0.3)
    .option('--crop <px>', 'random-crop padding (0 = off)', num, 4)
    .option('--no-flip', 'no random horizontal flip')
    .option('--cutout <px>', 'cutout side (0 = off)', num, 16)
    .option('--width <x>', 'GoogLeNet channel multiplier (1 = paper)', num, 1)
    .option('--no-aux-heads', 'train without the auxiliary classifiers (sets --aux-weight 0)')
    .option('--no-batch-norm', 'no BatchNorm after convolutions (as the paper)')
    .option('--dropout <x>', 'dropout before the classifier (paper: 0.4)', num, 0.4)
    .option('--aux-dropout <x>', 'dropout in the auxiliary heads (paper: 0.7)', num, 0.7)
    .option('--seed <n>', 'run seed', num, 0)
    .option('--train-limit <n>', 'use only the first N training images (0 = all 45,000)', num, 0)
    .option('--eval-limit <n>', 'use only the first N validation and test images (0 = all)', num, 0)
    .option('--eval-batch <n>', 'evaluation batch per worker', num, 100)
    // All-reduce and liveness.
    .option('--bucket-bytes <n>', 'gradient bucket size in bytes (torch DDP: 25 MiB)', num, 25 * 1024 * 1024)
    .option('--chunk-bytes <n>', 'payload of one chunk frame in bytes (multiple of 4)', num, 2 * 1024 * 1024)
    .addOption(new Option('--wire-dtype <dtype>', 'gradient element type on the wire').choices(['float32', 'float16', 'bfloat16']).default('float32'))
    .option('--heartbeat-ms <n>', 'heartbeat period in both directions', num, 5000)
    .option('--join-timeout-ms <n>', 'longest wait for all workers to say hello', num, 10 * 60_000)
    .option('--round-timeout-ms <n>', 'longest wait for every worker in a round, evaluation or checkpoint', num, 10 * 60_000)
    .option('--stall-warn-ms <n>', 'warn, naming the missing ranks, when a wait exceeds this', num, 30_000)
    .option('--min-workers <n>', 'keep training while at least this many workers remain (default: --workers)', num, 0)
    .option('--max-workers <n>', 'admit joining workers up to this many (default: --workers)', num, 0)
    .option('--worker-timeout-ms <n>', 'a worker silent this long is lost (must exceed the longest micro-batch on the slowest worker: steps yield between micro-batches to send heartbeats)', num, 120_000)
    .option('--rejoin-timeout-ms <n>', 'below --min-workers, wait this long for a replacement before checkpointing and stopping', num, 60_000)
    // 10 s: a step in progress usually ends well within it, and a checkpoint still fits in the 30 s
    // that Kubernetes (terminationGracePeriodSeconds) and Slurm (KillWait) leave after SIGTERM.
    .option('--stop-grace-ms <n>', 'after SIGINT/SIGTERM, let the step in progress finish for up to this long (else abort it), then checkpoint and stop', num, 10_000)
    .option('--max-reforms <n>', 'stop after this many re-formed groups in a row without a completed step', num, 5)
    .option('--checkpoint-every-steps <n>', 'checkpoint every N optimizer steps (0: end of each epoch only)', num, 100)
    .option('--keep-checkpoints <n>', 'checkpoints kept in <run-dir>/checkpoints', num, 3)
    .option('--resume', 'continue the run in --run-dir from its latest good checkpoint', false)
    .option('--max-skipped-steps <n>', 'stop with a checkpoint after N steps in a row skipped for a non-finite gradient', num, 5)
    .option('--print-plan', 'print the model size and bucket layout as JSON and exit', false)
    .option('--dashboard-port <n>', 'port of the live dashboard and /metrics on --host (0 = any free port)', num, DEFAULT_DASHBOARD_PORT)
    .option('--no-dashboard', 'serve no dashboard and no /metrics');
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'commander.helpDisplayed') throw new HelpShown('help shown');
    throw new ConfigError((err as Error).message.replace(/^error: /, ''));
  }
  const o = program.opts();
  // 0 is the flag's "not given" default (then --local-workers, else 1); given explicitly, it asks for no workers at all.
  if (program.getOptionValueSource('workers') === 'cli' && o.workers === 0) {
    throw new ConfigError('--workers must be at least 1 (leave it out to use --local-workers), but got 0');
  }
  const auxHeads = o.auxHeads as boolean;
  const candidate = {
    host: o.host as string,
    port: o.port as number,
    token: o.token as string,
    // Relative to the folder the command was typed in (nx runs us in apps/coordinator).
    tlsCert: (o.tlsCert as string) === '' ? '' : resolveUserPath(o.tlsCert as string, env),
    tlsKey: (o.tlsKey as string) === '' ? '' : resolveUserPath(o.tlsKey as string, env),
    workers: o.workers as number,
    localWorkers: o.localWorkers as number,
    backend: o.backend as string,
    localWorkerArgs: (o.localWorkerArgs as string).split(/\s+/).filter((a) => a !== ''),
    algorithm: o.algorithm as string,
    dataDir: o.dataDir as string,
    runDir: o.runDir as string,
    logLevel: o.logLevel as string,
    epochs: o.epochs as number,
    batchSize: o.batchSize as number,
    microBatch: o.microBatch as number,
    lrPeak: o.lr as number,
    warmupEpochs: o.warmupEpochs as number,
    momentum: o.momentum as number,
    nesterov: o.nesterov as boolean,
    weightDecay: o.weightDecay as number,
    labelSmoothing: o.labelSmoothing as number,
    // Without aux heads there is no aux loss to weigh (the protocol refuses auxWeight > 0 then).
    auxWeight: auxHeads ? (o.auxWeight as number) : 0,
    crop: o.crop as number,
    flip: o.flip as boolean,
    cutout: o.cutout as number,
    width: o.width as number,
    auxHeads,
    batchNorm: o.batchNorm as boolean,
    dropout: o.dropout as number,
    auxDropout: o.auxDropout as number,
    seed: o.seed as number,
    trainLimit: o.trainLimit as number,
    evalLimit: o.evalLimit as number,
    evalBatch: o.evalBatch as number,
    bucketBytes: o.bucketBytes as number,
    chunkBytes: o.chunkBytes as number,
    wireDtype: o.wireDtype as string,
    heartbeatMs: o.heartbeatMs as number,
    joinTimeoutMs: o.joinTimeoutMs as number,
    roundTimeoutMs: o.roundTimeoutMs as number,
    stallWarnMs: o.stallWarnMs as number,
    // 0 = "same as --workers", resolved below once --workers is known; 1 passes the schema meanwhile.
    minWorkers: (o.minWorkers as number) || 1,
    maxWorkers: (o.maxWorkers as number) || 1,
    workerTimeoutMs: o.workerTimeoutMs as number,
    rejoinTimeoutMs: o.rejoinTimeoutMs as number,
    stopGraceMs: o.stopGraceMs as number,
    maxReforms: o.maxReforms as number,
    checkpointEverySteps: o.checkpointEverySteps as number,
    keepCheckpoints: o.keepCheckpoints as number,
    resume: o.resume as boolean,
    maxSkippedSteps: o.maxSkippedSteps as number,
    printPlan: o.printPlan as boolean,
    dashboard: o.dashboard as boolean,
    dashboardPort: o.dashboardPort as number,
  };
  const parsed = CoordinatorConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    throw new ConfigError(`${flagOf(key)}: ${issue.message}, but got ${JSON.stringify((candidate as Record<string, unknown>)[key])}`);
  }
  const cfg = parsed.data;
  // Cross-field rules, each naming both flags and the fix (Ray's pattern).
  checkTlsFiles(cfg.tlsCert, cfg.tlsKey);
  if (cfg.localWorkers > 0 && cfg.workers !== 0 && cfg.workers !== cfg.localWorkers) {
    throw new ConfigError(
      `--workers (${cfg.workers}) must equal --local-workers (${cfg.localWorkers}) when both are given; drop --workers to wait for the local ones only`,
    );
  }
  if (cfg.nesterov && cfg.momentum === 0) {
    throw new ConfigError('--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov for plain SGD');
  }
  const workers = cfg.workers > 0 ? cfg.workers : cfg.localWorkers > 0 ? cfg.localWorkers : 1;
  const minWorkers = (o.minWorkers as number) === 0 ? workers : cfg.minWorkers;
  const maxWorkers = (o.maxWorkers as number) === 0 ? Math.max(workers, minWorkers) : cfg.maxWorkers;
  if (minWorkers > workers) {
    throw new ConfigError(`--min-workers (${minWorkers}) must not exceed --workers (${workers}), the group the run starts with`);
  }
  if (maxWorkers < workers) {
    throw new ConfigError(`--max-workers (${maxWorkers}) must be at least --workers (${workers}), the group the run starts with`);
  }
  // The global batch is fixed for the run and split across whoever is in the group: every
  // possible member needs at least one image of it.
  if (cfg.batchSize < maxWorkers) {
    throw new ConfigError(`--batch-size (${cfg.batchSize}) must be at least --max-workers (${maxWorkers}) so every worker gets an image of each global batch`);
  }
  return Object.freeze({ ...cfg, workers, minWorkers, maxWorkers });
}

/**
 * `--tls-cert` and `--tls-key` come together, and are read once here so a bad file fails at
 * start-up with its name and reason (the rendezvous reads them again to serve).
 */
function checkTlsFiles(certFile: string, keyFile: string): void {
  if (certFile === '' && keyFile === '') return;
  if (certFile === '' || keyFile === '') {
    const [given, missing] = certFile === '' ? ['--tls-key', '--tls-cert'] : ['--tls-cert', '--tls-key'];
    throw new ConfigError(`${missing} must be given together with ${given} (both serve wss://, neither serves ws://), but only ${given} was`);
  }
  try {
    readServerTls(certFile, keyFile);
  } catch (err) {
    if (err instanceof CollectiveConfigError) throw new ConfigError(`--tls-cert / --tls-key: ${err.message}`);
    throw err;
  }
}
