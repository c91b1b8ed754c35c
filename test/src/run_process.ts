// Starts one of the apps as a real child process (node + tsx, as `nx run` does), collects its NDJSON
// log lines, and kills it if it outlives its time budget, so a test can never hang.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cifar_dir.js';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Parsed NDJSON log lines (pino), in order. */
  logs: Array<Record<string, unknown>>;
  stderr: string;
  timedOut: boolean;
}

export function runApp(entry: string, args: readonly string[], opts: { timeoutMs: number; env?: Record<string, string> }): Promise<ProcessResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(REPO_ROOT, entry), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: Array<Record<string, unknown>> = [];
    let stdoutRest = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (stdoutRest + chunk).split('\n');
      stdoutRest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line, unparsed: true });
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, logs, stderr, timedOut });
    });
  });
}
