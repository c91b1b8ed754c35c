// Reuses the memory of disposed kernel outputs for the next outputs of a similar length.
//
// Why: a tensor's Float32Array is freed only when V8 collects it, and a training step's
// activations live long enough (forward to backward) to be promoted to V8's old generation, which
// is collected rarely. Every kernel output was then fresh, cold memory, and the memory-bound
// kernels (ReLU, BatchNorm, element-wise) ran several times slower than on the same data in cache
// (bench/step_profile.bench.ts with GNET_ONEDNN_POOL_MB=0 shows it). PyTorch frees by reference
// count and its allocator hands the warm block straight back; this does the same at tfjs's
// `disposeData`.
//
// Safety: a buffer is only reused if nothing else can still see it. The pool only recycles arrays
// it handed out itself, registered exactly once with the backend (`write`); any second
// registration or a view of it (tfjs-backend-cpu's Slice returns `subarray` views for contiguous
// slices) marks the buffer shared, never to be recycled. Reads from outside the kernels (`dataSync`,
// `data`) get a copy of a recyclable buffer, so user code never holds one.

/** Below this many elements pooling is not worth its bookkeeping: plain arrays, left to the GC. */
const POOLED_MIN = 16 * 1024;

/**
 * The capacity a request of `length` floats is served from: lengths round up to one of four
 * classes per power of two (at most 25% unused), so tensors of nearby sizes share buffers, as
 * PyTorch's caching allocator rounds its blocks. With exact lengths a GoogLeNet step never reused a
 * buffer across its ~100 distinct activation sizes: 481 buffers and 13 GB RSS at width 1, batch 128.
 * Exported for tests.
 */
export function sizeClass(length: number): number {
  if (length <= POOLED_MIN) return length;
  const octave = 2 ** Math.floor(Math.log2(length));
  const step = octave / 4;
  return Math.ceil(length / step) * step;
}

/** Owner state of a recyclable buffer. */
interface Owned {
  readonly array: Float32Array;
  /** Whether the backend has stored it as a tensor's values (allowed exactly once). */
  registered: boolean;
}

export class BufferPool {
  /** Free buffers by capacity in floats (a size class). */
  private readonly free = new Map<number, ArrayBufferLike[]>();
  private readonly owned = new WeakMap<ArrayBufferLike, Owned>();
  private pooledBytes = 0;
  /** Counters for tests and benches. */
  readonly stats = { reused: 0, allocated: 0, returned: 0, dropped: 0, shared: 0 };

  /** @param capacityBytes most bytes kept for reuse; beyond it disposed buffers go to the GC. */
  constructor(readonly capacityBytes: number) {}

  /** An uninitialised array of `length` floats for a kernel that writes all of them. */
  take(length: number): Float32Array {
    if (length < POOLED_MIN) return new Float32Array(length);
    const capacity = sizeClass(length);
    const reused = this.free.get(capacity)?.pop();
    let buffer: ArrayBufferLike;
    if (reused !== undefined) {
      this.pooledBytes -= reused.byteLength;
      this.stats.reused++;
      buffer = reused;
    } else {
      // Uninitialised: `new Float32Array(n)` zero-fills, ~15 ms for 25 MB here.
      buffer = Buffer.allocUnsafeSlow(capacity * Float32Array.BYTES_PER_ELEMENT).buffer;
      this.stats.allocated++;
    }
    const array = new Float32Array(buffer, 0, length);
    this.owned.set(buffer, { array, registered: false });
    return array;
  }

  /** Called for every array the backend stores as a tensor's values. */
  noteStored(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const owner = this.owned.get(values.buffer);
    if (owner === undefined) return;
    if (values === owner.array && !owner.registered) {
      owner.registered = true;
      return;
    }
    this.owned.delete(values.buffer); // a second owner or a view: never reuse
    this.stats.shared++;
  }

  /** Whether `values` is a buffer the pool may still recycle (then external reads must copy). */
  isRecyclable(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.owned.get(values.buffer)?.array === values;
  }

  /** Called when the backend deleted the tensor whose values were `values`. */
  release(values: unknown): void {
    if (!this.isRecyclable(values)) return;
    const buffer = values.buffer;
    this.owned.delete(buffer);
    if (this.pooledBytes + buffer.byteLength > this.capacityBytes) {
      this.stats.dropped++;
      return;
    }
    const capacity = buffer.byteLength / Float32Array.BYTES_PER_ELEMENT;
    let list = this.free.get(capacity);
    if (list === undefined) this.free.set(capacity, (list = []));
    list.push(buffer);
    this.pooledBytes += buffer.byteLength;
    this.stats.returned++;
  }

  /** Bytes held for reuse now. */
  get heldBytes(): number {
    return this.pooledBytes;
  }

  /** Drops every pooled buffer (to the GC). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}
