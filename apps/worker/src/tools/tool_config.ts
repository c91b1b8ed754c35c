// Configuration of the model tools (`worker:evaluate`, `worker:predict`, `worker:export`): flags
// (commander) and environment, validated once per command by a strict zod schema, frozen, then
// passed down. Same conventions and ConfigError as train_config.ts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { commanderFailure, ConfigError } from '../train_config.js';

type Env = Readonly<Record<string, string | undefined>>;

export { HelpShown } from '../train_config.js';

const BACKENDS = ['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

const common = {
  checkpoint: z.string().min(1),
  backend: z.enum(BACKENDS),
  logLevel: z.enum(LOG_LEVELS),
};

export const EvaluateConfigSchema = z
  .object({
    ...common,
    // Empty: the default cache folder (defaultCacheDir); fetched and verified if missing.
    dataDir: z.string(),
    batchSize: z.number().int().positive().max(10_000),
    // Images of the test split, from the first; 0 = all 10,000.
    limit: z.number().int().min(0).max(10_000),
    json: z.boolean(),
  })
  .strict();
export type EvaluateConfig = Readonly<z.infer<typeof EvaluateConfigSchema>>;

export const PredictConfigSchema = z
  .object({
    ...common,
    topK: z.number().int().positive().max(1000),
    batchSize: z.number().int().positive().max(10_000),
    json: z.boolean(),
    images: z.array(z.string().min(1)).min(1),
  })
  .strict();
export type PredictConfig = Readonly<z.infer<typeof PredictConfigSchema>>;

export const ExportConfigSchema = z
  .object({
    ...common,
    out: z.string().min(1),
    format: z.enum(['layers']),
    json: z.boolean(),
  })
  .strict();
export type ExportConfig = Readonly<z.infer<typeof ExportConfigSchema>>;

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a finite number.');
  return n;
};

/** A command with the flags every tool shares; errors surface as ConfigError. */
function toolCommand(name: string, description: string, env: Env): Command {
  return new Command(name)
    .description(description)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .requiredOption(
      '--checkpoint <file>',
      'checkpoint file written by worker:train or coordinator:serve, or a run folder (its newest checkpoint that verifies)',
    )
    .addOption(new Option('--backend <name>', 'TF.js backend (env GNET_BACKEND)').choices(BACKENDS).default(env.GNET_BACKEND ?? 'auto'))
    .addOption(
      new Option('--log-level <level>', 'log level of the NDJSON logs on stderr (env LOG_LEVEL)')
        .choices(LOG_LEVELS)
        .default(env.LOG_LEVEL ?? 'warn'),
    );
}

function parseWith<T>(
  program: Command,
  argv: readonly string[],
  schema: z.ZodType<T>,
  candidate: (options: Record<string, unknown>, args: string[]) => Record<string, unknown>,
): Readonly<T> {
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    throw commanderFailure(err);
  }
  const values = candidate(program.opts(), program.args);
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const flag = key === 'images' ? '<image...>' : '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new ConfigError(`${flag}: ${issue.message}, but got ${JSON.stringify(values[key])}`);
  }
  return Object.freeze(parsed.data);
}

/** `worker:evaluate` flags. */
export function parseEvaluateConfig(argv: readonly string[], env: Env): EvaluateConfig {
  const program = toolCommand(
    'evaluate',
    'Evaluate a checkpoint on the CIFAR-10 test split: accuracy, loss, per-class accuracy, confusion matrix.',
    env,
  )
    .option('--data-dir <dir>', 'CIFAR-10 binary folder; fetched there if missing (env CIFAR10_DIR)', env.CIFAR10_DIR ?? '')
    .option('--batch-size <n>', 'images per forward pass', num, 100)
    .option('--limit <n>', 'evaluate only the first N test images (0 = all 10,000)', num, 0)
    .option('--json', 'print one JSON object instead of the text report', false);
  return parseWith(program, argv, EvaluateConfigSchema, (options) => ({
    checkpoint: options.checkpoint,
    backend: options.backend,
    logLevel: options.logLevel,
    dataDir: options.dataDir,
    batchSize: options.batchSize,
    limit: options.limit,
    json: options.json,
  }));
}

/** `worker:predict` flags and image paths. */
export function parsePredictConfig(argv: readonly string[], env: Env): PredictConfig {
  const program = toolCommand(
    'predict',
    'Classify PNG or JPEG images of any size with a checkpoint: top-k CIFAR-10 classes per image.',
    env,
  )
    .argument('<image...>', 'PNG or JPEG files')
    .option('--top-k <n>', 'classes to print per image', num, 3)
    .option('--batch-size <n>', 'images per forward pass', num, 32)
    .option('--json', 'print one JSON object instead of one line per image', false);
  return parseWith(program, argv, PredictConfigSchema, (options, args) => ({
    checkpoint: options.checkpoint,
    backend: options.backend,
    logLevel: options.logLevel,
    topK: options.topK,
    batchSize: options.batchSize,
    json: options.json,
    images: args,
  }));
}

/** `worker:export` flags. */
export function parseExportConfig(argv: readonly string[], env: Env): ExportConfig {
  const program = toolCommand(
    'export',
    'Export a checkpoint without its auxiliary heads as a TF.js Layers model (model.json + weight shards + index.html).',
    env,
  )
    .requiredOption('--out <dir>', 'folder to write model.json, the weight shards and index.html into (created if missing)')
    .addOption(new Option('--format <name>', 'export format').choices(['layers']).default('layers'))
    .option('--json', 'print one JSON object instead of the text summary', false);
  return parseWith(program, argv, ExportConfigSchema, (options) => ({
    checkpoint: options.checkpoint,
    backend: options.backend,
    logLevel: options.logLevel,
    out: options.out,
    format: options.format,
    json: options.json,
  }));
}
