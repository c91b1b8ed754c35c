// Configuration of `nx run worker:serve` (distributed mode): where the coordinator is, how to
// prove we belong (token), which backend to train on, where this worker's ring listener is, and
// debugging traces. Hyperparameters are not here: they come from the coordinator in `welcome`.
// Parsed once from flags and environment by one strict zod schema, frozen (like train_config.ts).
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { CollectiveConfigError, readPemFile, readServerTls } from '@gnet/collective';
import { BACKEND_CHOICES, commanderFailure, ConfigError, requireGpuFromEnv, resolveBackend } from './train_config.js';
import { resolveUserPath } from '@gnet/data';

/** An IP address or a host name (RFC 1123 labels; `_` too, as container names use it): no scheme, port, brackets or spaces. */
const HostSchema = z
  .string()
  .refine((h) => isIP(h) !== 0 || /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/.test(h), 'expected an IP address or a host name');

/** True for a URL a worker can dial: ws: or wss:, a host, a port in range (the URL parser refuses others). */
function isWsUrl(text: string): boolean {
  return /^wss?:\/\/\S+$/.test(text) && URL.canParse(text) && new URL(text).hostname !== '';
}

export const ServeConfigSchema = z
  .object({
    /** The coordinator's WebSocket URL. */
    coordinator: z.string().refine(isWsUrl, 'expected a ws:// or wss:// URL with a host and a port of at most 65535'),
    /** Shared secret proved (never sent) to the coordinator and ring neighbours, and required of them; empty for none. */
    token: z.string().max(1024),
    /** Absolute path of a PEM CA certificate to trust for `wss://` (coordinator and ring peers) beside the system's; empty: none. */
    tlsCa: z.string(),
    /** Absolute path of the PEM certificate our ring listener serves `wss://` with; empty: plain `ws://`. Set with `tlsKey`. */
    tlsCert: z.string(),
    /** Absolute path of the PEM private key of `tlsCert`; empty when `tlsCert` is. */
    tlsKey: z.string(),
    /** selectBackend's name; 'tensorflow-gpu' (also what --require-gpu makes of auto/tensorflow) demands a GPU. */
    backend: z.enum(BACKEND_CHOICES),
    /** oneDNN's threads; 0: every core this process may use. */
    threads: z.number().int().min(0).max(1024),
    // Empty: the default cache folder (defaultCacheDir).
    dataDir: z.string(),
    /** Stable name of this worker in the coordinator's logs; unique within a run. */
    workerId: z.string().min(1).max(128),
    /** Interface of the ring listener. */
    peerHost: HostSchema,
    peerPort: z.number().int().min(0).max(65535),
    /** Host name ring neighbours dial (differs from peerHost when listening on 0.0.0.0). */
    advertiseHost: HostSchema,
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
    connectTimeoutMs: z.number().int().positive(),
    joinTimeoutMs: z.number().int().positive(),
    collectiveTimeoutMs: z.number().int().positive(),
    coordinatorTimeoutMs: z.number().int().positive(),
    /** After losing the coordinator (or being evicted), keep trying to rejoin this long; 0 exits at once. */
    reconnectTimeoutMs: z.number().int().min(0),
    leaveGraceMs: z.number().int().min(0),
    /** Fault injection for tests: poison this worker's gradient with NaN at this global step; -1 never. */
    faultNanAtStep: z.number().int().min(-1),
    traceWeights: z.boolean(),
    traceSamples: z.boolean(),
    /** Empty: no dumps. Otherwise final weights and BatchNorm statistics as raw float32 files. */
    dumpDir: z.string(),
    /** Absolute path of the Chrome trace-event file of each step's phases (`{workerId}` replaced); empty: none. */
    timeline: z.string(),
  })
  .strict();

export type ServeConfig = Readonly<z.infer<typeof ServeConfigSchema>>;

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a finite number.');
  return n;
};

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseServeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, pid = process.pid): ServeConfig {
  const requireGpu = requireGpuFromEnv(env.GNET_REQUIRE_GPU);
  const program = new Command('serve')
    .description('Join a coordinator and train one GoogLeNet replica of a data-parallel run.')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .option('--coordinator <url>', "coordinator's URL (env GNET_COORDINATOR)", env.GNET_COORDINATOR ?? 'ws://127.0.0.1:29500')
    .option('--token <secret>', 'shared secret of the run, proved but never sent (env GNET_TOKEN)', env.GNET_TOKEN ?? '')
    .option('--tls-ca <pem>', 'trust this CA certificate for wss:// (coordinator and ring peers), besides the system ones', '')
    .option('--tls-cert <pem>', 'serve the ring listener as wss:// with this PEM certificate; needs --tls-key', '')
    .option('--tls-key <pem>', 'PEM private key of --tls-cert', '')
    .addOption(new Option('--backend <name>', "TF.js backend ('tensorflow-gpu': native TensorFlow on a GPU or an error) (env GNET_BACKEND)").choices(BACKEND_CHOICES).default(env.GNET_BACKEND ?? 'auto'))
    // A GPU worker image on a node whose CUDA libraries do not match would otherwise train on the CPU, ~50x slower, without a word.
    .option('--require-gpu', 'stop at start-up, naming what is missing, unless native TensorFlow runs on a GPU (= --backend tensorflow-gpu) (env GNET_REQUIRE_GPU=1)', requireGpu)
    .option('--threads <n>', "oneDNN backend's threads (0: all cores; local workers get their share) (env GNET_THREADS)", num, env.GNET_THREADS === undefined ? 0 : Number(env.GNET_THREADS))
    .option('--data-dir <dir>', 'CIFAR-10 binary folder; fetched there if missing (env CIFAR10_DIR)', env.CIFAR10_DIR ?? '')
    .option('--worker-id <name>', 'name in the coordinator logs (default host-pid)', `${hostname()}-${pid}`)
    .option('--peer-host <host>', 'interface of the ring listener (0.0.0.0 across machines)', '127.0.0.1')
    .option('--peer-port <n>', 'port of the ring listener (0 = any)', num, 0)
    .option('--advertise-host <host>', 'host ring neighbours dial (default: --peer-host, or this hostname when it is 0.0.0.0)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default(env.LOG_LEVEL ?? 'info'))
    .option('--connect-timeout-ms <n>', 'keep retrying to reach the coordinator (and ring neighbours) this long', num, 30_000)
    .option('--join-timeout-ms <n>', 'longest wait for the group to form (our welcome)', num, 10 * 60_000)
    .option('--collective-timeout-ms <n>', 'bound on each all-reduce send and receive', num, 10 * 60_000)
    .option('--coordinator-timeout-ms <n>', 'give up when the coordinator is silent this long', num, 120_000)
    .option('--reconnect-timeout-ms <n>', 'after losing the coordinator or being evicted, keep trying to rejoin this long (0: exit at once)', num, 5 * 60_000)
    // 15 s: the coordinator asks a leaving worker for its state within a second or two; this stays
    // inside the 30 s that Kubernetes and Slurm leave between SIGTERM and SIGKILL.
    .option('--leave-grace-ms <n>', 'after SIGINT/SIGTERM, stay this long to send our state to the coordinator if it asks, then exit', num, 15_000)
    .option('--fault-nan-at-step <n>', 'fault injection (tests): make this worker\'s loss and gradient NaN at this global step', num, -1)
    .option('--trace-weights', 'log the SHA-256 of the weights after every step (debugging, tests)', false)
    .option('--trace-samples', 'log the training-set indices of every batch (debugging, tests)', false)
    .option('--dump-dir <dir>', 'write final weights and BatchNorm statistics (before and after averaging) as raw float32 files', '')
    .option('--timeline <file>', "write each step's phases (data, compute, all-reduce, apply), evaluations and weights checks as Chrome trace-event JSON; {workerId} in the name is replaced", '');
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    throw commanderFailure(err);
  }
  const o = program.opts();
  const peerHost = o.peerHost as string;
  const wildcard = peerHost === '0.0.0.0' || peerHost === '::';
  const candidate = {
    coordinator: o.coordinator as string,
    token: o.token as string,
    // Relative to the folder the command was typed in (nx runs us in apps/worker).
    tlsCa: absolute(o.tlsCa as string, env),
    tlsCert: absolute(o.tlsCert as string, env),
    tlsKey: absolute(o.tlsKey as string, env),
    backend: resolveBackend(o.backend as string, o.requireGpu as boolean),
    threads: o.threads as number,
    dataDir: o.dataDir as string,
    workerId: o.workerId as string,
    peerHost,
    peerPort: o.peerPort as number,
    advertiseHost: (o.advertiseHost as string | undefined) ?? (wildcard ? hostname() : peerHost),
    logLevel: o.logLevel as string,
    connectTimeoutMs: o.connectTimeoutMs as number,
    joinTimeoutMs: o.joinTimeoutMs as number,
    collectiveTimeoutMs: o.collectiveTimeoutMs as number,
    coordinatorTimeoutMs: o.coordinatorTimeoutMs as number,
    reconnectTimeoutMs: o.reconnectTimeoutMs as number,
    leaveGraceMs: o.leaveGraceMs as number,
    faultNanAtStep: o.faultNanAtStep as number,
    traceWeights: o.traceWeights as boolean,
    traceSamples: o.traceSamples as boolean,
    dumpDir: o.dumpDir as string,
    timeline: absolute((o.timeline as string).replaceAll('{workerId}', o.workerId as string), env),
  };
  const parsed = ServeConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const flag = '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new ConfigError(`${flag}: ${issue.message}, but got ${JSON.stringify((candidate as Record<string, unknown>)[key])}`);
  }
  checkTlsFiles(parsed.data);
  return Object.freeze(parsed.data);
}

/** `path` made absolute against the folder the command was typed in; empty stays empty. */
function absolute(path: string, env: Readonly<Record<string, string | undefined>>): string {
  return resolveUserPath(path, env);
}

/**
 * `--tls-cert` and `--tls-key` come together; every TLS file is read once here so a bad one fails
 * at start-up with its name and reason (the worker reads them again to use them).
 */
function checkTlsFiles(cfg: { tlsCa: string; tlsCert: string; tlsKey: string }): void {
  if ((cfg.tlsCert === '') !== (cfg.tlsKey === '')) {
    const [given, missing] = cfg.tlsCert === '' ? ['--tls-key', '--tls-cert'] : ['--tls-cert', '--tls-key'];
    throw new ConfigError(`${missing} must be given together with ${given} (both serve the ring listener as wss://, neither as ws://), but only ${given} was`);
  }
  const check = (flags: string, read: () => unknown): void => {
    try {
      read();
    } catch (err) {
      if (err instanceof CollectiveConfigError) throw new ConfigError(`${flags}: ${err.message}`);
      throw err;
    }
  };
  if (cfg.tlsCa !== '') check('--tls-ca', () => readPemFile(cfg.tlsCa, 'TLS CA certificate'));
  if (cfg.tlsCert !== '') check('--tls-cert / --tls-key', () => readServerTls(cfg.tlsCert, cfg.tlsKey));
}
