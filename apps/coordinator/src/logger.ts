// One root pino logger per process (shared/STYLE.md "Logs"): NDJSON always, pretty-printed only for a
// human at a terminal. Modules take children with { module }.
import pino, { type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

const PRETTY = { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' };

/**
 * `pretty` with `write`: each line is pretty-printed in this thread and handed to `write` (the
 * terminal's progress bars print it above themselves); without `write`, by pino-pretty's transport.
 */
export function createLogger(opts: {
  level: string;
  pretty: boolean;
  base?: Record<string, unknown>;
  write?: (text: string) => void;
}): Logger {
  if (opts.pretty && opts.write !== undefined) {
    const prettify = prettyFactory(PRETTY);
    const write = opts.write;
    return pino({ level: opts.level, base: { pid: process.pid, ...opts.base } }, { write: (line: string) => write(prettify(line)) });
  }
  return pino({
    level: opts.level,
    base: { pid: process.pid, ...opts.base },
    ...(opts.pretty ? { transport: { target: 'pino-pretty', options: PRETTY } } : {}),
  });
}
