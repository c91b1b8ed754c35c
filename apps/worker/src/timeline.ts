// `--timeline <file>`: what this worker spent each step on, like Horovod's timeline
// (HOROVOD_TIMELINE), as Chrome trace-event JSON that chrome://tracing and ui.perfetto.dev open.
// Each step is one complete event ("ph":"X") with its phases nested inside it: data, compute
// (forward and backward), all-reduce, apply; evaluations (BatchNorm average, then the shard) and
// each generation's weights check too. Timestamps are microseconds since the Unix epoch, so the
// files of several workers on one machine line up when loaded together.
//
// Events are written as they happen (memory stays bounded however long the run), each with the
// closing brackets after it, and the next event overwrites those brackets: after every write the
// file is a complete JSON document, so a worker killed mid-run still leaves a readable trace.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One Chrome trace event (Trace Event Format, "complete" and "metadata" events). */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'M';
  /** Start, µs since the Unix epoch. */
  ts?: number;
  /** Duration, µs. */
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Where in a run a step is, and how it went (the `args` of its event). */
export interface StepFacts {
  round: number;
  epoch: number;
  step: number;
  globalStep: number;
  generation: number;
  loss: number;
  skipped: boolean;
}

const HEAD = '{"displayTimeUnit":"ms","traceEvents":[\n';
const TAIL = '\n]}\n';

/** A trace file being written; see the top of this file. Times passed in are `performance.now()` milliseconds. */
export class Timeline {
  private fd: number | null;
  /** Byte offset of TAIL: the next event is written there. */
  private position = 0;
  private events = 0;

  private constructor(
    readonly path: string,
    private readonly pid: number,
    private readonly onError: (err: Error) => void,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'w');
    this.write(HEAD.length, HEAD);
  }

  /**
   * Creates (or truncates) `path` and names the process `processName` in the viewer. A failed write
   * later stops the timeline (the run goes on) and calls `onError` once.
   */
  static open(path: string, options: { processName: string; pid?: number; onError?: (err: Error) => void }): Timeline {
    const timeline = new Timeline(path, options.pid ?? process.pid, options.onError ?? (() => undefined));
    timeline.add({ name: 'process_name', ph: 'M', pid: timeline.pid, tid: 0, args: { name: options.processName } });
    return timeline;
  }

  /** Events written so far (the process name included). */
  get count(): number {
    return this.events;
  }

  /** One phase from `startMs` to `endMs` (`performance.now()` milliseconds). */
  span(name: string, cat: string, startMs: number, endMs: number, args?: Record<string, unknown>): void {
    this.add({
      name,
      cat,
      ph: 'X',
      ts: toMicros(startMs),
      dur: Math.max(0, Math.round((endMs - startMs) * 1000)),
      pid: this.pid,
      tid: 0,
      ...(args === undefined ? {} : { args }),
    });
  }

  /** A training step and its four phases; `marks` are the times that start data, compute, all-reduce and apply, then the end. */
  trainStep(facts: StepFacts, marks: readonly [number, number, number, number, number]): void {
    const [t0, t1, t2, t3, t4] = marks;
    this.span('step', 'step', t0, t4, { ...facts });
    this.span('data', 'step', t0, t1);
    this.span('compute', 'step', t1, t2);
    this.span('all-reduce', 'collective', t2, t3, { round: facts.round });
    this.span('apply', 'step', t3, t4, { skipped: facts.skipped });
  }

  /** Closes the file (already complete JSON). */
  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  private add(event: TraceEvent): void {
    if (this.fd === null) return;
    const text = (this.events === 0 ? '' : ',\n') + JSON.stringify(event);
    if (this.write(Buffer.byteLength(text), text)) this.events += 1;
  }

  /** Writes `text` then TAIL at the current position, in one write; advances past `text` (`length` bytes). False when it failed. */
  private write(length: number, text: string): boolean {
    try {
      const bytes = Buffer.from(text + TAIL);
      writeSync(this.fd!, bytes, 0, bytes.length, this.position);
      this.position += length;
      return true;
    } catch (err) {
      const fd = this.fd;
      this.fd = null;
      try {
        if (fd !== null) closeSync(fd);
      } catch {
        // Already failing; the first error is the one to report.
      }
      this.onError(err as Error);
      return false;
    }
  }
}

/** `performance.now()` milliseconds as µs since the Unix epoch (whole µs). */
function toMicros(ms: number): number {
  return Math.round((performance.timeOrigin + ms) * 1000);
}
