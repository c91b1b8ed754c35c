// Errors of the network-namespace test helper, grouped by what the caller does next (shared/STYLE.md
// "Errors"): a machine without namespaces skips or fails the test (`NETNS_UNAVAILABLE`); a bad
// HostSpec is a bug in the test (`NETNS_BAD_SPEC`, `NETNS_UNKNOWN_HOST`, `NETNS_DESTROYED`); a
// command that failed or ran past its bound fails the test with the command line and its stderr.

/** Stable codes of {@link NetnsError}. */
export type NetnsErrorCode =
  /** Not root, no `ip`/`tc`/`nsenter`, or the kernel refused a namespace, veth, bridge or tbf. */
  | 'NETNS_UNAVAILABLE'
  /** A HostSpec or subnet that cannot be built (duplicate names, bad rate, not a /24). */
  | 'NETNS_BAD_SPEC'
  /** `host(name)` / `spawn(name)` / `exec(name)` for a name the network does not have. */
  | 'NETNS_UNKNOWN_HOST'
  /** `spawn` / `exec` after `destroy()`. */
  | 'NETNS_DESTROYED'
  /** An `ip` / `tc` command exited non-zero. */
  | 'NETNS_COMMAND_FAILED'
  /** A command ran past its `timeoutMs` and was killed. */
  | 'NETNS_TIMEOUT'
  /** `destroy()` could not remove everything it made; the message lists what is left. */
  | 'NETNS_CLEANUP_FAILED';

/** The one error class this helper throws; `code` says which case. */
export class NetnsError extends Error {
  override readonly name = 'NetnsError';

  constructor(
    readonly code: NetnsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
