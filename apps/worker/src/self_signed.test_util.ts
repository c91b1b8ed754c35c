// Test helper: a throw-away self-signed certificate for 127.0.0.1, made in-process with the
// `selfsigned` package (no openssl binary needed), for wss:// tests.
import selfsigned from 'selfsigned';

/** A self-signed certificate and key (PEM) for `host` (an IP address), valid for a day. */
export async function selfSignedCert(host = '127.0.0.1'): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 24 * 3600_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: host }] }],
  });
  return { cert: pems.cert, key: pems.private };
}
