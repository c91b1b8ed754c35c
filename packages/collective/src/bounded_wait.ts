// A promise with a deadline and an abort signal: the one way this package waits on a peer, so
// every wait ends in a value, a CollectiveTimeoutError naming peer, operation and round, or a
// RoundAbortedError (after Gloo's per-operation timeouts).
import { CollectiveTimeoutError, RoundAbortedError } from './errors.js';
import type { WaitOptions } from './transport.js';

/** How an operation settles a bounded wait. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Reason text of an aborted signal. */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'aborted';
}

/**
 * Runs `start` and waits for it to settle, at most `options.timeoutMs`. `start` may return a
 * cleanup function, called once whichever way the wait ends (timeout, abort or settle), e.g. to
 * unregister a waiter.
 */
export function boundedWait<T>(peerRank: number, options: WaitOptions, start: (settle: Settle<T>) => (() => void) | void): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted === true) return Promise.reject(new RoundAbortedError(options.round, abortReason(signal)));
  return new Promise<T>((resolve, reject) => {
    const startedMs = performance.now();
    let done = false;
    let cleanup: (() => void) | void = undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (cleanup) cleanup();
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(new RoundAbortedError(options.round, abortReason(signal!)));
    };
    const timer = setTimeout(() => {
      if (finish())
        reject(new CollectiveTimeoutError({ peerRank, operation: options.operation, round: options.round }, performance.now() - startedMs));
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    cleanup = start({
      resolve: (value) => {
        if (finish()) resolve(value);
      },
      reject: (err) => {
        if (finish()) reject(err);
      },
    });
    // `start` may have settled synchronously, before `cleanup` was assigned.
    if (done && cleanup) cleanup();
  });
}
