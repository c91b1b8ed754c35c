// Configuration of `nx run coordinator:serve`: command-line flags (commander) and environment,
// validated once by one strict zod schema, frozen, then passed down; no module reads process.env
// after this. The recipe's flags (hyperparameters, run folder, checkpoints) are @gnet/recipe's
// rows, shared with `worker:train`; the coordinator's own flags below are declared the same way.
import { z } from 'zod';
import { CollectiveConfigError, readPemFile, readServerTls } from '@gnet/collective';
import { resolveUserPath } from '@gnet/data';
import {
  checkTlsFiles,
  ConfigError,
  DEFAULT_MAX_SKIPPED_STEPS,
  HostSchema,
  HYPER_SETTINGS,
  parseRecipeCommand,
  RUN_SETTINGS,
  setting,
  shapeOf,
} from '@gnet/recipe';

export { ConfigError, HelpShown } from '@gnet/recipe';

/** Default port: torchrun's MASTER_PORT, so the launch reads the same as torch's. */
export const DEFAULT_COORDINATOR_PORT = 29500;
/** Default dashboard port: the one after the coordinator's, as Ray puts its dashboard beside its head. */
export const DEFAULT_DASHBOARD_PORT = 29501;

const positiveInt = z.number().int().positive();
const ms = z.number().int().positive();
const port = z.number().int().min(0).max(65535);

/** Every flag of coordinator:serve, in `--help` order. */
const COORDINATOR_SETTINGS = {
  host: setting({
    flags: '--host <host>',
    help: 'interface to listen on (0.0.0.0 for workers on other machines)',
    schema: HostSchema,
    default: '127.0.0.1',
  }),
  /** 0: the OS picks a free port (logged as `url` in 'coordinator listening'). */
  port: setting({
    flags: '--port <n>',
    help: 'port to listen on (0 = any free port)',
    schema: port,
    number: true,
    default: DEFAULT_COORDINATOR_PORT,
  }),
  /** Shared secret every worker must prove it knows in `hello` (never sent); empty accepts any worker. */
  token: setting({
    flags: '--token <secret>',
    help: 'shared secret workers must prove they know; never sent (env GNET_TOKEN)',
    schema: z.string().max(1024),
    env: 'GNET_TOKEN',
    default: '',
  }),
  /** Absolute path of the PEM certificate (chain) to serve `wss://` with; empty: plain `ws://`. Set with `tlsKey`. */
  tlsCert: setting({
    flags: '--tls-cert <pem>',
    help: 'serve wss:// with this PEM certificate (chain); needs --tls-key',
    schema: z.string(),
    default: '',
  }),
  /** Absolute path of the PEM private key of `tlsCert`; empty when `tlsCert` is. */
  tlsKey: setting({ flags: '--tls-key <pem>', help: 'PEM private key of --tls-cert', schema: z.string(), default: '' }),
  /** Workers to wait for; with `localWorkers` > 0 it must be equal or 0 (then it is `localWorkers`). */
  workers: setting({
    flags: '--workers <n>',
    help: 'workers to wait for (default: --local-workers, else 1)',
    schema: z.number().int().min(0),
    number: true,
    default: 0,
  }),
  /** Spawn this many workers on this machine (single-node mode); 0 = wait for remote ones. */
  localWorkers: setting({
    flags: '--local-workers <n>',
    help: 'spawn N workers on this machine (single-node mode)',
    schema: z.number().int().min(0).max(64),
    number: true,
    default: 0,
  }),
  /** Backend the local workers request. */
  backend: RUN_SETTINGS.backend,
  /** Extra flags for the local workers (debugging traces, e.g. `--trace-weights --dump-dir d`). */
  localWorkerArgs: setting({
    flags: '--local-worker-args <flags>',
    help: "extra flags for local workers, space-separated (e.g. '--trace-weights --dump-dir d')",
    schema: z.array(z.string()),
    default: '',
  }),
  algorithm: setting({
    flags: '--algorithm <name>',
    help: 'all-reduce: ring between workers, or star through the coordinator',
    schema: z.enum(['ring', 'star']),
    choices: ['ring', 'star'],
    default: 'ring',
  }),
  dataDir: RUN_SETTINGS.dataDir,
  runDir: RUN_SETTINGS.runDir,
  logLevel: RUN_SETTINGS.logLevel,
  ...HYPER_SETTINGS,
  // All-reduce and liveness.
  bucketBytes: setting({
    flags: '--bucket-bytes <n>',
    help: 'gradient bucket size in bytes (torch DDP: 25 MiB)',
    schema: z.number().int().min(4),
    number: true,
    default: 25 * 1024 * 1024,
    source: 'torch DDP',
  }),
  chunkBytes: setting({
    flags: '--chunk-bytes <n>',
    help: 'payload of one chunk frame in bytes (multiple of 4)',
    schema: z.number().int().min(4).multipleOf(4),
    number: true,
    default: 2 * 1024 * 1024,
  }),
  wireDtype: setting({
    flags: '--wire-dtype <dtype>',
    help: 'gradient element type on the wire',
    schema: z.enum(['float32', 'float16', 'bfloat16']),
    choices: ['float32', 'float16', 'bfloat16'],
    default: 'float32',
  }),
  heartbeatMs: setting({
    flags: '--heartbeat-ms <n>',
    help: 'heartbeat period in both directions',
    schema: ms,
    number: true,
    default: 5000,
  }),
  joinTimeoutMs: setting({
    flags: '--join-timeout-ms <n>',
    help: 'longest wait for all workers to say hello',
    schema: ms,
    number: true,
    default: 10 * 60_000,
  }),
  roundTimeoutMs: setting({
    flags: '--round-timeout-ms <n>',
    help: 'longest wait for every worker in a round, evaluation or checkpoint',
    schema: ms,
    number: true,
    default: 10 * 60_000,
  }),
  stallWarnMs: setting({
    flags: '--stall-warn-ms <n>',
    help: 'warn, naming the missing ranks, when a wait exceeds this',
    schema: ms,
    number: true,
    default: 30_000,
  }),
  /**
   * Elastic membership (torchrun's --nnodes=MIN:MAX): keep training while at least minWorkers remain. 0 on the command line: `--workers`.
   */
  minWorkers: setting({
    flags: '--min-workers <n>',
    help: 'keep training while at least this many workers remain (default: --workers)',
    schema: z.number().int().min(1),
    number: true,
    default: 0,
  }),
  /** Most workers at once; later arrivals are admitted at a step boundary up to this many. 0 on the command line: `--workers`. */
  maxWorkers: setting({
    flags: '--max-workers <n>',
    help: 'admit joining workers up to this many (default: --workers)',
    schema: z.number().int().min(1),
    number: true,
    default: 0,
  }),
  /** A worker silent this long is lost (heartbeats stop when its process freezes or machine dies). */
  workerTimeoutMs: setting({
    flags: '--worker-timeout-ms <n>',
    help: 'a worker silent this long is lost (must exceed the longest micro-batch on the slowest worker: steps yield between micro-batches to send heartbeats)',
    schema: ms,
    number: true,
    default: 120_000,
  }),
  /** Below minWorkers, wait this long for a replacement before checkpointing and stopping. */
  rejoinTimeoutMs: setting({
    flags: '--rejoin-timeout-ms <n>',
    help: 'below --min-workers, wait this long for a replacement before checkpointing and stopping',
    schema: z.number().int().min(0),
    number: true,
    default: 60_000,
  }),
  stopGraceMs: setting({
    flags: '--stop-grace-ms <n>',
    help: 'after SIGINT/SIGTERM, let the step in progress finish for up to this long (else abort it), then checkpoint and stop',
    schema: z.number().int().min(0),
    number: true,
    default: 10_000,
    // A step in progress usually ends well within it, and a checkpoint still fits in the 30 s
    // that Kubernetes (terminationGracePeriodSeconds) and Slurm (KillWait) leave after SIGTERM.
    source: 'inside the 30 s Kubernetes and Slurm leave after SIGTERM',
  }),
  /** Give up after this many re-formed groups in a row without a completed step. */
  maxReforms: setting({
    flags: '--max-reforms <n>',
    help: 'stop after this many re-formed groups in a row without a completed step',
    schema: positiveInt,
    number: true,
    default: 5,
  }),
  checkpointEverySteps: RUN_SETTINGS.checkpointEverySteps,
  keepCheckpoints: RUN_SETTINGS.keepCheckpoints,
  resume: RUN_SETTINGS.resume,
  /** Stop (with a checkpoint) after this many steps in a row skipped for a non-finite gradient. */
  maxSkippedSteps: setting({
    flags: '--max-skipped-steps <n>',
    help: 'stop with a checkpoint after N steps in a row skipped for a non-finite gradient',
    schema: positiveInt,
    number: true,
    default: DEFAULT_MAX_SKIPPED_STEPS,
  }),
  printPlan: setting({
    flags: '--print-plan',
    help: 'print the model size and bucket layout as JSON and exit',
    schema: z.boolean(),
    default: false,
  }),
  /** Port of the dashboard; 0: the OS picks a free one (logged as `dashboard` in 'dashboard listening'). */
  dashboardPort: setting({
    flags: '--dashboard-port <n>',
    help: 'port of the live dashboard and /metrics on --host (0 = any free port)',
    schema: port,
    number: true,
    default: DEFAULT_DASHBOARD_PORT,
  }),
  /** Serve the live dashboard and /metrics over HTTP on `host` (`--no-dashboard`: off). */
  dashboard: setting({ flags: '--no-dashboard', help: 'serve no dashboard and no /metrics', schema: z.boolean(), default: true }),
};

export const CoordinatorConfigSchema = z.object(shapeOf(COORDINATOR_SETTINGS)).strict();

export type CoordinatorConfig = Readonly<z.infer<typeof CoordinatorConfigSchema>>;

const SERVE_COMMAND = {
  name: 'serve',
  description:
    'Coordinate data-parallel GoogLeNet training: wait for workers (or spawn them), drive rounds, evaluate, write the run folder.',
  command: 'coordinator:serve',
  settings: COORDINATOR_SETTINGS,
  schema: CoordinatorConfigSchema,
} as const;

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseCoordinatorConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  runsRoot = 'runs',
  now = new Date(),
): CoordinatorConfig {
  const { config: cfg, given } = parseRecipeCommand(SERVE_COMMAND, { argv, env, runsRoot, now }, (values, program) => {
    // 0 is the flag's "not given" default (then --local-workers, else 1); given explicitly, it asks for no workers at all.
    if (program.getOptionValueSource('workers') === 'cli' && values['workers'] === 0) {
      throw new ConfigError('--workers must be at least 1 (leave it out to use --local-workers), but got 0');
    }
    const tlsCert = values['tlsCert'] as string;
    const tlsKey = values['tlsKey'] as string;
    return {
      ...values,
      // Relative to the folder the command was typed in (nx runs us in apps/coordinator).
      tlsCert: tlsCert === '' ? '' : resolveUserPath(tlsCert, env),
      tlsKey: tlsKey === '' ? '' : resolveUserPath(tlsKey, env),
      localWorkerArgs: (values['localWorkerArgs'] as string).split(/\s+/).filter((a) => a !== ''),
      // 0 = "same as --workers", resolved below once --workers is known; 1 passes the schema meanwhile.
      minWorkers: (values['minWorkers'] as number) || 1,
      maxWorkers: (values['maxWorkers'] as number) || 1,
    };
  });
  // Cross-field rules, each naming both flags and the fix (Ray's pattern).
  checkTlsFiles({ cert: cfg.tlsCert, key: cfg.tlsKey }, 'both serve wss://, neither serves ws://', {
    readServerTls,
    readPemFile,
    isFileError: (err): err is Error => err instanceof CollectiveConfigError,
  });
  if (cfg.localWorkers > 0 && cfg.workers !== 0 && cfg.workers !== cfg.localWorkers) {
    throw new ConfigError(
      `--workers (${cfg.workers}) must equal --local-workers (${cfg.localWorkers}) when both are given; drop --workers to wait for the local ones only`,
    );
  }
  const workers = cfg.workers > 0 ? cfg.workers : cfg.localWorkers > 0 ? cfg.localWorkers : 1;
  const minWorkers = given['minWorkers'] === 0 ? workers : cfg.minWorkers;
  const maxWorkers = given['maxWorkers'] === 0 ? Math.max(workers, minWorkers) : cfg.maxWorkers;
  if (minWorkers > workers) {
    throw new ConfigError(`--min-workers (${minWorkers}) must not exceed --workers (${workers}), the group the run starts with`);
  }
  if (maxWorkers < workers) {
    throw new ConfigError(`--max-workers (${maxWorkers}) must be at least --workers (${workers}), the group the run starts with`);
  }
  // The global batch is fixed for the run and split across whoever is in the group: every
  // possible member needs at least one image of it.
  if (cfg.batchSize < maxWorkers) {
    throw new ConfigError(
      `--batch-size (${cfg.batchSize}) must be at least --max-workers (${maxWorkers}) so every worker gets an image of each global batch`,
    );
  }
  return Object.freeze({ ...cfg, workers, minWorkers, maxWorkers });
}
