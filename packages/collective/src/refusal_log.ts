// Rate-limited warnings for refused connections, the way sshd reports MaxStartups throttling: a
// server under a flood must not turn every refusal into a log line (one drill wrote 222 of its
// 294 lines this way), yet an operator with one misconfigured worker must still see why it was
// refused. So, per interval: the first refusal of each code is logged in full, the rest are
// counted, and one summary line at the end of the interval gives the counts per code and the
// addresses that were refused most.

/** The one method of a (pino) logger this needs; pino's `Logger` fits. */
export interface RefusalLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Options of {@link RefusalLog}. */
export interface RefusalLogOptions {
  /** Length of one reporting interval, in milliseconds; default 30 000. */
  intervalMs?: number;
  /** How many addresses the summary names, most refused first; default 5. */
  topRemotes?: number;
}

/**
 * Default reporting interval, in milliseconds: under a sustained flood, at most one line per
 * code and one summary every 30 s; a single refusal is still logged at once.
 */
export const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 30_000;

/**
 * Counts refusals and logs them at warn, rate-limited (see the file header). The summary is
 * `{ intervalMs, refused: { [code]: n }, total, topRemotes: [{ remote, refused }] }` under the
 * message 'more connections refused', counting only the refusals not logged one by one, so the
 * lines logged one by one plus the summaries account for every refusal exactly once.
 *
 * @example
 * const refusals = new RefusalLog(log);
 * refusals.record('PROTO_AUTH', '10.0.0.7', 'hello refused', { reason: err.message });
 */
export class RefusalLog {
  /** Refusals counted since start, by code (logged one by one or not): for tests and metrics. */
  readonly counts = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly topRemotes: number;
  /** Codes already logged one by one in this interval. */
  private readonly shown = new Set<string>();
  private readonly byCode = new Map<string, number>();
  private readonly byRemote = new Map<string, number>();
  private total = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: RefusalLogger | null,
    options: RefusalLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS;
    this.topRemotes = options.topRemotes ?? 5;
  }

  /**
   * Records one refusal with `code` of a connection from `remote`; logs it under `msg` with `fields` if it is the first of its code in this
   * interval.
   */
  record(code: string, remote: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    if (this.log === null) return;
    this.startInterval();
    if (!this.shown.has(code)) {
      this.shown.add(code);
      this.log.warn({ ...fields, code, remote }, msg);
      return;
    }
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    // Bounded: a flood from many addresses keeps at most a few thousand entries per interval.
    if (this.byRemote.has(remote) || this.byRemote.size < 4096) this.byRemote.set(remote, (this.byRemote.get(remote) ?? 0) + 1);
    this.total += 1;
  }

  /** Logs what the current interval counted and stops the timer (the server is closing). */
  close(): void {
    this.flush();
  }

  private startInterval(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    // A summary still pending must not keep a finished process alive.
    this.timer.unref();
  }

  private flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.total > 0 && this.log !== null) {
      const topRemotes = [...this.byRemote]
        .sort((a, b) => b[1] - a[1])
        .slice(0, this.topRemotes)
        .map(([remote, refused]) => ({ remote, refused }));
      this.log.warn(
        { intervalMs: this.intervalMs, refused: Object.fromEntries(this.byCode), total: this.total, topRemotes },
        'more connections refused',
      );
    }
    this.shown.clear();
    this.byCode.clear();
    this.byRemote.clear();
    this.total = 0;
  }
}
