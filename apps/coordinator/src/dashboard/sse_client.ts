// One Server-Sent Events subscriber of the dashboard (`GET /events`, the WHATWG EventSource wire
// format): first a `reset` event, then the run so far (the feed's history), then every new event
// as it comes, one JSON object per `data:` line. Memory per client is bounded: the history is
// serialised lazily as the socket drains, live events wait in a queue of at most `maxQueuedBytes`,
// and a client whose socket has not drained for `drainTimeoutMs` (it stopped reading) or whose
// queue overflows is dropped. A browser's EventSource reconnects by itself and replays from the
// start (the `reset` tells the page to clear what it drew).
import type { ServerResponse } from 'node:http';
import type { RunEvent } from '../run_events.js';

/** Bounds of one subscriber. */
export interface SseLimits {
  /** Live events waiting for the socket, in bytes (UTF-16 code units, close enough); beyond it the client is dropped. */
  maxQueuedBytes: number;
  /** Longest wait for a full socket to drain before the client is dropped. */
  drainTimeoutMs: number;
  /** A comment line this often keeps proxies from closing an idle stream and finds dead clients. */
  heartbeatMs: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = { maxQueuedBytes: 4 * 1024 * 1024, drainTimeoutMs: 30_000, heartbeatMs: 15_000 };

/** History is written in chunks of about this many bytes (fewer, larger writes). */
const REPLAY_CHUNK_BYTES = 64 * 1024;

/** Why a subscriber went away. */
export type SseCloseReason = 'closed' | 'slow' | 'stalled' | 'shutdown';

/** One connected EventSource. */
export class SseClient {
  private readonly queue: string[] = [];
  private queuedBytes = 0;
  private replayAt = 0;
  private waitingForDrain = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private ending = false;

  /**
   * Starts the stream on `res` (headers sent here) with `history` to replay first (a copy: the
   * feed's own history thins as it grows). `onClose` is called once, with the reason, when the
   * client goes away or is dropped.
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly history: readonly RunEvent[],
    private readonly limits: SseLimits,
    private readonly onClose: (reason: SseCloseReason) => void,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Reverse proxies (nginx) would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.on('close', () => this.finish('closed'));
    res.on('drain', () => this.onDrain());
    this.heartbeat = setInterval(() => this.enqueue(': keep-alive\n\n'), limits.heartbeatMs);
    this.heartbeat.unref();
    // `retry`: EventSource's reconnection delay in ms; `reset`: forget what an earlier connection drew.
    res.write('retry: 2000\nevent: reset\ndata: {}\n\n');
    this.pump();
  }

  /** Still connected. */
  get open(): boolean {
    return !this.closed;
  }

  /** Sends a live event (queued behind the replay). */
  push(event: RunEvent): void {
    this.enqueue(frame(event));
  }

  /** Flushes what is queued, then ends the response (shutdown). */
  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.pump();
  }

  /** Drops the client now. */
  destroy(reason: SseCloseReason): void {
    if (this.closed) return;
    this.finish(reason);
    this.res.destroy();
  }

  private enqueue(text: string): void {
    if (this.closed || this.ending) return;
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (this.queuedBytes > this.limits.maxQueuedBytes) {
      this.destroy('slow');
      return;
    }
    this.pump();
  }

  /** Writes the replay, then the queue, until the socket pushes back. */
  private pump(): void {
    while (!this.closed && !this.waitingForDrain) {
      let chunk = '';
      if (this.replayAt < this.history.length) {
        while (this.replayAt < this.history.length && chunk.length < REPLAY_CHUNK_BYTES) chunk += frame(this.history[this.replayAt++]!);
      } else if (this.queue.length > 0) {
        chunk = this.queue.join('');
        this.queue.length = 0;
        this.queuedBytes = 0;
      } else {
        if (this.ending) {
          this.res.end();
          this.finish('shutdown');
        }
        return;
      }
      if (!this.res.write(chunk)) this.waitForDrain();
    }
  }

  private waitForDrain(): void {
    this.waitingForDrain = true;
    this.drainTimer = setTimeout(() => this.destroy('stalled'), this.limits.drainTimeoutMs);
  }

  private onDrain(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.pump();
  }

  private finish(reason: SseCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.queue.length = 0;
    this.onClose(reason);
  }
}

/** One event on the wire: JSON has no raw newlines, so one `data:` line (NaN and ±Infinity become null). */
function frame(event: RunEvent): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}
