// Best-effort cleanup when the process ends without calling destroy(): a test that throws past
// its `finally`, process.exit(), or SIGINT / SIGTERM (Ctrl-C, the test runner's timeout, CI
// cancelling a job). Exit handlers cannot wait for the event loop, so each registered cleanup is
// synchronous (spawnSync with a timeout). SIGKILL cannot be caught: namespaces left by a killed
// process are removed by the next createHostNetwork (see stale.ts).

type SyncCleanup = () => void;

const cleanups = new Set<SyncCleanup>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function runAll(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // Best effort: one failed cleanup must not stop the others.
    }
  }
}

function onExit(): void {
  runAll();
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  uninstall();
  // With our listener gone and nobody else listening, re-raise: the process ends as the signal's
  // default action would have ended it (exit status 128 + n), which a listener had suppressed.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/**
 * Runs `cleanup` if the process exits or gets SIGINT/SIGTERM/SIGHUP before the returned
 * function is called. The hooks exist only while something is registered, so a process without
 * live networks keeps Node's default signal behaviour.
 */
export function registerExitCleanup(cleanup: SyncCleanup): () => void {
  cleanups.add(cleanup);
  install();
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}
