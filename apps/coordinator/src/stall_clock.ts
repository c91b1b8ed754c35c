// When a wait deserves a stall warning: first after `stallWarnMs`, then once every `stallWarnMs`
// (horovod's stall inspector warns the same way). Pure, so the cadence is tested without timers.

/** Tells a waiting loop when to warn, and how long it has waited. */
export class StallClock {
  private nextWarnAt: number;
  private readonly startedAt: number;

  /** @param stallWarnMs warn after this many milliseconds of waiting, and each period after. */
  constructor(
    private readonly stallWarnMs: number,
    now: number = performance.now(),
  ) {
    this.startedAt = now;
    this.nextWarnAt = now + stallWarnMs;
  }

  /** Milliseconds waited so far when a warning is due at `now` (and arms the next one), else null. */
  due(now: number): number | null {
    if (now < this.nextWarnAt) return null;
    while (this.nextWarnAt <= now) this.nextWarnAt += this.stallWarnMs;
    return now - this.startedAt;
  }
}
