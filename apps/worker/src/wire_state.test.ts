import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { digestsAgree, digestVector, floatsDigest, slotTensors, tensorsInto } from './wire_state.js';

const slots = [
  { name: 'a/kernel', shape: [2, 1], offset: 0, size: 2 },
  { name: 'a/bias', shape: [1], offset: 2, size: 1 },
];

test('slot tensors round-trip by name', () => {
  const flat = Float32Array.of(1.5, -2, 3);
  const tensors = slotTensors(slots, flat);
  assert.deepEqual(
    tensors.map((t) => [t.name, t.shape, t.count]),
    [
      ['a/kernel', [2, 1], 2],
      ['a/bias', [1], 1],
    ],
  );
  const back = new Float32Array(3);
  tensorsInto([...tensors].reverse(), slots, back, 'initialWeights.tensors');
  assert.deepEqual(back, flat);
  assert.throws(() => tensorsInto(tensors.slice(0, 1), slots, back, 'initialWeights.tensors'), {
    name: 'RangeError',
    message: "initialWeights.tensors must hold 'a/bias', but does not",
  });
});

test('the weights digest travels as sixteen exact 16-bit halves', () => {
  const flat = Float32Array.of(1, 2, 3);
  const hex = floatsDigest(flat);
  assert.equal(hex, createHash('sha256').update(Buffer.from(flat.buffer)).digest('hex'));
  const v = digestVector(hex);
  assert.equal(v.length, 16);
  assert.equal(v[0], Buffer.from(hex, 'hex').readUInt16LE(0));
  // Summed over 255 identical ranks, every entry is still exact in float32.
  assert.ok(v.every((x) => Number.isInteger(x) && x <= 65535 && Math.fround(x * 255) === x * 255));
});

test('the round-0 check accepts identical digests and refuses any rank with another', () => {
  const ours = digestVector(floatsDigest(Float32Array.of(1, 2, 3)));
  const theirs = digestVector(floatsDigest(Float32Array.of(1, 2, 3.0000002)));
  const sum = (...vs: Float32Array[]) => vs.reduce((acc, v) => acc.map((x, i) => x + v[i]!), new Float32Array(16));
  assert.equal(digestsAgree(sum(ours, ours, ours), ours, 3), true);
  assert.equal(digestsAgree(sum(ours, ours, theirs), ours, 3), false);
  assert.equal(digestsAgree(sum(theirs, ours), ours, 2), false);
});
