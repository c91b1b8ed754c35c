// The logging surface @gnet/data needs: a structural subset of a pino logger (shared/STYLE.md "Logs":
// constant messages, data in fields), so the app passes its child logger and tests pass nothing.

/** Minimal structured logger; a pino `Logger` satisfies it. */
export interface DataLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/** A logger that drops everything (the default when no `log` is given). */
export const SILENT_LOGGER: DataLogger = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
});
