// Test harness: runs one all-reduce on every rank of an in-memory group at once and collects
// each rank's result or error.
import type { Bucket, WireDtype } from '@gnet/protocol';
import { GradientReducer } from '../gradient_reducer.js';
import { MemoryHub } from '../memory_transport.js';
import { RingAllReduce } from '../ring_all_reduce.js';
import { StarAllReduce } from '../star_all_reduce.js';
import { StarHub } from '../star_hub.js';
import { starHubRank, type Transport } from '../transport.js';

/** One rank's outcome: its buffer after the round, or the error it failed with. */
export interface Outcome {
  data: Float32Array;
  error: unknown;
  /** Milliseconds from the start until this rank's all-reduce settled. */
  ms: number;
}

export interface GroupOptions {
  worldSize: number;
  /** Replaces the transport of a rank (e.g. with `dieAfter`). */
  wrap?: (rank: number, transport: Transport, hub: MemoryHub) => Transport;
  buckets: readonly Bucket[];
  chunkBytes: number;
  wireDtype?: WireDtype;
  timeoutMs?: number;
  latencyMs?: number;
}

/** Settles `promise` into an Outcome for `data`. */
export async function outcome(data: Float32Array, promise: Promise<void>, startedMs: number): Promise<Outcome> {
  try {
    await promise;
    return { data, error: null, ms: performance.now() - startedMs };
  } catch (error) {
    return { data, error, ms: performance.now() - startedMs };
  }
}

/** A ring group over a MemoryHub: one GradientReducer per rank. */
export function ringGroup(options: GroupOptions): { hub: MemoryHub; reducers: GradientReducer[]; rings: RingAllReduce[] } {
  const hub = new MemoryHub(options.worldSize, { latencyMs: options.latencyMs ?? 0 });
  const rings = hub.endpoints.map(
    (transport, rank) =>
      new RingAllReduce({
        transport: options.wrap?.(rank, transport, hub) ?? transport,
        rank,
        worldSize: options.worldSize,
        chunkBytes: options.chunkBytes,
        wireDtype: options.wireDtype,
        timeoutMs: options.timeoutMs ?? 5000,
      }),
  );
  return { hub, rings, reducers: rings.map((algorithm) => new GradientReducer({ algorithm, buckets: options.buckets })) };
}

/** A star group over a MemoryHub: workers 0 .. N - 1 and the hub at rank N. */
export function starGroup(options: GroupOptions): { hub: MemoryHub; reducers: GradientReducer[]; starHub: StarHub } {
  const n = options.worldSize;
  const hub = new MemoryHub(n + 1, { latencyMs: options.latencyMs ?? 0 });
  const common = { worldSize: n, chunkBytes: options.chunkBytes, wireDtype: options.wireDtype, timeoutMs: options.timeoutMs ?? 5000 };
  const starHub = new StarHub({ ...common, transport: hub.endpoint(starHubRank(n)), buckets: options.buckets });
  const reducers = Array.from(
    { length: n },
    (_, rank) =>
      new GradientReducer({
        algorithm: new StarAllReduce({ ...common, transport: options.wrap?.(rank, hub.endpoint(rank), hub) ?? hub.endpoint(rank), rank }),
        buckets: options.buckets,
      }),
  );
  return { hub, reducers, starHub };
}

/** Runs `allReduce` for `round` on every rank with its gradient; resolves with every outcome. */
export function allReduceEverywhere(
  reducers: readonly GradientReducer[],
  grads: readonly Float32Array[],
  round: number,
): Promise<Outcome[]> {
  const started = performance.now();
  return Promise.all(reducers.map((reducer, rank) => outcome(grads[rank]!, reducer.allReduce(grads[rank]!, { round }), started)));
}

/**
 * Wraps `transport` so that `hook` runs (e.g. `hub.kill(rank)`) just before its `count`-th call
 * of `method`: a rank that dies at a known point in the middle of a round.
 */
export function dieAfter(transport: Transport, method: 'send' | 'recv', count: number, hook: () => void): Transport {
  let calls = 0;
  const fire = (): void => {
    calls += 1;
    if (calls === count) hook();
  };
  return {
    rank: transport.rank,
    send: (peer, frames, options) => {
      if (method === 'send') fire();
      return transport.send(peer, frames, options);
    },
    recv: (peer, options) => {
      if (method === 'recv') fire();
      return transport.recv(peer, options);
    },
    close: (code, reason) => transport.close(code, reason),
  };
}

/**
 * Wraps `transport` so that its `count`-th send goes out one byte short: a chunk frame whose
 * payload no longer holds `count × bytesPerElement` bytes (`PROTO_BAD_TENSOR` at the receiver),
 * as a buggy or hostile rank would send it. The caller's buffer is not touched.
 */
export function corruptSend(transport: Transport, count: number): Transport {
  let calls = 0;
  return {
    rank: transport.rank,
    send: (peer, frames, options) => {
      calls += 1;
      if (calls !== count) return transport.send(peer, frames, options);
      const parts = frames instanceof Uint8Array ? [frames] : frames;
      const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) {
        whole.set(p, at);
        at += p.byteLength;
      }
      return transport.send(peer, whole.subarray(0, whole.byteLength - 1), options);
    },
    recv: (peer, options) => transport.recv(peer, options),
    close: (code, reason) => transport.close(code, reason),
  };
}
