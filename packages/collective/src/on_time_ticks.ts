// The tick of every silence watchdog (the coordinator's per-worker liveness, the worker's watch on
// the coordinator): a periodic check that skips a tick which fires late. A late tick means our own
// event loop was blocked (a synchronous training step, a frozen process); the peer's messages that
// queued up meanwhile are read right after it, so judging silence then would blame the peer for
// our own stall.

/**
 * Calls `check(nowMs)` every `tickMs` (`performance.now()` clock), except on a tick that fires more
 * than a tick late. The timer is unref'd (it never keeps the process alive); clear it with
 * `clearInterval`.
 *
 * @example
 * const watchdog = onTimeTicks(1000, (nowMs) => { if (nowMs - lastHeardMs > timeoutMs) lose(); });
 */
export function onTimeTicks(tickMs: number, check: (nowMs: number) => void): NodeJS.Timeout {
  let expectedMs = performance.now() + tickMs;
  const timer = setInterval(() => {
    const nowMs = performance.now();
    const late = nowMs - expectedMs > tickMs;
    expectedMs = nowMs + tickMs;
    if (!late) check(nowMs);
  }, tickMs);
  timer.unref();
  return timer;
}
