// A stop asked for by SIGINT or SIGTERM (Ctrl-C, Kubernetes or Slurm preempting the job), as
// opposed to a failure. The run does not end mid-flight: it stops taking new steps at once, lets
// the step in progress finish for up to --stop-grace-ms (then aborts it), checkpoints the state
// of a worker, tells the workers to leave, and exits 130 (SIGINT) or 143 (SIGTERM) with the
// command that resumes it. A second signal ends the process at once (main.ts).

/** Thrown where the run notices the stop: at a step boundary, or when the grace ran out. */
export class StopRequestedError extends Error {
  readonly code = 'COORD_STOP_REQUESTED';
  override readonly name = 'StopRequestedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`stop requested by ${signal}`);
  }
}

/** One run's stop request. */
export class GracefulStop {
  /** The signal that asked for the stop; null until then. */
  signal: NodeJS.Signals | null = null;
  /** Rejects with `StopRequestedError` as soon as the stop is requested (waits with nothing to finish). */
  readonly requested: Promise<never>;
  /** Rejects with `StopRequestedError` `graceMs` after the stop was requested (a step in progress). */
  readonly graceExpired: Promise<never>;
  private rejectRequested!: (err: Error) => void;
  private rejectGrace!: (err: Error) => void;

  constructor(private readonly graceMs: number) {
    this.requested = new Promise<never>((_, reject) => (this.rejectRequested = reject));
    this.graceExpired = new Promise<never>((_, reject) => (this.rejectGrace = reject));
    // Raced against other waits; an unobserved rejection must not crash the process.
    this.requested.catch(() => undefined);
    this.graceExpired.catch(() => undefined);
  }

  /** Asks the run to stop (the first call counts). */
  request(signal: NodeJS.Signals): void {
    if (this.signal !== null) return;
    this.signal = signal;
    const err = new StopRequestedError(signal);
    this.rejectRequested(err);
    setTimeout(() => this.rejectGrace(err), this.graceMs).unref();
  }

  get isRequested(): boolean {
    return this.signal !== null;
  }

  /** Throws `StopRequestedError` if a stop was requested (call at step boundaries). */
  throwIfRequested(): void {
    if (this.signal !== null) throw new StopRequestedError(this.signal);
  }
}

/** The conventional exit status of a process ended by `signal` (128 + its number). */
export function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1;
}

/** `a b` quoted for a POSIX shell when needed, so the printed resume command can be pasted. */
export function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * The command that resumes this run: the same flags, with `--resume` (added once). A `--token`
 * given on the command line is not printed: the command reads it from `$GNET_TOKEN` instead.
 */
export function resumeCommand(argv: readonly string[]): string {
  const args: string[] = [];
  let token = false;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i]!;
    if (a === '--token') {
      token = true;
      i += 1;
    } else if (a.startsWith('--token=')) token = true;
    else args.push(a);
  }
  if (!args.includes('--resume')) args.push('--resume');
  return `${token ? 'GNET_TOKEN=<the same secret> ' : ''}npx nx run coordinator:serve -- ${shellQuote(args)}`;
}
