// Ring all-reduce of one gradient bucket directly between workers (Baidu's ring all-reduce, as in
// Horovod and NCCL): a reduce-scatter then an all-gather, each N - 1 steps, so every rank sends
// and receives 2(N - 1)/N of the bucket. Segments are cut into chunks of `chunkBytes` and
// pipelined: a chunk is forwarded as soon as it has been received and added, so sending,
// receiving and adding overlap. The schedule is in ring_schedule.ts.
//
// Summation order (deterministic, documented for reproducibility): segment k is summed along the
// ring starting at the rank at position k, i.e. rank r_k = (N - k) mod N, then r_k - 1, r_k - 2, ...
// (mod N): ((g[r_k] + g[r_k - 1]) + g[r_k - 2]) + ... in float32. The rank that completes it
// then sends that one value around the all-gather, so every rank ends bit-identical. With a
// 16-bit wire dtype the partial sums are rounded to it at every hop, and the owner rounds its own
// final segment exactly as it sends it, so ranks still agree bit for bit.
import {
  encodeChunkInto,
  readChunkInto,
  addChunkInto,
  readFloats,
  CHUNK_HEADER_BYTES,
  ProtocolError,
  type AllReduceAlgorithm,
  type Bucket,
  type ChunkHeaderInit,
} from '@gnet/protocol';
import { abortReason } from './bounded_wait.js';
import { checkBucketCall, runLoops, type BucketAllReduce, type BucketContext } from './bucket_all_reduce.js';
import { checkRank, resolveChunkSettings, type ChunkOptions, type ChunkSettings } from './chunk_settings.js';
import { expectChunk, recvChunk, type ReceiveStats } from './chunk_receiver.js';
import { BadFrameError, CollectiveError, CollectiveUsageError, RoundAbortedError } from './errors.js';
import { chunksIn, ringNeighbours, ringPosition, ringRecvSegment, ringSendSegment, ringSteps, segmentStart } from './ring_schedule.js';
import { SendBufferPool } from './send_buffer_pool.js';
import type { Transport, WaitOptions } from './transport.js';

/** Options of {@link RingAllReduce}. */
export interface RingAllReduceOptions extends ChunkOptions {
  /** Channels to the ring neighbours `rank - 1` and `rank + 1` (mod worldSize). */
  transport: Transport;
  rank: number;
  worldSize: number;
  /**
   * Close the transport when a bucket fails (lost peer, timeout, bad frame), default true. The
   * group is over then (the coordinator re-forms it with a new generation and new connections),
   * and closing makes both neighbours fail at once with `PeerLostError`, so the failure travels
   * around the ring in milliseconds instead of every rank waiting out its timeout.
   */
  closeOnFailure?: boolean;
}

/** Close code sent to the neighbours when a failed round closes the ring: 1001 "going away". */
const CLOSE_GOING_AWAY = 1001;

/**
 * Ring all-reduce over a {@link Transport}: sums a bucket across ranks in place.
 *
 * @example
 * const ring = new RingAllReduce({ transport, rank, worldSize, chunkBytes: 2 << 20 });
 * await ring.reduceBucket(flat.subarray(b.offset, b.offset + b.length), b, { round });
 */
export class RingAllReduce implements BucketAllReduce {
  readonly algorithm: AllReduceAlgorithm = 'ring';
  readonly rank: number;
  readonly worldSize: number;
  readonly stats: ReceiveStats = { staleChunksDropped: 0 };
  readonly settings: ChunkSettings;
  private readonly transport: Transport;
  private readonly closeOnFailure: boolean;
  private readonly position: number;
  private readonly next: number;
  private readonly prev: number;
  private readonly pool: SendBufferPool;
  /** Chunks received so far at each step of the bucket in progress. */
  private readonly received: Int32Array;
  /** The send loop, waiting for a chunk it must forward. */
  private waiter: { step: number; count: number; resolve: () => void } | null = null;
  private busy = false;

  constructor(options: RingAllReduceOptions) {
    checkRank(options.rank, options.worldSize, 'RingAllReduce');
    this.settings = resolveChunkSettings(options, 'RingAllReduce');
    this.transport = options.transport;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.closeOnFailure = options.closeOnFailure ?? true;
    this.position = ringPosition(this.rank, this.worldSize);
    ({ next: this.next, prev: this.prev } = ringNeighbours(this.rank, this.worldSize));
    this.pool = new SendBufferPool(this.settings.sendBuffers, this.worldSize > 1 ? this.settings.maxFrameBytes : 0);
    this.received = new Int32Array(ringSteps(this.worldSize));
  }

  async reduceBucket(data: Float32Array, bucket: Bucket, context: BucketContext): Promise<void> {
    checkBucketCall('RingAllReduce', data, bucket, this.busy);
    if (this.worldSize === 1) return;
    this.busy = true;
    this.received.fill(0);
    this.waiter = null;
    try {
      await runLoops(context.signal, (signal) => [
        this.sendLoop(data, bucket, context.round, signal),
        this.recvLoop(data, bucket, context.round, signal),
      ]);
    } catch (err) {
      await this.pool.drain().catch(() => undefined);
      this.pool.renew();
      if (this.closeOnFailure && !(err instanceof RoundAbortedError) && !(err instanceof CollectiveUsageError)) {
        // A malformed frame closes with its protocol code, so its sender learns what it did.
        const protocolError = err instanceof BadFrameError ? err.protocolError : err instanceof ProtocolError ? err : null;
        const code = protocolError?.closeCode ?? CLOSE_GOING_AWAY;
        const reason = protocolError?.code ?? (err instanceof CollectiveError ? err.code : 'failed');
        // Not awaited: the close frames are on their way, and our caller reports the failure at
        // once, ahead of the neighbours that learn of it from the close. The coordinator then
        // hears who saw a bad frame before it hears of the ring breaking around it.
        void this.transport.close(code, reason).catch(() => undefined);
      }
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async recvLoop(data: Float32Array, bucket: Bucket, round: number, signal: AbortSignal): Promise<void> {
    const { worldSize: n, position, settings } = this;
    const steps = ringSteps(n);
    const length = data.length;
    const wait: WaitOptions = { timeoutMs: settings.timeoutMs, operation: '', round, signal };
    const header = {
      type: 'gradChunk' as 'gradChunk' | 'reducedChunk',
      round,
      bucket: bucket.bucket,
      chunk: 0,
      offset: 0,
      count: 0,
      dtype: settings.wireDtype,
      rank: this.prev,
    };
    for (let step = 0; step < steps; step += 1) {
      const reducing = step < n - 1;
      const operation = reducing ? 'ring reduce-scatter recv' : 'ring all-gather recv';
      wait.operation = operation;
      header.type = reducing ? 'gradChunk' : 'reducedChunk';
      const segment = ringRecvSegment(position, step, n);
      const start = segmentStart(length, n, segment);
      const end = segmentStart(length, n, segment + 1);
      const chunks = chunksIn(end - start, settings.chunkElements);
      for (let c = 0; c < chunks; c += 1) {
        header.offset = start + c * settings.chunkElements;
        header.count = Math.min(settings.chunkElements, end - header.offset);
        const chunk = await recvChunk(this.transport, this.prev, wait, settings.maxFrameBytes, this.stats);
        expectChunk(chunk, header, `${operation} of bucket ${bucket.bucket}`);
        const target = data.subarray(header.offset, header.offset + header.count);
        if (reducing) addChunkInto(chunk, target);
        else readChunkInto(chunk, target);
        header.chunk += 1;
        this.received[step] = c + 1;
        this.wakeSender();
      }
    }
  }

  private async sendLoop(data: Float32Array, bucket: Bucket, round: number, signal: AbortSignal): Promise<void> {
    const { worldSize: n, position, settings } = this;
    const steps = ringSteps(n);
    const length = data.length;
    const rounding = settings.wireDtype !== 'float32';
    const header: ChunkHeaderInit = {
      type: 'gradChunk',
      round,
      bucket: bucket.bucket,
      chunk: 0,
      offset: 0,
      dtype: settings.wireDtype,
      rank: this.rank,
    };
    for (let step = 0; step < steps; step += 1) {
      const reducing = step < n - 1;
      header.type = reducing ? 'gradChunk' : 'reducedChunk';
      // A fresh object per step: a pending send's timeout reads its operation later.
      const wait: WaitOptions = {
        timeoutMs: settings.timeoutMs,
        operation: reducing ? 'ring reduce-scatter send' : 'ring all-gather send',
        round,
        signal,
      };
      const segment = ringSendSegment(position, step, n);
      const start = segmentStart(length, n, segment);
      const end = segmentStart(length, n, segment + 1);
      const chunks = chunksIn(end - start, settings.chunkElements);
      for (let c = 0; c < chunks; c += 1) {
        // The segment sent at step s was received (and summed) at step s - 1: forward each chunk
        // as soon as it is there.
        if (step > 0 && this.received[step - 1]! <= c) await this.waitReceived(step - 1, c + 1, round, signal);
        const offset = start + c * settings.chunkElements;
        const values = data.subarray(offset, Math.min(end, offset + settings.chunkElements));
        header.offset = offset;
        const slot = await this.pool.acquire();
        const frameBytes = encodeChunkInto(slot.buf, header, values);
        // The owner of a finished segment keeps exactly what it sends, rounded to the wire dtype,
        // so all ranks agree bit for bit.
        if (rounding && step === n - 1) readFloats(slot.buf.subarray(CHUNK_HEADER_BYTES, frameBytes), settings.wireDtype, values);
        this.pool.track(slot, this.transport.send(this.next, slot.buf.subarray(0, frameBytes), wait));
        header.chunk += 1;
      }
    }
    await this.pool.drain();
  }

  /** Resolves once `count` chunks of `step` have been received; rejects when the bucket fails. */
  private waitReceived(step: number, count: number, round: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = null;
        reject(new RoundAbortedError(round, abortReason(signal)));
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        step,
        count,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
    });
  }

  private wakeSender(): void {
    const waiter = this.waiter;
    if (waiter !== null && this.received[waiter.step]! >= waiter.count) {
      this.waiter = null;
      waiter.resolve();
    }
  }
}
