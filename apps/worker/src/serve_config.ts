// Configuration of `nx run worker:serve` (distributed mode): where the coordinator is, how to
// prove we belong (token), which backend to train on, where this worker's ring listener is, and
// debugging traces. Hyperparameters are not here: they come from the coordinator in `welcome`.
// Parsed once from flags and environment by one strict zod schema, frozen (like train_config.ts).
import { hostname } from 'node:os';
import { z } from 'zod';
import { CollectiveConfigError, readPemFile, readServerTls } from '@gnet/collective';
import { resolveUserPath } from '@gnet/data';
import { checkTlsFiles, HostSchema, parseSettings, RUN_SETTINGS, setting, shapeOf, validateSettings } from '@gnet/recipe';
import { REQUIRE_GPU, resolveBackend, THREADS } from './backend_flags.js';

/** True for a URL a worker can dial: ws: or wss:, a host, a port in range (the URL parser refuses others). */
function isWsUrl(text: string): boolean {
  return /^wss?:\/\/\S+$/.test(text) && URL.canParse(text) && new URL(text).hostname !== '';
}

const positiveMs = z.number().int().positive();

/** Every flag of worker:serve, in `--help` order. */
const SERVE_SETTINGS = {
  /** The coordinator's WebSocket URL. */
  coordinator: setting({
    flags: '--coordinator <url>',
    help: "coordinator's URL (env GNET_COORDINATOR)",
    schema: z.string().refine(isWsUrl, 'expected a ws:// or wss:// URL with a host and a port of at most 65535'),
    env: 'GNET_COORDINATOR',
    default: 'ws://127.0.0.1:29500',
  }),
  /** Shared secret proved (never sent) to the coordinator and ring neighbours, and required of them; empty for none. */
  token: setting({
    flags: '--token <secret>',
    help: 'shared secret of the run, proved but never sent (env GNET_TOKEN)',
    schema: z.string().max(1024),
    env: 'GNET_TOKEN',
    default: '',
  }),
  /** Absolute path of a PEM CA certificate to trust for `wss://` (coordinator and ring peers) beside the system's; empty: none. */
  tlsCa: setting({
    flags: '--tls-ca <pem>',
    help: 'trust this CA certificate for wss:// (coordinator and ring peers), besides the system ones',
    schema: z.string(),
    default: '',
  }),
  /** Absolute path of the PEM certificate our ring listener serves `wss://` with; empty: plain `ws://`. Set with `tlsKey`. */
  tlsCert: setting({
    flags: '--tls-cert <pem>',
    help: 'serve the ring listener as wss:// with this PEM certificate; needs --tls-key',
    schema: z.string(),
    default: '',
  }),
  /** Absolute path of the PEM private key of `tlsCert`; empty when `tlsCert` is. */
  tlsKey: setting({ flags: '--tls-key <pem>', help: 'PEM private key of --tls-cert', schema: z.string(), default: '' }),
  backend: RUN_SETTINGS.backend,
  requireGpu: REQUIRE_GPU,
  threads: THREADS,
  dataDir: RUN_SETTINGS.dataDir,
  /** Stable name of this worker in the coordinator's logs; unique within a run. */
  workerId: setting({
    flags: '--worker-id <name>',
    help: 'name in the coordinator logs (default host-pid)',
    schema: z.string().min(1).max(128),
    default: (ctx) => `${hostname()}-${ctx.pid}`,
  }),
  /** Interface of the ring listener. */
  peerHost: setting({
    flags: '--peer-host <host>',
    help: 'interface of the ring listener (0.0.0.0 across machines)',
    schema: HostSchema,
    default: '127.0.0.1',
  }),
  peerPort: setting({
    flags: '--peer-port <n>',
    help: 'port of the ring listener (0 = any)',
    schema: z.number().int().min(0).max(65535),
    number: true,
    default: 0,
  }),
  /** Host name ring neighbours dial (differs from peerHost when listening on 0.0.0.0). */
  advertiseHost: setting({
    flags: '--advertise-host <host>',
    help: 'host ring neighbours dial (default: --peer-host, or this hostname when it is 0.0.0.0)',
    schema: HostSchema,
  }),
  logLevel: RUN_SETTINGS.logLevel,
  connectTimeoutMs: setting({
    flags: '--connect-timeout-ms <n>',
    help: 'keep retrying to reach the coordinator (and ring neighbours) this long',
    schema: positiveMs,
    number: true,
    default: 30_000,
  }),
  joinTimeoutMs: setting({
    flags: '--join-timeout-ms <n>',
    help: 'longest wait for the group to form (our welcome)',
    schema: positiveMs,
    number: true,
    default: 10 * 60_000,
  }),
  collectiveTimeoutMs: setting({
    flags: '--collective-timeout-ms <n>',
    help: 'bound on each all-reduce send and receive',
    schema: positiveMs,
    number: true,
    default: 10 * 60_000,
  }),
  coordinatorTimeoutMs: setting({
    flags: '--coordinator-timeout-ms <n>',
    help: 'give up when the coordinator is silent this long',
    schema: positiveMs,
    number: true,
    default: 120_000,
  }),
  /** After losing the coordinator (or being evicted), keep trying to rejoin this long; 0 exits at once. */
  reconnectTimeoutMs: setting({
    flags: '--reconnect-timeout-ms <n>',
    help: 'after losing the coordinator or being evicted, keep trying to rejoin this long (0: exit at once)',
    schema: z.number().int().min(0),
    number: true,
    default: 5 * 60_000,
  }),
  leaveGraceMs: setting({
    flags: '--leave-grace-ms <n>',
    help: 'after SIGINT/SIGTERM, stay this long to send our state to the coordinator if it asks, then exit',
    schema: z.number().int().min(0),
    number: true,
    default: 15_000,
    // The coordinator asks a leaving worker for its state within a second or two; this stays
    // inside the 30 s that Kubernetes and Slurm leave between SIGTERM and SIGKILL.
    source: 'inside the 30 s Kubernetes and Slurm leave after SIGTERM',
  }),
  /** Fault injection for tests: poison this worker's gradient with NaN at this global step; -1 never. */
  faultNanAtStep: setting({
    flags: '--fault-nan-at-step <n>',
    help: "fault injection (tests): make this worker's loss and gradient NaN at this global step",
    schema: z.number().int().min(-1),
    number: true,
    default: -1,
  }),
  traceWeights: setting({
    flags: '--trace-weights',
    help: 'log the SHA-256 of the weights after every step (debugging, tests)',
    schema: z.boolean(),
    default: false,
  }),
  traceSamples: setting({
    flags: '--trace-samples',
    help: 'log the training-set indices of every batch (debugging, tests)',
    schema: z.boolean(),
    default: false,
  }),
  /** Empty: no dumps. Otherwise final weights and BatchNorm statistics as raw float32 files. */
  dumpDir: setting({
    flags: '--dump-dir <dir>',
    help: 'write final weights and BatchNorm statistics (before and after averaging) as raw float32 files',
    schema: z.string(),
    default: '',
  }),
  /** Absolute path of the Chrome trace-event file of each step's phases (`{workerId}` replaced); empty: none. */
  timeline: setting({
    flags: '--timeline <file>',
    help: "write each step's phases (data, compute, all-reduce, apply), evaluations and weights checks as Chrome trace-event JSON; {workerId} in the name is replaced",
    schema: z.string(),
    default: '',
  }),
};

export const ServeConfigSchema = z.object(shapeOf(SERVE_SETTINGS)).strict();

export type ServeConfig = Readonly<z.infer<typeof ServeConfigSchema>>;

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseServeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  pid = process.pid,
): ServeConfig {
  const { given: parsed } = parseSettings(
    {
      name: 'serve',
      description: 'Join a coordinator and train one GoogLeNet replica of a data-parallel run.',
      command: 'worker:serve',
      settings: SERVE_SETTINGS,
    },
    argv,
    { env, runsRoot: 'runs', now: new Date(), pid },
  );
  const { requireGpu, ...given } = parsed;
  const peerHost = given['peerHost'] as string;
  const workerId = given['workerId'] as string;
  const wildcard = peerHost === '0.0.0.0' || peerHost === '::';
  const candidate = {
    ...given,
    // Relative to the folder the command was typed in (nx runs us in apps/worker).
    tlsCa: absolute(given['tlsCa'] as string, env),
    tlsCert: absolute(given['tlsCert'] as string, env),
    tlsKey: absolute(given['tlsKey'] as string, env),
    backend: resolveBackend(given['backend'] as string, requireGpu as boolean),
    advertiseHost: (given['advertiseHost'] as string | undefined) ?? (wildcard ? hostname() : peerHost),
    timeline: absolute((given['timeline'] as string).replaceAll('{workerId}', workerId), env),
  };
  const cfg = validateSettings(ServeConfigSchema, candidate, SERVE_SETTINGS);
  checkTlsFiles({ ca: cfg.tlsCa, cert: cfg.tlsCert, key: cfg.tlsKey }, 'both serve the ring listener as wss://, neither as ws://', {
    readServerTls,
    readPemFile,
    isFileError: (err): err is Error => err instanceof CollectiveConfigError,
  });
  return Object.freeze(cfg);
}

/** `path` made absolute against the folder the command was typed in; empty stays empty. */
function absolute(path: string, env: Readonly<Record<string, string | undefined>>): string {
  return resolveUserPath(path, env);
}
