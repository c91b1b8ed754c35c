// A server socket that cannot listen because of a setting the user chose (a port already taken,
// a privileged port, an address this machine does not have) is a configuration error: one line
// that names the flag and the fix, exit 2, not a stack trace (issue 10).

/** Why binding `host:port` failed, as one line naming `flag`; null when `err` is not a setting's fault. */
export function listenFailure(err: unknown, flag: string, host: string, port: number): string | null {
  const where = `${flag} ${port} on ${host}`;
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'EADDRINUSE':
      return `${where}: the port is already in use (EADDRINUSE); pick another ${flag} (0: any free port) or stop the process that holds it (\`ss -ltnp 'sport = :${port}'\` names it)`;
    case 'EACCES':
      return `${where}: permission denied (EACCES); ports below 1024 need privileges, pick one above 1024 (0: any free port)`;
    case 'EADDRNOTAVAIL':
      return `${where}: this machine has no such address (EADDRNOTAVAIL); use one of its own addresses, 127.0.0.1 or 0.0.0.0`;
    default:
      return null;
  }
}
