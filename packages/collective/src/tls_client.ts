// The client side of `wss://`: which certificates to trust, and telling a certificate that is not
// trusted (a setting to fix, never worth retrying) from a peer that is not up yet.
import { rootCertificates } from 'node:tls';

/** Extra certificate authorities (PEM) to trust beside the system's, or null for the system's only. */
export type TrustedCa = string | Buffer | null;

/**
 * ws / https client options for `url`: for `wss://` with `ca`, trust `ca` plus Node's bundled
 * root certificates (Node's `ca` option replaces the defaults, so they are passed too); otherwise
 * none (plain `ws://`, or the system's roots only).
 */
export function clientTlsOptions(url: string, ca: TrustedCa): { ca?: (string | Buffer)[] } {
  if (!url.startsWith('wss://') || ca === null) return {};
  return { ca: [...rootCertificates, ca] };
}

/**
 * OpenSSL's certificate verification failures, as Node reports them in `err.code`
 * (`DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, ...).
 */
const TRUST_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)/;

/**
 * For an error of a `wss://` dial that means "the server's certificate is not trusted here", a
 * sentence saying so, with OpenSSL's code and reason; null for any other error (refused, reset,
 * timed out), which may pass once the server is up.
 *
 * @example
 * describeTlsTrustError(err) // "its TLS certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate)"
 */
export function describeTlsTrustError(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !TRUST_FAILURE.test(code)) return null;
  return `its TLS certificate is not trusted (${code}: ${(err as Error).message})`;
}
