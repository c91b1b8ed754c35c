// Start-up checks of the TLS files a command is given, so a bad one fails with its flag, name and
// reason before anything listens. Reading PEM files is @gnet/collective's job (it serves them);
// the readers are passed in so this layer depends on nothing of ours.
import { ConfigError } from './config_error.js';

export interface TlsFiles {
  /** PEM CA certificate to trust; empty or absent: none. */
  ca?: string;
  /** PEM certificate (chain) to serve with; empty: none. */
  cert: string;
  /** PEM private key of `cert`; empty when `cert` is. */
  key: string;
}

export interface TlsReaders {
  /** Reads and pairs the certificate and key; throws a file error naming what is wrong. */
  readServerTls(certFile: string, keyFile: string): unknown;
  /** Reads one PEM file (`what` names it in the error). */
  readPemFile(file: string, what: string): unknown;
  /** True for the readers' own file errors (turned into ConfigError); others propagate. */
  isFileError(err: unknown): err is Error;
}

/**
 * `--tls-cert` and `--tls-key` come together; each file is read once here. `pairUse` says what the
 * pair does for the message, e.g. 'both serve wss://, neither serves ws://'.
 */
export function checkTlsFiles(files: TlsFiles, pairUse: string, readers: TlsReaders): void {
  if ((files.cert === '') !== (files.key === '')) {
    const [given, missing] = files.cert === '' ? ['--tls-key', '--tls-cert'] : ['--tls-cert', '--tls-key'];
    throw new ConfigError(`${missing} must be given together with ${given} (${pairUse}), but only ${given} was`);
  }
  const check = (flags: string, read: () => unknown): void => {
    try {
      read();
    } catch (err) {
      if (readers.isFileError(err)) throw new ConfigError(`${flags}: ${err.message}`);
      throw err;
    }
  };
  const ca = files.ca ?? '';
  if (ca !== '') check('--tls-ca', () => readers.readPemFile(ca, 'TLS CA certificate'));
  if (files.cert !== '') check('--tls-cert / --tls-key', () => readers.readServerTls(files.cert, files.key));
}
