// One abort signal per all-reduce round. Whatever cancels a round (the coordinator's `roundAbort`,
// a lost or silent coordinator, `leave`, SIGTERM) aborts the same AbortController, with the reason
// recorded on it; every wait in the round (the step runner between micro-batches, the gradient
// buckets, the exact vector all-reduce) honours that one signal.

/** The signal of the round in progress, and the stop that aborts this round and every later one. */
export class RoundSignals {
  private controller: AbortController | null = null;
  private stopReason: string | null = null;

  /** Starts a round; its signal is already aborted when the worker is stopping (or leaving). */
  begin(): AbortSignal {
    this.controller = new AbortController();
    if (this.stopReason !== null) this.controller.abort(this.stopReason);
    return this.controller.signal;
  }

  /** The round is over: a later abort no longer concerns it. */
  end(): void {
    this.controller = null;
  }

  /** Aborts the round in progress, if any, with `reason`. */
  abortRunning(reason: string): void {
    this.controller?.abort(reason);
  }

  /** Aborts the round in progress and every round begun from now on (the first reason is kept). */
  stop(reason: string): void {
    this.stopReason ??= reason;
    this.abortRunning(reason);
  }
}
