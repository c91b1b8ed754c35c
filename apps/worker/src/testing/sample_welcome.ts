// One `welcome` for the worker's unit tests (the link, the machine, the generation set-up), so the
// 25-line message is written once and each test states only what it changes.
import type { Welcome } from '@gnet/protocol';

/** What a test may change: any field, and any of `hyper`'s fields alone. */
export type WelcomeOverrides = Partial<Omit<Welcome, 'hyper'>> & { hyper?: Partial<Welcome['hyper']> };

/**
 * A one-worker star `welcome` for a tiny model (no secret: empty `serverProof`), with `overrides`
 * applied; `hyper` is merged field by field.
 */
export function sampleWelcome(overrides: WelcomeOverrides = {}): Welcome {
  const { hyper, ...rest } = overrides;
  return {
    type: 'welcome',
    rank: 0,
    worldSize: 1,
    runId: 'run',
    generation: 0,
    heartbeatMs: 1000,
    hyper: {
      epochs: 1,
      globalBatch: 2,
      microBatch: 2,
      lrPeak: 0.1,
      warmupEpochs: 0,
      momentum: 0.9,
      nesterov: true,
      weightDecay: 0,
      labelSmoothing: 0,
      auxWeight: 0,
      seed: 0,
      augmentation: { cropPaddingPx: 0, flip: false, cutoutPx: 0 },
      ...hyper,
    },
    model: { width: 0.0625, auxHeads: false, batchNorm: false, dropout: 0, auxDropout: 0 },
    shard: { datasetSize: 4, trainIndicesDigest: '0'.repeat(64), seed: 0 },
    buckets: [{ bucket: 0, offset: 0, length: 10 }],
    allReduce: { algorithm: 'star', chunkBytes: 4096, wireDtype: 'float32' },
    peers: [],
    serverProof: new Uint8Array(0),
    ...rest,
  };
}

/** The `peers` of a two-worker ring whose addresses are never dialed. */
export const TWO_UNDIALED_PEERS: Welcome['peers'] = [
  { rank: 0, url: 'ws://127.0.0.1:1' },
  { rank: 1, url: 'ws://127.0.0.1:2' },
];
