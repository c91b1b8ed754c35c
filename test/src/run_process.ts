// Starts one of the apps as a real child process (node + tsx, as `nx run` does), collects its NDJSON
// log lines as they come, and kills it if it outlives its time budget, so a test can never hang.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cifar_dir.js';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Parsed NDJSON log lines (pino), in order. */
  logs: Array<Record<string, unknown>>;
  /** Log lines whose JSON repeats a top-level key (a child logger rebinding a key its parent binds): parsers keep one or the other. */
  duplicateKeys: Array<{ msg: unknown; keys: string[] }>;
  stderr: string;
  timedOut: boolean;
}

/** A process started by {@link startApp}, observable while it runs. */
export interface RunningApp {
  child: ChildProcess;
  /** Log lines so far (grows while the process runs). */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first line (past or future) `match` accepts; rejects after `timeoutMs` or when the process exits first. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Settles when the process has exited. */
  done: Promise<ProcessResult>;
}

/** Starts `entry` (a path from the repository root) with `args`; SIGKILLs it after `timeoutMs`. */
export function startApp(entry: string, args: readonly string[], opts: { timeoutMs: number; env?: Record<string, string> }): RunningApp {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const duplicateKeys: ProcessResult['duplicateKeys'] = [];
  const watchers = new Set<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  let stdoutRest = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (stdoutRest + chunk).split('\n');
    stdoutRest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
        const keys = duplicateTopLevelKeys(line);
        if (keys.length > 0) duplicateKeys.push({ msg: parsed['msg'], keys });
      } catch {
        parsed = { msg: line, unparsed: true };
      }
      logs.push(parsed);
      for (const w of watchers) if (w.match(parsed)) w.resolve(parsed);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  let exited = false;
  const exitListeners = new Set<() => void>();
  const done = new Promise<ProcessResult>((resolvePromise) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      for (const l of exitListeners) l();
      resolvePromise({ code, signal, logs, duplicateKeys, stderr, timedOut });
    });
  });
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> => {
    const found = logs.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(t);
        watchers.delete(watcher);
        exitListeners.delete(onExit);
      };
      const watcher = {
        match,
        resolve: (line: Record<string, unknown>) => {
          finish();
          resolve(line);
        },
      };
      const onExit = (): void => {
        finish();
        reject(new Error(`process ${entry} exited before the awaited log line; stderr: ${stderr.slice(-1000)}`));
      };
      const t = setTimeout(() => {
        finish();
        reject(new Error(`no matching log line from ${entry} within ${timeoutMs} ms`));
      }, timeoutMs);
      watchers.add(watcher);
      exitListeners.add(onExit);
      if (exited) onExit();
    });
  };
  return { child, logs, waitForLog, done };
}

/** Runs `entry` to completion (or its time budget). */
export function runApp(entry: string, args: readonly string[], opts: { timeoutMs: number; env?: Record<string, string> }): Promise<ProcessResult> {
  return startApp(entry, args, opts).done;
}

/** Keys that occur more than once at the top level of the JSON object `json` (JSON.parse silently keeps the last). */
export function duplicateTopLevelKeys(json: string): string[] {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i += 1) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (seen.has(key)) duplicates.push(key);
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth += 1;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') depth -= 1;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return duplicates;
}
