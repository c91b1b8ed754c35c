// One setting of a command, declared once: its flag, help, schema, default and where the default
// comes from. Commander parsers are built from these declarations (addSettings), their values read
// back by config key (readSettings) and validated with the flag named in the error (validateSettings),
// so a flag, its default and its check can never drift between the commands that share it.
import { Command, Option } from 'commander';
import type { z } from 'zod';
import { commanderFailure, ConfigError } from './config_error.js';
import { parseNumber } from './parse_number.js';

/** The commands that parse settings. */
export type CommandName = 'coordinator:serve' | 'worker:train' | 'worker:serve';

/** What a default may depend on: the environment, the runs folder, the clock, the process. */
export interface DefaultContext {
  env: Readonly<Record<string, string | undefined>>;
  /** Folder under which a fresh run folder is named by time (`--run-dir`'s default). */
  runsRoot: string;
  now: Date;
  pid: number;
}

/** A default, or how to compute it at parse time. */
export type DefaultValue = string | number | boolean | ((ctx: DefaultContext) => string | number | boolean);

/** A per-command departure from the row, with the reason it is intended. */
export interface CommandOverride {
  default?: DefaultValue;
  help?: string;
  reason: string;
}

export interface Setting<S extends z.ZodType | undefined = z.ZodType | undefined> {
  /** Commander's spelling: '--lr <x>', '--no-flip', '--resume'. */
  flags: string;
  help: string;
  /**
   * Checks the value in the parsed config. Absent for a flag folded into another setting (for
   * `--require-gpu`, into the backend), which then has no field of its own.
   */
  schema: S;
  /**
   * Absent: no default (the value is undefined unless given). A `--no-x` switch is true unless
   * given, as commander makes it; its `default` must say true.
   */
  default?: DefaultValue;
  /** Where the default comes from (a paper, a reference recipe) or why it is what it is. */
  source?: string;
  /** Environment variable that replaces the default (as a number for numeric flags). */
  env?: string;
  /** The value is a number (parsed with {@link parseNumber}). */
  number?: boolean;
  /** The only values accepted (commander's error names them). */
  choices?: readonly string[];
  /** Intended differences of one command from this row. */
  perCommand?: Partial<Record<CommandName, CommandOverride>>;
}

/** Settings by config key; the key order is the order of `--help`. */
export type Settings = Record<string, Setting>;

/** Identity that keeps the literal schema type of one declaration (for {@link shapeOf}). */
export function setting<S extends z.ZodType | undefined>(declaration: Setting<S>): Setting<S> {
  return declaration;
}

/** The zod shape of the settings that have a schema (folded flags have none). */
export type ShapeOf<T extends Settings> = {
  [K in keyof T as T[K]['schema'] extends z.ZodType ? K : never]: Exclude<T[K]['schema'], undefined>;
};

export function shapeOf<T extends Settings>(settings: T): ShapeOf<T> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, s] of Object.entries(settings)) if (s.schema !== undefined) shape[key] = s.schema;
  return shape as ShapeOf<T>;
}

/** The default `command` uses for `s`, computed for `ctx` (the environment variable first). */
export function defaultOf(s: Setting, command: CommandName, ctx: DefaultContext): string | number | boolean | undefined {
  const fromEnv = s.env === undefined ? undefined : ctx.env[s.env];
  if (fromEnv !== undefined) return s.number === true ? Number(fromEnv) : fromEnv;
  const d = s.perCommand?.[command]?.default ?? s.default;
  return typeof d === 'function' ? d(ctx) : d;
}

/** Long flag of a setting, for messages: '--lr', '--no-flip'. */
export function flagOf(s: Setting): string {
  return new Option(s.flags).long ?? s.flags;
}

/** Adds one commander option per setting, in the settings' order, with this command's defaults. */
export function addSettings(program: Command, settings: Settings, command: CommandName, ctx: DefaultContext): Command {
  for (const s of Object.values(settings)) {
    const option = new Option(s.flags, s.perCommand?.[command]?.help ?? s.help);
    if (s.number === true) option.argParser(parseNumber);
    if (s.choices !== undefined) option.choices(s.choices);
    const value = defaultOf(s, command, ctx);
    // A `--no-x` switch is true by commander's own default, which `--help` does not print.
    if (value !== undefined && !option.negate) option.default(value);
    program.addOption(option);
  }
  return program;
}

/** What {@link parseSettings} needs to know of the command it parses for. */
export interface CommandSpec<T extends Settings> {
  /** Commander's name: `serve`, `train`. */
  name: string;
  description: string;
  command: CommandName;
  settings: T;
}

/**
 * Parses `argv` (without node and script) for one command built from its settings: `--help`
 * becomes `HelpShown` (commander has printed it), a bad flag a `ConfigError`. Returns the values by
 * config key, not yet validated, and the program (to ask where a value came from).
 */
export function parseSettings<T extends Settings>(
  spec: CommandSpec<T>,
  argv: readonly string[],
  ctx: DefaultContext,
): { given: Record<string, unknown>; program: Command } {
  const program = new Command(spec.name)
    .description(spec.description)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  addSettings(program, spec.settings, spec.command, ctx);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    throw commanderFailure(err);
  }
  return { given: readSettings(program, spec.settings), program };
}

/** The parsed values by config key (commander stores `--lr` as `lr`; the key is `lrPeak`). */
export function readSettings(program: Command, settings: Settings): Record<string, unknown> {
  const opts = program.opts();
  const values: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings)) values[key] = opts[new Option(s.flags).attributeName()];
  return values;
}

/**
 * `candidate` checked by `schema`; the first problem becomes a ConfigError naming the flag, what
 * was expected and the value given (`--lr: Too small: expected number to be >0, but got -1`).
 */
export function validateSettings<T extends z.ZodType>(schema: T, candidate: Record<string, unknown>, settings: Settings): z.infer<T> {
  const parsed = schema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const declared = settings[key];
  const flag = declared === undefined ? '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) : flagOf(declared);
  throw new ConfigError(`${flag}: ${issue.message}, but got ${JSON.stringify(candidate[key])}`);
}

/** `now` as a folder name: 2026-01-31T12-00-00-000Z. */
export function timeStamp(now: Date): string {
  return now.toISOString().replace(/[:.]/g, '-');
}
