// The one start-up parse of a command built on the recipe's rows (coordinator:serve, worker:train):
// flags and environment through commander, the command's own resolution of the given values, the
// recipe's rules, one strict schema, the recipe's cross-field checks. Written once so the two
// commands cannot drift in the order of those steps.
import type { Command } from 'commander';
import type { z } from 'zod';
import { checkRecipe, withRecipeRules, type HyperSettings } from './hyper_params_of.js';
import { parseSettings, validateSettings, type CommandSpec, type Settings } from './setting.js';

/** A command's settings together with the strict schema of its config (`z.object(shapeOf(settings)).strict()`). */
export interface RecipeCommandSpec<
  T extends Settings,
  S extends z.ZodType<Pick<HyperSettings, 'nesterov' | 'momentum'>>,
> extends CommandSpec<T> {
  schema: S;
}

/** Where the command runs: its arguments and environment, and what the defaults are computed from. */
export interface CommandInput {
  /** Arguments without node and the script. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Folder under which a fresh run folder is named by time (`--run-dir`'s default). */
  runsRoot: string;
  now: Date;
}

/**
 * Parses and validates one recipe command's config. `resolve` turns the given values (by config
 * key) into the candidate config: resolving paths, folding one flag into another, or throwing a
 * `ConfigError` for a rule that needs to know where a value came from (`program`). The result is
 * validated, not frozen: the caller adds its own cross-field checks, then freezes.
 *
 * @example
 * const { config } = parseRecipeCommand(spec, { argv, env, runsRoot: 'runs', now: new Date() }, (given) => given);
 */
export function parseRecipeCommand<T extends Settings, S extends z.ZodType<Pick<HyperSettings, 'nesterov' | 'momentum'>>>(
  spec: RecipeCommandSpec<T, S>,
  input: CommandInput,
  resolve: (given: Record<string, unknown>, program: Command) => Record<string, unknown>,
): { config: z.infer<S>; given: Record<string, unknown> } {
  const { env, runsRoot, now } = input;
  const { given, program } = parseSettings(spec, input.argv, { env, runsRoot, now, pid: process.pid });
  const config = validateSettings(spec.schema, withRecipeRules(resolve(given, program)), spec.settings);
  checkRecipe(config);
  return { config, given };
}
