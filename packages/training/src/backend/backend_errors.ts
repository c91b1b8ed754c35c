// Errors of backend selection. Both are configuration errors: the process cannot train as asked
// and should stop at start-up (shared/STYLE.md "Errors"); codes are stable for callers and tests.

/** Names `selectBackend` accepts ('tensorflow-gpu': native TensorFlow on a GPU, or an error). */
export type RequestedBackend = 'auto' | 'tensorflow' | 'tensorflow-gpu' | 'onednn' | 'wasm' | 'cpu';

/** A backend that was asked for by name could not be loaded or initialised. */
export class BackendUnavailableError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE' as const;

  /**
   * @param backend the backend asked for ('auto' when nothing at all could be loaded)
   * @param why what failed, one clause per thing tried (e.g. each native package)
   */
  constructor(
    readonly backend: RequestedBackend,
    readonly why: string,
    options?: { cause?: unknown },
  ) {
    super(`Backend '${backend}' requested from selectBackend could not be loaded: ${why}`, options);
    this.name = 'BackendUnavailableError';
  }
}

/** `requested` is not one of the names `selectBackend` knows. */
export class UnknownBackendError extends Error {
  readonly code = 'BACKEND_UNKNOWN' as const;

  constructor(readonly requested: unknown) {
    super(
      `\`requested\` passed to selectBackend must be one of 'auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu', but got ${JSON.stringify(requested)}`,
    );
    this.name = 'UnknownBackendError';
  }
}
