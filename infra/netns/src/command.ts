// Runs one command (an `ip`/`tc` call, or a program inside a namespace) to completion with a
// bound on its time: on timeout its whole process group is SIGKILLed, so a hung `ip` or a child
// that forked helpers can never keep a test waiting. Output is kept up to a cap (tails, for
// error messages), never unbounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { NetnsError } from './errors.js';

/** What a finished command left: its output and exit code (null when a signal ended it). */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Bound on the whole run, in milliseconds; past it the process group is SIGKILLed and the call rejects with `NETNS_TIMEOUT`. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/** Characters of stdout / stderr kept per command (the rest is dropped from the front): enough for `ip -o addr` of many namespaces. */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

/** After a command exits, how long its pipes may stay open (a forked daemon holding them) before we stop reading, in milliseconds. */
const PIPE_DRAIN_MS = 1_000;

/** `ip -n x link add ...`, for messages. */
export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Runs `command args` in its own process group and resolves with its output and exit code, or
 * rejects with `NETNS_TIMEOUT` after `timeoutMs` (the group is killed first) or `NETNS_COMMAND_FAILED`
 * when it cannot be started at all (ENOENT).
 */
export function runCommand(command: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  // detached: a new process group, so a timeout kills the command and everything it forked.
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  return collectUntilExit(child, commandLine(command, args), options.timeoutMs);
}

/**
 * Collects a started child's stdout and stderr (when piped) until it exits. After `timeoutMs` its
 * process group is SIGKILLed (it must lead one: spawn it `detached`) and the promise rejects with
 * `NETNS_TIMEOUT`; a child that cannot start rejects with `NETNS_COMMAND_FAILED`.
 */
export function collectUntilExit(child: ChildProcess, what: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let exitCode: number | null = null;
    let drainTimer: NodeJS.Timeout | undefined;
    const keep = (text: string): string => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS) : text);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout = keep(stdout + chunk)));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = keep(stderr + chunk)));
    // A daemon the command started may hold its stdout open long after the command exited
    // ('close' waits for every pipe): stop reading then, so neither case can hang the caller.
    const stopReading = (): void => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
      stopReading();
    }, timeoutMs);
    child.once('exit', (code) => {
      exitCode = code;
      drainTimer = setTimeout(stopReading, PIPE_DRAIN_MS);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      clearTimeout(drainTimer);
      reject(new NetnsError('NETNS_COMMAND_FAILED', `\`${what}\` could not be started: ${err.message}`, { cause: err }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      clearTimeout(drainTimer);
      if (timedOut) {
        reject(
          new NetnsError(
            'NETNS_TIMEOUT',
            `\`${what}\` did not finish within ${timeoutMs} ms and was killed; stderr: ${stderr.slice(-500)}`,
          ),
        );
      } else {
        resolve({ stdout, stderr, code: code ?? exitCode });
      }
    });
  });
}

/** Runs `command args` and returns stdout; a non-zero exit is a `NETNS_COMMAND_FAILED` naming the command and its stderr. */
export async function runChecked(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs });
  if (result.code !== 0) {
    throw new NetnsError(
      'NETNS_COMMAND_FAILED',
      `\`${commandLine(command, args)}\` exited with ${String(result.code)}: ${result.stderr.trim().slice(-500)}`,
    );
  }
  return result.stdout;
}

/** The synchronous twin of {@link runChecked} for exit handlers (no event loop there); never throws, returns stdout or null. */
export function runSyncQuietly(command: string, args: readonly string[], timeoutMs: number): string | null {
  const result = spawnSync(command, args, {
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return result.status === 0 ? result.stdout : null;
}

/** Sends `signal` to the process group led by `pid`; false when it is gone (or was never started). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // ESRCH: the group has no process left (the leader and every member exited).
    return false;
  }
}

/** Sends `signal` to one process; false when it is gone. */
export function killPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
