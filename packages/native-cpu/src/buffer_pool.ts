// Reuses the memory of disposed kernel outputs for the next outputs of the same length.
//
// Why: a tensor's Float32Array is freed only when V8 collects it, and a training step's
// activations live long enough (forward to backward) to be promoted to V8's old generation, which
// is collected rarely. Every kernel output was then fresh, cold memory: RSS grew to 3.7 GB at batch
// 32 and memory-bound kernels (ReLU, BatchNorm, element-wise) ran ~8x slower than on the same data
// in cache. PyTorch frees by reference count and its allocator hands the warm block straight back;
// this does the same at tfjs's `disposeData`.
//
// Safety: a buffer is only reused if nothing else can still see it. The pool only recycles arrays
// it handed out itself, registered exactly once with the backend (`write`); any second
// registration or a view of it (tfjs-backend-cpu's Slice returns `subarray` views for contiguous
// slices) marks the buffer shared, never to be recycled. Reads from outside the kernels (`dataSync`,
// `data`) get a copy of a recyclable buffer, so user code never holds one.

/** Below this many elements pooling is not worth its bookkeeping: plain arrays, left to the GC. */
const POOLED_MIN = 16 * 1024;

/** Owner state of a recyclable buffer. */
interface Owned {
  readonly array: Float32Array;
  /** Whether the backend has stored it as a tensor's values (allowed exactly once). */
  registered: boolean;
}

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owned = new WeakMap<ArrayBufferLike, Owned>();
  private pooledBytes = 0;
  /** Counters for tests and benches. */
  readonly stats = { reused: 0, allocated: 0, returned: 0, dropped: 0, shared: 0 };

  /** @param capacityBytes most bytes kept for reuse; beyond it disposed buffers go to the GC. */
  constructor(readonly capacityBytes: number) {}

  /** An uninitialised array of `length` floats for a kernel that writes all of them. */
  take(length: number): Float32Array {
    if (length < POOLED_MIN) return new Float32Array(length);
    const list = this.free.get(length);
    const reused = list?.pop();
    let array: Float32Array;
    if (reused !== undefined) {
      this.pooledBytes -= reused.byteLength;
      this.stats.reused++;
      array = reused;
    } else {
      // Uninitialised: `new Float32Array(n)` zero-fills, ~15 ms for 25 MB here.
      array = new Float32Array(Buffer.allocUnsafeSlow(length * Float32Array.BYTES_PER_ELEMENT).buffer, 0, length);
      this.stats.allocated++;
    }
    this.owned.set(array.buffer, { array, registered: false });
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
    this.owned.delete(values.buffer);
    if (this.pooledBytes + values.byteLength > this.capacityBytes) {
      this.stats.dropped++;
      return;
    }
    let list = this.free.get(values.length);
    if (list === undefined) this.free.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
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
