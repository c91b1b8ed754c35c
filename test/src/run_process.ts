// Starts one of the apps as a real child process (node + tsx, as `nx run` does), collects its NDJSON
// log lines as they come (infra/netns's watchNdjson), and kills it if it outlives its time budget,
// so a test can never hang.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { watchNdjson } from '@gnet/infra/netns';
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
  const duplicateKeys: ProcessResult['duplicateKeys'] = [];
  const app = watchNdjson(child, {
    name: `process ${entry}`,
    timeoutMs: opts.timeoutMs,
    // Tests match messages anywhere in stderr: keep all of it.
    stderrTailChars: Infinity,
    onLine: (text, line, parsed) => {
      if (!parsed) return;
      const keys = duplicateTopLevelKeys(text);
      if (keys.length > 0) duplicateKeys.push({ msg: line['msg'], keys });
    },
  });
  return {
    ...app,
    done: app.done.then(({ code, signal, logs, stderr, timedOut }) => ({ code, signal, logs, duplicateKeys, stderr, timedOut })),
  };
}

/** Runs `entry` to completion (or its time budget). */
export function runApp(
  entry: string,
  args: readonly string[],
  opts: { timeoutMs: number; env?: Record<string, string> },
): Promise<ProcessResult> {
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
