// Streaming HTTP GET with a connect/response timeout and an idle timeout, an optional progress bar
// (cli-progress, only on a terminal) and bounded retries with exponential backoff (p-retry). Uses
// node's built-in fetch (undici).
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import cliProgress from 'cli-progress';
import pRetry from 'p-retry';
import type { DataLogger } from './data_logger.js';
import { Cifar10DownloadError } from './errors.js';

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Longest wait for the response headers, and for each next chunk of the body, in ms. */
  timeoutMs: number;
  /** Draw a progress bar on stdout (only honoured when stdout is a terminal). */
  progress: boolean;
  /** Name shown on the progress bar. */
  label: string;
}

/**
 * GETs `url` and hands its body to `consume`, which must read it to the end (or throw). A stalled
 * connection aborts the body with a `CIFAR10_TIMEOUT` error; a failure while the body is being read
 * becomes `CIFAR10_NETWORK`; errors that `consume` raises itself (format, checksum) pass through.
 *
 * @throws Cifar10DownloadError `CIFAR10_HTTP_STATUS` (retryable for 408, 429 and 5xx),
 *   `CIFAR10_TIMEOUT` or `CIFAR10_NETWORK` (both retryable).
 */
export async function download<T>(
  url: string,
  options: DownloadOptions,
  consume: (body: AsyncIterable<Buffer>, totalBytes: number | null) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let received = 0; // body bytes so far
  let phase: 'response' | 'body' = 'response';
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const what =
        phase === 'response' ? `no response within ${options.timeoutMs} ms` : `no data for ${options.timeoutMs} ms after ${received} bytes`;
      controller.abort(new Cifar10DownloadError('CIFAR10_TIMEOUT', url, `GET ${url} timed out: ${what}`, true));
    }, options.timeoutMs);
  };
  let bar: cliProgress.SingleBar | null = null;
  try {
    arm();
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (err) {
      throw controller.signal.aborted ? controller.signal.reason : networkError(url, err);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => {});
      const s = response.status;
      throw new Cifar10DownloadError(
        'CIFAR10_HTTP_STATUS',
        url,
        `GET ${url} must answer 200, but answered ${s} ${response.statusText}`.trimEnd(),
        s === 408 || s === 429 || s >= 500,
      );
    }
    const length = Number(response.headers.get('content-length'));
    const totalBytes = Number.isSafeInteger(length) && length > 0 ? length : null;
    if (options.progress && process.stdout.isTTY && totalBytes !== null) {
      bar = new cliProgress.SingleBar(
        {
          format: `${options.label} [{bar}] {percentage}% | {value}/{total} MB | {eta_formatted}`,
          stream: process.stdout,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.ceil(totalBytes / 1e6), 0);
    }
    let bodyError: unknown = null;
    const source = Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
    phase = 'body';
    arm();
    // Every chunk re-arms the idle timer and moves the bar.
    const watched = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        arm();
        bar?.update(Math.ceil(received / 1e6));
        done(null, chunk);
      },
    });
    source.on('error', (err) => {
      bodyError = err;
      watched.destroy(controller.signal.aborted ? (controller.signal.reason as Error) : networkError(url, err));
    });
    source.pipe(watched);
    try {
      return await consume(watched, totalBytes);
    } catch (err) {
      if (controller.signal.aborted) throw controller.signal.reason;
      if (bodyError !== null && !(err instanceof Cifar10DownloadError)) throw networkError(url, bodyError);
      throw err;
    } finally {
      source.destroy();
      watched.destroy();
    }
  } finally {
    clearTimeout(timer);
    bar?.stop();
  }
}

function networkError(url: string, err: unknown): Cifar10DownloadError {
  if (err instanceof Cifar10DownloadError) return err;
  // undici reports "fetch failed" with the socket error as `cause` (ECONNREFUSED, ENOTFOUND, ...).
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new Cifar10DownloadError('CIFAR10_NETWORK', url, `GET ${url} failed: ${why}`, true, { cause: err });
}

/** Options of {@link withRetries}. */
export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  /** Delay before the first retry, in ms; doubled (and randomised up to 2x) on each next one. */
  minDelayMs: number;
  log: DataLogger;
}

/**
 * Runs `attempt` until it succeeds, retrying only retryable {@link Cifar10DownloadError}s, at most
 * `retries` times. Other errors (checksum, format) end it at once: trying again would not help.
 */
export async function withRetries<T>(url: string, attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retryable = (err: unknown): boolean => err instanceof Cifar10DownloadError && err.retryable;
  return pRetry(attempt, {
    retries: options.retries,
    minTimeout: options.minDelayMs,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => retryable(error),
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (retryable(error) && retriesLeft > 0)
        options.log.warn({ err: error, url, attemptNumber, retriesLeft }, 'download failed, retrying');
    },
  });
}
