// Reading TLS material from PEM files at start-up, with errors that name the file and what is
// wrong with it (missing, not PEM, a key that does not belong to the certificate), so a bad
// `--tls-*` flag ends the process before anything listens or dials.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { CollectiveConfigError } from './errors.js';
import type { TlsCredentials } from './ws_server.js';

/** The text of a PEM file; `what` names it in errors (e.g. `TLS certificate`). */
export function readPemFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CollectiveConfigError(`${what} '${path}' cannot be read: ${(err as Error).message}`);
  }
  if (!text.includes('-----BEGIN '))
    throw new CollectiveConfigError(`${what} '${path}' must be PEM text (-----BEGIN ...-----), but is not`);
  return text;
}

/** A server's certificate (chain) and private key, checked to belong together (OpenSSL loads them as one context). */
export function readServerTls(certFile: string, keyFile: string): TlsCredentials {
  const cert = readPemFile(certFile, 'TLS certificate');
  const key = readPemFile(keyFile, 'TLS private key');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new CollectiveConfigError(
      `TLS certificate '${certFile}' and private key '${keyFile}' cannot be used together: ${(err as Error).message}`,
    );
  }
  return { cert, key };
}
