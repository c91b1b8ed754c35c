// One root pino logger per process (shared/STYLE.md "Logs"): NDJSON always, pretty-printed only for a
// human at a terminal. Modules take children with { module }.
import pino, { type Logger } from 'pino';

export function createLogger(opts: { level: string; pretty: boolean; base?: Record<string, unknown> }): Logger {
  return pino({
    level: opts.level,
    base: { pid: process.pid, ...opts.base },
    ...(opts.pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } }
      : {}),
  });
}
