// Terminal progress of a coordinator run: one bar per epoch (steps, images/s, ETA, loss) and one per
// evaluation (images, images/s, ETA, then accuracy), drawn by cli-progress from the run's live feed
// (run_events.ts), the way `worker:train` draws its epochs. Only at a terminal: when stdout is not
// a TTY nothing is drawn and the log is the progress (coordinator.ts logs `round done` at info
// about every tenth of an epoch, `epoch done` after each validation).
// At a terminal the log lines go through TerminalProgress#write, above the bar (main.ts).
//
// Workers answer an `evalRequest` only when their shard is done, so an evaluation has no
// intermediate figures: its bar advances on an estimate (the images of the split, the rate of the
// previous evaluation, shown with `~`) and jumps to the measured count and rate when it ends.
import cliProgress from 'cli-progress';
import { CIFAR10_CLASSES, CIFAR10_RECORDS_PER_FILE } from '@gnet/data';
import type { EvalSplit } from '@gnet/protocol';
import { VAL_PER_CLASS } from '@gnet/recipe';
import type { RunEvent, RunEvents } from './run_events.js';

/** What one bar shows, as plain data (so the update logic is tested without a terminal). */
export interface BarState {
  /** `epoch 3/100`, `validation 3/100`, `test`. */
  label: string;
  value: number;
  /** 1 (and value 0) while an evaluation's size is unknown. */
  total: number;
  /** `12/352 steps`, `~2100/5000 images`. */
  progress: string;
  /** `412.3 img/s` (measured), `~900.0 img/s` (estimate), `—`. */
  rate: string;
  /** `1m05s`, `0s`, `?`. */
  eta: string;
  /** `loss 1.234`, `accuracy 61.20%`, `elapsed 12s`. */
  info: string;
}

/** A change of the single bar on screen. */
export type BarChange = { op: 'start' | 'update' | 'stop'; bar: BarState };

/**
 * Validation and test images of a run with `--eval-limit` (0 = all): CIFAR-10 holds VAL_PER_CLASS images per class out of training and
 * tests on 10,000.
 */
export function expectedEvalImages(evalLimit: number): Record<EvalSplit, number> {
  const val = VAL_PER_CLASS * CIFAR10_CLASSES.length;
  const test = CIFAR10_RECORDS_PER_FILE;
  return evalLimit > 0 ? { val: Math.min(evalLimit, val), test: Math.min(evalLimit, test) } : { val, test };
}

/** `45s`, `3m07s`, `2h05m`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

interface EpochBar {
  kind: 'epoch';
  epoch: number;
  /** Steps of the epoch already done before the first one this process saw (a resumed run). */
  firstStep: number;
  startedAtMs: number;
  images: number;
  state: BarState;
}

interface EvalBar {
  kind: 'eval';
  split: EvalSplit;
  startedAtMs: number;
  state: BarState;
}

/**
 * The bars' logic: feed it the run's events (and `tick` it while an evaluation runs); it answers
 * with the changes to draw. One bar at a time, in the order the coordinator works.
 */
export class ProgressModel {
  private stepsPerEpoch = 0;
  private totalSteps = 0;
  private epochs = 0;
  private epochsDone = 0;
  private bar: EpochBar | EvalBar | null = null;
  /** Images per second of the last evaluation (same model and batch: the next one's estimate). */
  private evalRate: number | null = null;
  private readonly evalImages: Partial<Record<EvalSplit, number>>;

  constructor(expected: Partial<Record<EvalSplit, number>> = {}) {
    this.evalImages = { ...expected };
  }

  onEvent(event: RunEvent): BarChange[] {
    switch (event.kind) {
      case 'started':
        this.stepsPerEpoch = event.stepsPerEpoch;
        this.totalSteps = event.totalSteps;
        this.epochs = event.epochs;
        this.epochsDone = Math.floor((event.resumedAtStep ?? 0) / Math.max(1, event.stepsPerEpoch));
        return [];
      case 'step':
        return this.onStep(event);
      case 'evaluation':
        return this.onEvaluation(event);
      case 'epoch':
        this.epochsDone = event.record.epoch;
        return [];
      case 'checkpoint':
        // The end-of-training checkpoint: the test evaluation is next.
        if (event.globalStep === this.totalSteps && this.epochsDone === this.epochs && this.bar === null)
          return this.startEval('test', event.atMs);
        return [];
      case 'finished':
      case 'failed':
        return this.stopCurrent(event.kind === 'failed' ? `failed: ${event.code}` : null);
      default:
        return [];
    }
  }

  /** The evaluation in progress, re-estimated at `nowMs`; null when none runs. */
  tick(nowMs: number): BarChange | null {
    if (this.bar?.kind !== 'eval') return null;
    this.bar.state = this.estimate(this.bar.split, this.bar.state.label, nowMs - this.bar.startedAtMs);
    return { op: 'update', bar: this.bar.state };
  }

  private onStep(event: Extract<RunEvent, { kind: 'step' }>): BarChange[] {
    const changes: BarChange[] = [];
    if (this.bar !== null && (this.bar.kind !== 'epoch' || this.bar.epoch !== event.epoch)) changes.push(...this.stopCurrent(null));
    let bar = this.bar as EpochBar | null;
    if (bar === null) {
      bar = {
        kind: 'epoch',
        epoch: event.epoch,
        firstStep: event.step,
        startedAtMs: event.atMs - event.seconds * 1000,
        images: 0,
        state: this.epochState(event.epoch, event.step, '—', '?', ''),
      };
      this.bar = bar;
      changes.push({ op: 'start', bar: bar.state });
    }
    const done = event.step + 1;
    const seconds = Math.max(1e-3, (event.atMs - bar.startedAtMs) / 1000);
    bar.images += event.images;
    const secondsPerStep = seconds / (done - bar.firstStep);
    bar.state = this.epochState(
      event.epoch,
      done,
      `${(bar.images / seconds).toFixed(1)} img/s`,
      formatSeconds((this.stepsPerEpoch - done) * secondsPerStep),
      `loss ${event.loss.toFixed(3)}${event.skipped ? ' (step skipped)' : ''}`,
    );
    changes.push({ op: 'update', bar: bar.state });
    if (done >= this.stepsPerEpoch) {
      changes.push(...this.stopCurrent(null));
      // The coordinator validates right after an epoch's last step.
      changes.push(...this.startEval('val', event.atMs));
    }
    return changes;
  }

  private onEvaluation(event: Extract<RunEvent, { kind: 'evaluation' }>): BarChange[] {
    const changes: BarChange[] = [];
    if (this.bar?.kind !== 'eval' || this.bar.split !== event.split) {
      changes.push(...this.stopCurrent(null), ...this.startEval(event.split, event.atMs));
    }
    const bar = this.bar as EvalBar;
    const seconds = (event.atMs - bar.startedAtMs) / 1000;
    const rate = seconds > 0 ? event.count / seconds : null;
    if (rate !== null) this.evalRate = rate;
    this.evalImages[event.split] = event.count;
    bar.state = {
      label: bar.state.label,
      value: event.count,
      total: Math.max(1, event.count),
      progress: `${event.count}/${event.count} images`,
      rate: rate === null ? '—' : `${rate.toFixed(1)} img/s`,
      eta: '0s',
      info: `accuracy ${(event.accuracy * 100).toFixed(2)}%, loss ${event.loss.toFixed(3)}, took ${seconds < 10 ? `${seconds.toFixed(1)}s` : formatSeconds(seconds)}`,
    };
    changes.push({ op: 'update', bar: bar.state }, ...this.stopCurrent(null));
    return changes;
  }

  private startEval(split: EvalSplit, atMs: number): BarChange[] {
    const label = split === 'test' ? 'test' : `validation ${this.epochsDone + 1}/${this.epochs}`;
    const bar: EvalBar = { kind: 'eval', split, startedAtMs: atMs, state: this.estimate(split, label, 0) };
    this.bar = bar;
    return [{ op: 'start', bar: bar.state }];
  }

  /** The estimated state of an evaluation `elapsedMs` in. */
  private estimate(split: EvalSplit, label: string, elapsedMs: number): BarState {
    const images = this.evalImages[split];
    const rate = this.evalRate;
    const elapsed = elapsedMs / 1000;
    const info = `elapsed ${formatSeconds(elapsed)}`;
    if (images === undefined)
      return { label, value: 0, total: 1, progress: '? images', rate: rate === null ? '—' : `~${rate.toFixed(1)} img/s`, eta: '?', info };
    if (rate === null) return { label, value: 0, total: images, progress: `?/${images} images`, rate: '—', eta: '?', info };
    // Never shown as done before the results are in.
    const value = Math.min(images - 1, Math.floor(rate * elapsed));
    return {
      label,
      value,
      total: images,
      progress: `~${value}/${images} images`,
      rate: `~${rate.toFixed(1)} img/s`,
      eta: formatSeconds(Math.max(0, images / rate - elapsed)),
      info,
    };
  }

  private epochState(epoch: number, done: number, rate: string, eta: string, info: string): BarState {
    return {
      label: `epoch ${epoch + 1}/${this.epochs}`,
      value: done,
      total: this.stepsPerEpoch,
      progress: `${done}/${this.stepsPerEpoch} steps`,
      rate,
      eta,
      info,
    };
  }

  private stopCurrent(why: string | null): BarChange[] {
    if (this.bar === null) return [];
    const state = why === null ? this.bar.state : { ...this.bar.state, info: why };
    this.bar = null;
    return [{ op: 'stop', bar: state }];
  }
}

/** A writable stream that may be a terminal (process.stdout, or a fake one in tests). */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Redraws of an evaluation's estimate, per second. */
const EVAL_TICKS_PER_SECOND = 4;

/**
 * The bars on a terminal, and the log lines written around them: while a bar is drawn, a log line
 * goes above it (cli-progress's MultiBar log), never into it. One MultiBar per phase, stopped when
 * the phase ends, so each finished epoch and evaluation stays on screen as one line.
 */
export class TerminalProgress {
  private multibar: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  private constructor(private readonly stream: ProgressStream) {}

  /** Bars on `stream` when it is a terminal; null (nothing drawn) when not: the log lines are the progress then. */
  static create(stream: ProgressStream): TerminalProgress | null {
    return stream.isTTY === true ? new TerminalProgress(stream) : null;
  }

  /** Writes a (newline-terminated) log line: above the bar while one is drawn. */
  write(text: string): void {
    if (this.multibar !== null) this.multibar.log(text.endsWith('\n') ? text : text + '\n');
    else this.stream.write(text);
  }

  /** Draws `events` from now on. */
  attach(events: RunEvents, options: { expectedEvalImages?: Partial<Record<EvalSplit, number>>; now?: () => number } = {}): void {
    const now = options.now ?? Date.now;
    const model = new ProgressModel(options.expectedEvalImages);
    this.timer = setInterval(() => {
      const change = model.tick(now());
      if (change !== null) this.apply(change);
    }, 1000 / EVAL_TICKS_PER_SECOND);
    this.timer.unref();
    this.unsubscribe = events.subscribe((event) => model.onEvent(event).forEach((change) => this.apply(change)));
  }

  /** Stops listening and leaves the current bar as it is, with the log lines still pending printed above it. */
  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.stopBar();
  }

  private apply(change: BarChange): void {
    // `eta` is a token of cli-progress's own (its estimate); ours travels as `remaining`.
    const { value, total, eta, ...rest } = change.bar;
    const payload = { ...rest, remaining: eta };
    if (change.op === 'start') {
      this.stopBar();
      this.multibar = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: '{label} |{bar}| {progress} | {rate} | eta {remaining} | {info}',
          barsize: 30,
          hideCursor: false,
          clearOnComplete: false,
          gracefulExit: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(total, value, payload);
      return;
    }
    if (this.bar === null) return;
    this.bar.setTotal(total);
    this.bar.update(value, payload);
    if (change.op === 'stop') this.stopBar();
  }

  private stopBar(): void {
    if (this.multibar === null) return;
    // update() prints the log lines still buffered; stop() draws the bar a last time and ends its line.
    this.multibar.update();
    this.multibar.stop();
    this.multibar = null;
    this.bar = null;
  }
}
