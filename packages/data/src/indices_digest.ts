// A fingerprint of an index list: lowercase hex SHA-256 of the indices as uint32 little-endian.
// The coordinator puts the training split's fingerprint in `welcome.shard.trainIndicesDigest`;
// each worker computes its own from its data and seed and refuses to train on a different split.
import { createHash } from 'node:crypto';
import { requireInt } from './validate.js';

/**
 * SHA-256 of `indices` written as uint32 little-endian, as 64 lowercase hex digits.
 *
 * @example
 * indicesDigest(stratifiedSplit(labels, 500, seed).train) // same on every machine with the same CIFAR-10
 * @throws DataArgumentError for an entry that is not an integer in [0, 2^32).
 */
export function indicesDigest(indices: ArrayLike<number>): string {
  const bytes = Buffer.alloc(indices.length * 4);
  for (let i = 0; i < indices.length; i++) {
    bytes.writeUInt32LE(requireInt(indices[i], `indices[${i}]`, 'indicesDigest', 0, 0xffffffff), i * 4);
  }
  return createHash('sha256').update(bytes).digest('hex');
}
