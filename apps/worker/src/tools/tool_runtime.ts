// What the three tool mains share: paths as the user typed them, a logger on stderr (stdout holds
// only the report, so `--json` output can be piped), and one place that turns an error into its
// line on stderr and the exit code (2: bad flags, 1: anything else).
import pino, { type Logger } from 'pino';
import { CheckpointError } from '@gnet/run-store';
import { ConfigError } from '../train_config.js';
import { HelpShown } from './tool_config.js';
import { ToolError } from './tool_errors.js';
import { resolveUserPath } from '@gnet/data';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `path` as the user meant it. nx runs the script in apps/worker through npm, which sets INIT_CWD
 * to the folder npm was started in: the workspace root under `nx run` (as for `worker:train`'s
 * --run-dir), the current folder when the script is run directly.
 */
export function userPath(path: string, env: Env, cwd = process.cwd()): string {
  return resolveUserPath(path, env, cwd);
}

/** NDJSON logs on stderr; pretty-printed when stderr is a terminal. */
export function toolLogger(level: string, tool: string): Logger {
  const base = { app: 'worker', tool };
  if (process.stderr.isTTY === true) {
    return pino({
      level,
      base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base }, pino.destination(2));
}

/** `name [code]: message` for our typed errors, `name: message` otherwise. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${err.name} [${code}]: ${err.message}` : `${err.name}: ${err.message}`;
}

/**
 * Runs a tool's main: bad flags exit 2 with the flag's message, other failures exit 1 with one
 * line. Sets `process.exitCode` rather than exiting, so stdout drains first.
 */
export function runTool(tool: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof HelpShown) return;
    if (err instanceof ConfigError) {
      process.stderr.write(`${tool}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    // Our typed errors carry a message meant for the user; other errors get their stack.
    const known = err instanceof ToolError || err instanceof CheckpointError;
    process.stderr.write(
      `${tool} failed: ${known ? describeError(err) : err instanceof Error ? (err.stack ?? describeError(err)) : String(err)}\n`,
    );
    process.exitCode = 1;
  });
}
