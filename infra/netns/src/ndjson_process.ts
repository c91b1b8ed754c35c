// Reads a child process's stdout as NDJSON (pino's log lines) while it runs, so a test can wait
// for a given line ('coordinator listening') with a bound, and collect every line when it ends.
// It takes any ChildProcess: one started inside a namespace by HostNetwork.spawn, or an app
// started by test/src/run_process.ts.
import type { ChildProcess } from 'node:child_process';

type Line = Record<string, unknown>;

/** A watched process. */
export interface NdjsonProcess {
  child: ChildProcess;
  /** Parsed stdout lines so far (a line that is not JSON becomes `{ msg: line, unparsed: true }`). */
  logs: Line[];
  /** Resolves with the first line (past or future) `match` accepts; rejects after `timeoutMs`, or when the process exits first. */
  waitForLog(match: (line: Line) => boolean, timeoutMs: number): Promise<Line>;
  /** Settles when the process has exited (its pipes closed), or was killed after `timeoutMs`. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; logs: Line[]; stderr: string; timedOut: boolean }>;
}

/** Characters of stderr kept by default (the tail), for failure messages. */
const STDERR_TAIL_CHARS = 64 * 1024;

export interface WatchNdjsonOptions {
  /** Names the process in error messages. */
  name: string;
  /** The process is SIGKILLed after this long. */
  timeoutMs: number;
  /** Characters of stderr kept (the tail); default 64 KiB, `Infinity` for all of it. */
  stderrTailChars?: number;
  /** Sees each non-empty stdout line's text beside what it became, before it is logged (e.g. to check the raw JSON). */
  onLine?: (text: string, line: Line, parsed: boolean) => void;
}

/**
 * Watches `child` (spawned with stdout and stderr piped). After `timeoutMs` the child's process
 * group is SIGKILLed (spawn it `detached`, as HostNetwork.spawn does; otherwise the child alone),
 * so a test never hangs.
 */
export function watchNdjson(child: ChildProcess, options: WatchNdjsonOptions): NdjsonProcess {
  const stderrTailChars = options.stderrTailChars ?? STDERR_TAIL_CHARS;
  const logs: Line[] = [];
  const watchers = new Set<(line: Line) => void>();
  const exitWatchers = new Set<() => void>();
  let rest = '';
  let stderr = '';
  let exited = false;
  let timedOut = false;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const text of lines) {
      if (text.trim() === '') continue;
      let line: Line;
      let parsed = true;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        line = { msg: text, unparsed: true };
        parsed = false;
      }
      options.onLine?.(text, line, parsed);
      logs.push(line);
      for (const watcher of [...watchers]) watcher(line);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-stderrTailChars)));
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, options.timeoutMs);
  const done = new Promise<Awaited<NdjsonProcess['done']>>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      for (const watcher of [...exitWatchers]) watcher();
      resolve({ code, signal, logs, stderr, timedOut });
    });
  });
  const waitForLog = (match: (line: Line) => boolean, timeoutMs: number): Promise<Line> => {
    const found = logs.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<Line>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(t);
        watchers.delete(onLine);
        exitWatchers.delete(onExit);
      };
      const onLine = (line: Line): void => {
        if (!match(line)) return;
        finish();
        resolve(line);
      };
      const onExit = (): void => {
        finish();
        reject(new Error(`${options.name} exited before the awaited log line; stderr: ${stderr.slice(-1000)}`));
      };
      const t = setTimeout(() => {
        finish();
        reject(new Error(`no matching log line from ${options.name} within ${timeoutMs} ms; stderr: ${stderr.slice(-1000)}`));
      }, timeoutMs);
      watchers.add(onLine);
      exitWatchers.add(onExit);
      if (exited) onExit();
    });
  };
  return { child, logs, waitForLog, done };
}
