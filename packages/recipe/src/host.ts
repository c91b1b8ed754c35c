// Host names the commands listen on or advertise, checked at start-up rather than at bind time.
import { isIP } from 'node:net';
import { z } from 'zod';

/** RFC 1123 labels, plus `_` (container names use it); an optional trailing dot. */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** An IP address or a host name: no scheme, port, brackets or spaces. */
export const HostSchema = z.string().refine((h) => isIP(h) !== 0 || HOST_NAME.test(h), 'expected an IP address or a host name');
