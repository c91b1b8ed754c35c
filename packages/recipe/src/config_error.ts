// The errors of start-up configuration, one class for every command, so `instanceof ConfigError`
// means the same in the coordinator and the worker (each main exits 2 on it).

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

/** Commander's error for `--help` becomes {@link HelpShown}; any other becomes a ConfigError. */
export function commanderFailure(err: unknown): Error {
  if ((err as { code?: unknown }).code === 'commander.helpDisplayed') return new HelpShown('help shown');
  return new ConfigError((err as Error).message.replace(/^error: /, ''));
}
