// Rank 0's `stateSnapshot` as a checkpoint file (@gnet/run-store's format, the one single-node
// training writes). The snapshot lists the trainable variables first, in the flat parameter
// order, then the BatchNorm running statistics (apps/worker/src/wire_state.ts); momentum follows
// the variables. The plan's element counts split the two and check the sizes.
import { tensorFromFloat32, tensorToFloat32, type StateSnapshot, type WireTensor } from '@gnet/protocol';
import type { CheckpointState, ParamSlot } from '@gnet/run-store';
import { BadReplyError } from './errors.js';
import type { StartState } from './generation.js';

function slotsOf(tensors: readonly WireTensor[]): ParamSlot[] {
  let offset = 0;
  return tensors.map((t) => {
    const slot = { name: t.name, shape: [...t.shape], offset, size: t.count };
    offset += t.count;
    return slot;
  });
}

function concat(tensors: readonly WireTensor[], elements: number): Float32Array {
  const out = new Float32Array(elements);
  let offset = 0;
  for (const t of tensors) {
    out.set(tensorToFloat32(t), offset);
    offset += t.count;
  }
  return out;
}

/**
 * Builds the checkpoint of `snapshot` for a model of `paramElements` trainable and
 * `bufferElements` buffer elements. Throws `BadReplyError` when the snapshot does not split into
 * exactly those, or its momentum does not match the variables.
 */
export function snapshotToCheckpoint(
  snapshot: StateSnapshot,
  sizes: { paramElements: number; bufferElements: number },
  meta: Record<string, unknown>,
): CheckpointState {
  let split = 0;
  for (let seen = 0; split < snapshot.tensors.length && seen < sizes.paramElements; split += 1) seen += snapshot.tensors[split]!.count;
  const params = snapshot.tensors.slice(0, split);
  const buffers = snapshot.tensors.slice(split);
  const count = (ts: readonly WireTensor[]): number => ts.reduce((n, t) => n + t.count, 0);
  if (count(params) !== sizes.paramElements || count(buffers) !== sizes.bufferElements) {
    throw new BadReplyError(
      `stateSnapshot must hold ${sizes.paramElements} parameter then ${sizes.bufferElements} buffer elements, but its tensors split into ${count(params)} and ${count(buffers)}`,
    );
  }
  if (
    snapshot.momentum.length > 0 &&
    (snapshot.momentum.length !== params.length ||
      snapshot.momentum.some((m, i) => m.name !== params[i]!.name || m.count !== params[i]!.count))
  ) {
    throw new BadReplyError(`stateSnapshot.momentum must match its ${params.length} trainable variables by name and size`);
  }
  return {
    meta,
    weightSlots: slotsOf(params),
    bufferSlots: slotsOf(buffers),
    weights: concat(params, sizes.paramElements),
    buffers: concat(buffers, sizes.bufferElements),
    velocity: snapshot.momentum.length > 0 ? concat(snapshot.momentum, sizes.paramElements) : new Float32Array(sizes.paramElements),
  };
}

/** A checkpoint as the state a generation starts from (the inverse of `snapshotToCheckpoint`). */
export function checkpointToStart(state: CheckpointState, globalStep: number): StartState {
  const tensors = (slots: readonly ParamSlot[], flat: Float32Array): WireTensor[] =>
    slots.map((s) => tensorFromFloat32(s.name, s.shape, flat.subarray(s.offset, s.offset + s.size)));
  return {
    globalStep,
    tensors: [...tensors(state.weightSlots, state.weights), ...tensors(state.bufferSlots, state.buffers)],
    momentum: tensors(state.weightSlots, state.velocity),
  };
}
