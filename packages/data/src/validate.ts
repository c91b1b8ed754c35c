// Argument checks shared by the sampler, splits and batch maker; messages follow the tfjs pattern
// "`rank` passed to `DistributedSampler` must be ..., but got ..." (shared/STYLE.md "Errors").
import { DataArgumentError } from './errors.js';

/**
 * Throws {@link DataArgumentError} unless `value` is an integer in [min, max].
 * `what` describes the domain for the message, e.g. "an integer in [0, worldSize) = [0, 4)".
 */
export function requireInt(
  value: unknown,
  argument: string,
  operation: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
  what?: string,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const domain =
      what ??
      (max === Number.MAX_SAFE_INTEGER
        ? min === 0
          ? 'a non-negative integer'
          : min === 1
            ? 'a positive integer'
            : `an integer >= ${min}`
        : `an integer in [${min}, ${max}]`);
    throw new DataArgumentError(argument, `\`${argument}\` passed to \`${operation}\` must be ${domain}, but got ${describe(value)}`);
  }
  return value;
}

/** Short rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<number>).length})`;
  return Object.prototype.toString.call(value);
}
