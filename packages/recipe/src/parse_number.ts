// Commander's value parser for numeric flags: the schema then checks range and integrality, so
// this only refuses what is not a number at all (commander prefixes the flag to the message).
import { InvalidArgumentError } from 'commander';

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a finite number.');
  return n;
}
