// Starts one of the apps as a real child process (node + tsx, as `nx run` does) for the soak bench,
// hands each NDJSON log line to a callback as it arrives (a 1,000-step debug run is too long to keep
// whole), optionally copies the raw lines to a file, and SIGKILLs it past its time budget. Benches
// may not import test/ (eslint layer rules), hence this small cousin of test/src/run_process.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

/** How a started app ended. */
export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The last lines of stderr and unparsed stdout, for a failure message. */
  tail: string;
}

/** A process started by {@link startApp}. */
export interface StartedApp {
  readonly name: string;
  readonly child: ChildProcess;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<AppExit>;
}

export interface StartAppOptions {
  /** Label in failure messages (`coordinator`, `w0`). */
  name: string;
  /** Repository root: `entry` is relative to it, and it is the working directory. */
  repoRoot: string;
  entry: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** SIGKILL after this long. */
  timeoutMs: number;
  /** Every stdout line that parses as a JSON object (pino's NDJSON). */
  onLog?: (line: Record<string, unknown>) => void;
  /** Also write the raw stdout lines here (empty: nowhere). */
  logFile?: string;
}

/** Kept for the failure message: enough to show a stack trace, bounded so a long run stays small. */
const TAIL_CHARS = 4000;

export function startApp(options: StartAppOptions): StartedApp {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(options.repoRoot, options.entry), ...options.args],
    {
      cwd: options.repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const copy = options.logFile ? createWriteStream(options.logFile) : null;
  let tail = '';
  const keep = (text: string): void => {
    tail = (tail + text).slice(-TAIL_CHARS);
  };
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    copy?.write(chunk);
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        keep(line + '\n');
        continue;
      }
      if (typeof parsed === 'object' && parsed !== null) {
        // Errors are logged once, as NDJSON: keep them for the failure message too.
        if (typeof (parsed as { level?: unknown }).level === 'number' && (parsed as { level: number }).level >= 50) keep(line + '\n');
        options.onLog?.(parsed as Record<string, unknown>);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const exited = new Promise<AppExit>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      copy?.end();
      resolve({ code, signal, timedOut, tail });
    });
  });
  return { name: options.name, child, exited };
}

/** VmRSS of a live process from /proc, in bytes; null where /proc is missing or the process is gone. */
export function processRssBytes(pid: number | undefined, read: (path: string) => string): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(read(`/proc/${pid}/status`));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}
