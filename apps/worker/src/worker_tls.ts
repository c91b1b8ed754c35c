// The worker's TLS material, read from the files serve_config.ts already checked at start-up:
// the CA it trusts for wss:// (the coordinator and ring peers), and its ring listener's own
// certificate and key when it serves wss://.
import { readPemFile, readServerTls, type TlsCredentials, type TrustedCa } from '@gnet/collective';
import type { ServeConfig } from './serve_config.js';

/** `--tls-ca`'s PEM text, or null (trust the system's CAs only). */
export function trustedCa(cfg: Pick<ServeConfig, 'tlsCa'>): TrustedCa {
  return cfg.tlsCa === '' ? null : readPemFile(cfg.tlsCa, 'TLS CA certificate');
}

/** `--tls-cert` / `--tls-key` for the ring listener, or null (it serves plain ws://). */
export function listenerTls(cfg: Pick<ServeConfig, 'tlsCert' | 'tlsKey'>): TlsCredentials | null {
  return cfg.tlsCert === '' ? null : readServerTls(cfg.tlsCert, cfg.tlsKey);
}
