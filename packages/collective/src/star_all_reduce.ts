// Star all-reduce, worker side: send the bucket's chunks to the hub (the coordinator) as
// `gradChunk`s and read back the sums as `reducedChunk`s, for networks where workers cannot
// reach each other (parameter-server style, as in Horovod's coordinator-based fallback). Sending
// and receiving run side by side, so the hub sums chunk c while chunk c + 1 is on the wire.
// Every worker reads the same bytes from the hub, so results are bit-identical across ranks;
// the hub's summation order is in star_hub.ts.
import { encodeChunkInto, readChunkInto, type AllReduceAlgorithm, type Bucket, type ChunkHeaderInit } from '@gnet/protocol';
import { checkBucketCall, runLoops, type BucketAllReduce, type BucketContext } from './bucket_all_reduce.js';
import { checkRank, resolveChunkSettings, type ChunkOptions, type ChunkSettings } from './chunk_settings.js';
import { expectChunk, recvChunk, type ReceiveStats } from './chunk_receiver.js';
import { chunksIn } from './ring_schedule.js';
import { SendBufferPool } from './send_buffer_pool.js';
import { starHubRank, type Transport, type WaitOptions } from './transport.js';

/** Options of {@link StarAllReduce}. */
export interface StarAllReduceOptions extends ChunkOptions {
  /** A channel to the hub, whose rank is `starHubRank(worldSize)`. */
  transport: Transport;
  rank: number;
  worldSize: number;
}

/**
 * Star all-reduce, worker side. The hub ({@link StarHub}) must run `reduceRound` for the same
 * rounds with the same bucket layout and chunk settings.
 *
 * @example
 * const star = new StarAllReduce({ transport, rank, worldSize, chunkBytes: 2 << 20 });
 * await star.reduceBucket(flat.subarray(b.offset, b.offset + b.length), b, { round });
 */
export class StarAllReduce implements BucketAllReduce {
  readonly algorithm: AllReduceAlgorithm = 'star';
  readonly rank: number;
  readonly worldSize: number;
  readonly stats: ReceiveStats = { staleChunksDropped: 0 };
  readonly settings: ChunkSettings;
  private readonly transport: Transport;
  private readonly hub: number;
  private readonly pool: SendBufferPool;
  private busy = false;

  constructor(options: StarAllReduceOptions) {
    checkRank(options.rank, options.worldSize, 'StarAllReduce');
    this.settings = resolveChunkSettings(options, 'StarAllReduce');
    this.transport = options.transport;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.hub = starHubRank(options.worldSize);
    this.pool = new SendBufferPool(this.settings.sendBuffers, this.settings.maxFrameBytes);
  }

  async reduceBucket(data: Float32Array, bucket: Bucket, context: BucketContext): Promise<void> {
    checkBucketCall('StarAllReduce', data, bucket, this.busy);
    this.busy = true;
    try {
      await runLoops(context.signal, (signal) => [
        this.sendLoop(data, bucket, context.round, signal),
        this.recvLoop(data, bucket, context.round, signal),
      ]);
    } catch (err) {
      await this.pool.drain().catch(() => undefined);
      this.pool.renew();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async sendLoop(data: Float32Array, bucket: Bucket, round: number, signal: AbortSignal): Promise<void> {
    const { chunkElements, timeoutMs, wireDtype } = this.settings;
    const wait: WaitOptions = { timeoutMs, operation: 'star send', round, signal };
    const header: ChunkHeaderInit = {
      type: 'gradChunk',
      round,
      bucket: bucket.bucket,
      chunk: 0,
      offset: 0,
      dtype: wireDtype,
      rank: this.rank,
    };
    const chunks = chunksIn(data.length, chunkElements);
    for (let c = 0; c < chunks; c += 1) {
      header.chunk = c;
      header.offset = c * chunkElements;
      const slot = await this.pool.acquire();
      const frameBytes = encodeChunkInto(slot.buf, header, data.subarray(header.offset, header.offset + chunkElements));
      this.pool.track(slot, this.transport.send(this.hub, slot.buf.subarray(0, frameBytes), wait));
    }
    await this.pool.drain();
  }

  private async recvLoop(data: Float32Array, bucket: Bucket, round: number, signal: AbortSignal): Promise<void> {
    const { chunkElements, timeoutMs, wireDtype, maxFrameBytes } = this.settings;
    const wait: WaitOptions = { timeoutMs, operation: 'star recv', round, signal };
    const header = {
      type: 'reducedChunk' as const,
      round,
      bucket: bucket.bucket,
      chunk: 0,
      offset: 0,
      count: 0,
      dtype: wireDtype,
      rank: this.hub,
    };
    const chunks = chunksIn(data.length, chunkElements);
    for (let c = 0; c < chunks; c += 1) {
      header.chunk = c;
      header.offset = c * chunkElements;
      header.count = Math.min(chunkElements, data.length - header.offset);
      const chunk = await recvChunk(this.transport, this.hub, wait, maxFrameBytes, this.stats);
      expectChunk(chunk, header, `star recv of bucket ${bucket.bucket}`);
      readChunkInto(chunk, data.subarray(header.offset, header.offset + header.count));
    }
  }
}
