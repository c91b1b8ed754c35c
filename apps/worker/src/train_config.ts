// Configuration of single-node training (`worker:train`): command-line flags (commander) and
// environment, validated once by one strict zod schema, frozen, then passed down. No module reads
// process.env after this. The recipe's flags are @gnet/recipe's rows, shared with coordinator:serve.
import { z } from 'zod';
import { HYPER_SETTINGS, parseRecipeCommand, RUN_SETTINGS, setting, shapeOf } from '@gnet/recipe';
import { REQUIRE_GPU, resolveBackend, THREADS } from './backend_flags.js';

export { BACKEND_CHOICES, commanderFailure, ConfigError, HelpShown } from '@gnet/recipe';
export { requireGpuFromEnv, resolveBackend } from './backend_flags.js';

/** Every flag of worker:train, in `--help` order. */
const TRAIN_SETTINGS = {
  dataDir: RUN_SETTINGS.dataDir,
  runDir: RUN_SETTINGS.runDir,
  resume: RUN_SETTINGS.resume,
  backend: RUN_SETTINGS.backend,
  requireGpu: REQUIRE_GPU,
  threads: THREADS,
  logLevel: RUN_SETTINGS.logLevel,
  progress: setting({ flags: '--no-progress', help: 'no progress bar even at a terminal', schema: z.boolean(), default: true }),
  ...HYPER_SETTINGS,
  checkpointEverySteps: RUN_SETTINGS.checkpointEverySteps,
  keepCheckpoints: RUN_SETTINGS.keepCheckpoints,
  /** Chrome trace-event file of each step's phases and each evaluation (relative: to the folder the command was typed in); empty: none. */
  timeline: setting({
    flags: '--timeline <file>',
    help: "write each step's phases (data, compute, apply) and evaluations as Chrome trace-event JSON",
    schema: z.string(),
    default: '',
  }),
};

export const TrainConfigSchema = z.object(shapeOf(TRAIN_SETTINGS)).strict();

export type TrainConfig = Readonly<z.infer<typeof TrainConfigSchema>>;

const TRAIN_COMMAND = {
  name: 'train',
  description: 'Train GoogLeNet on CIFAR-10 in one process (development mode).',
  command: 'worker:train',
  settings: TRAIN_SETTINGS,
  schema: TrainConfigSchema,
} as const;

/** Parses argv (without node and script) and env into a frozen, validated config. */
export function parseTrainConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  runsRoot = 'runs',
  now = new Date(),
): TrainConfig {
  const { config } = parseRecipeCommand(TRAIN_COMMAND, { argv, env, runsRoot, now }, ({ requireGpu, ...given }) => ({
    ...given,
    // --require-gpu has no field of its own: it is folded into the backend.
    backend: resolveBackend(given['backend'] as string, requireGpu as boolean),
  }));
  return Object.freeze(config);
}
