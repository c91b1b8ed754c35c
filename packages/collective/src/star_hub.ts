// Star all-reduce, hub side, hosted by the coordinator (transport-agnostic: it only needs a
// Transport whose rank is `starHubRank(worldSize)` and which reaches every worker). For each
// chunk it takes the `gradChunk` of every rank, sums them in rank order in float32 and sends the
// sum back to every rank as one `reducedChunk`. While chunk c's sum is being sent, chunk c + 1 is
// already being received (parameter-server reduction as in Horovod's star fallback).
//
// Summation order: ((g[0] + g[1]) + g[2]) + ... + g[N - 1], whatever order the frames arrive in,
// so a run is reproducible; every worker decodes the same bytes, so all agree bit for bit.
import {
  addChunkInto,
  encodeChunkInto,
  ProtocolError,
  readChunkInto,
  type Bucket,
  type ChunkHeader,
  type ChunkHeaderInit,
  type ChunkMessage,
} from '@gnet/protocol';
import { checkBucketLayout } from './bucket_layout.js';
import { runLoops } from './bucket_all_reduce.js';
import { resolveChunkSettings, type ChunkOptions, type ChunkSettings } from './chunk_settings.js';
import { expectChunk, recvChunk, type ReceiveStats } from './chunk_receiver.js';
import { BadFrameError, CollectiveConfigError, CollectiveUsageError } from './errors.js';
import { chunksIn } from './ring_schedule.js';
import { SendBufferPool } from './send_buffer_pool.js';
import { starHubRank, type Transport, type WaitOptions } from './transport.js';

/** Options of {@link StarHub}. */
export interface StarHubOptions extends ChunkOptions {
  /** Channels to ranks `0 .. worldSize - 1`; its own rank is `starHubRank(worldSize)`. */
  transport: Transport;
  worldSize: number;
  /** The bucket layout sent to the workers in `welcome`. */
  buckets: readonly Bucket[];
}

/**
 * The hub of a star all-reduce. Call `reduceRound(round)` once per round, alongside the workers'
 * `StarAllReduce`; it resolves when every chunk of every bucket has been summed and sent back.
 * Workers may reduce buckets in any order, as long as all use the same one.
 *
 * @example
 * const hub = new StarHub({ transport, worldSize: 4, buckets: welcome.buckets, chunkBytes });
 * await hub.reduceRound(roundStart.round);   // rejects on a lost rank: send `roundAbort`
 */
export class StarHub {
  readonly worldSize: number;
  readonly rank: number;
  readonly stats: ReceiveStats = { staleChunksDropped: 0 };
  readonly settings: ChunkSettings;
  private readonly transport: Transport;
  private readonly buckets: readonly Bucket[];
  private readonly chunksPerBucket: number[];
  private readonly totalChunks: number;
  private readonly pool: SendBufferPool;
  /** Float32 sums of the chunk in progress: `[chunkElements]`. */
  private readonly sums: Float32Array;
  /** Next chunk expected in each bucket during the round in progress. */
  private readonly nextChunk: Int32Array;
  private busy = false;

  constructor(options: StarHubOptions) {
    if (!Number.isInteger(options.worldSize) || options.worldSize < 1) {
      throw new CollectiveConfigError(`StarHub \`worldSize\` must be a positive integer, but got ${options.worldSize}`);
    }
    checkBucketLayout(options.buckets);
    this.settings = resolveChunkSettings(options, 'StarHub');
    this.transport = options.transport;
    this.worldSize = options.worldSize;
    this.rank = starHubRank(options.worldSize);
    this.buckets = options.buckets;
    this.chunksPerBucket = options.buckets.map((b) => chunksIn(b.length, this.settings.chunkElements));
    this.totalChunks = this.chunksPerBucket.reduce((a, b) => a + b, 0);
    this.pool = new SendBufferPool(this.settings.sendBuffers, this.settings.maxFrameBytes);
    this.sums = new Float32Array(this.settings.chunkElements).fill(0);
    this.nextChunk = new Int32Array(options.buckets.length);
  }

  /**
   * Sums one round's gradients: every bucket's chunks from every rank. Rejects with the first
   * failure (`PeerLostError`, `CollectiveTimeoutError`, `BadFrameError` naming the rank that sent
   * a malformed chunk, or `RoundAbortedError` when `signal` aborts); the coordinator then aborts
   * the round on the workers (and evicts the sender of a malformed chunk).
   */
  async reduceRound(round: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.busy) throw new CollectiveUsageError(`StarHub.reduceRound(${round}) called while another round is in progress`);
    this.busy = true;
    try {
      await runLoops(options.signal, (signal) => [this.run(round, signal)]);
    } catch (err) {
      await this.pool.drain().catch(() => undefined);
      this.pool.renew();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async run(round: number, signal: AbortSignal): Promise<void> {
    const { timeoutMs, maxFrameBytes, wireDtype } = this.settings;
    const n = this.worldSize;
    const recvWaits: WaitOptions[] = Array.from({ length: n }, () => ({ timeoutMs, operation: 'star hub recv', round, signal }));
    const sendWait: WaitOptions = { timeoutMs, operation: 'star hub send', round, signal };
    const ranks = Array.from({ length: n }, (_, r) => r);
    const reduced: ChunkHeaderInit = { type: 'reducedChunk', round, bucket: 0, chunk: 0, offset: 0, dtype: wireDtype, rank: this.rank };
    this.nextChunk.fill(0);
    for (let t = 0; t < this.totalChunks; t += 1) {
      const chunks = await Promise.all(ranks.map((r) => recvChunk(this.transport, r, recvWaits[r]!, maxFrameBytes, this.stats)));
      const header = this.checkChunks(chunks, round);
      const sums = this.sums.subarray(0, header.count);
      // Rank order, not arrival order: the sum is the same in every run.
      readChunkInto(chunks[0]!, sums);
      for (let r = 1; r < n; r += 1) addChunkInto(chunks[r]!, sums);
      reduced.bucket = header.bucket;
      reduced.chunk = header.chunk;
      reduced.offset = header.offset;
      const slot = await this.pool.acquire();
      const frame = slot.buf.subarray(0, encodeChunkInto(slot.buf, reduced, sums));
      this.pool.track(slot, Promise.all(ranks.map((r) => this.transport.send(r, frame, sendWait))));
      this.nextChunk[header.bucket]! += 1;
    }
    await this.pool.drain();
  }

  /** The header all ranks' chunks share, after checking it is the next chunk of a bucket. */
  private checkChunks(chunks: readonly ChunkMessage[], round: number): ChunkHeader {
    const first = chunks[0]!;
    const bucket = this.buckets[first.bucket];
    const chunk = bucket === undefined ? -1 : this.nextChunk[first.bucket]!;
    if (bucket === undefined || chunk >= this.chunksPerBucket[first.bucket]!) {
      const what = bucket === undefined ? `${this.buckets.length} buckets` : `bucket ${first.bucket} already complete`;
      const err = new ProtocolError('PROTO_UNEXPECTED', `got gradChunk of bucket ${first.bucket}, but the layout has ${what}`);
      throw new BadFrameError({ peerRank: 0, operation: 'star hub recv', round }, err);
    }
    const offset = chunk * this.settings.chunkElements;
    const expected: ChunkHeader = {
      type: 'gradChunk',
      round,
      bucket: first.bucket,
      chunk,
      offset,
      count: Math.min(this.settings.chunkElements, bucket.length - offset),
      dtype: this.settings.wireDtype,
      rank: 0,
    };
    for (let r = 0; r < chunks.length; r += 1) {
      expected.rank = r;
      expectChunk(chunks[r]!, expected, 'star hub recv');
    }
    expected.rank = 0;
    return expected;
  }
}
