// A few preallocated chunk-frame buffers used in turn, each reused only after the transport
// released it (ws keeps an unmasked payload by reference until the socket flushed it). Keeps
// the hot path free of allocation and bounds the bytes in flight per sender, which is the
// backpressure (after NCCL's fixed set of slots per channel).
import { CollectiveConfigError } from './errors.js';

/** One buffer of the pool. */
export interface SendSlot {
  /** The buffer; write a frame into it, send a prefix of it, then `pool.track(slot, sent)`. */
  buf: Uint8Array;
  /** @internal The send still using it, settled to undefined (errors go to the pool). */
  pending: Promise<void> | null;
  /** @internal False from `track` until that send succeeded: the transport may still hold `buf`. */
  released: boolean;
}

/** `count` buffers of `byteLength` bytes, handed out round-robin. */
export class SendBufferPool {
  private readonly slots: SendSlot[];
  private next = 0;
  private error: unknown = null;

  constructor(count: number, byteLength: number) {
    if (!Number.isInteger(count) || count < 1) {
      throw new CollectiveConfigError(`SendBufferPool \`count\` must be a positive integer, but got ${count}`);
    }
    if (!Number.isInteger(byteLength) || byteLength < 0) {
      throw new CollectiveConfigError(`SendBufferPool \`byteLength\` must be a non-negative integer, but got ${byteLength}`);
    }
    this.slots = Array.from({ length: count }, () => ({ buf: freshBuffer(byteLength), pending: null, released: true }));
  }

  /** Bytes of each buffer. */
  get byteLength(): number {
    return this.slots[0]!.buf.byteLength;
  }

  /**
   * The next buffer, once the send that last used it has finished. Rejects with the first error
   * of any tracked send (the round has failed then).
   */
  async acquire(): Promise<SendSlot> {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.slots.length;
    if (slot.pending !== null) await slot.pending;
    slot.pending = null;
    if (this.error !== null) throw this.error;
    return slot;
  }

  /** Records the send(s) using `slot`; the slot is handed out again once `sent` settles. */
  track(slot: SendSlot, sent: Promise<unknown>): void {
    slot.released = false;
    slot.pending = sent.then(
      () => {
        slot.released = true;
      },
      (err: unknown) => {
        if (this.error === null) this.error = err;
      },
    );
  }

  /** Waits until every tracked send has settled; rejects with the first error among them. */
  async drain(): Promise<void> {
    for (const slot of this.slots) {
      if (slot.pending !== null) await slot.pending;
      slot.pending = null;
    }
    this.takeError();
  }

  /**
   * After a failed round: gives every buffer whose send did not succeed (it timed out or was
   * aborted, so the transport may still hold and later read it) a fresh replacement, and forgets
   * the error. Call after {@link drain}. Allocates only on this failure path.
   */
  renew(): void {
    for (const slot of this.slots) {
      if (!slot.released) slot.buf = freshBuffer(slot.buf.byteLength);
      slot.released = true;
      slot.pending = null;
    }
    this.error = null;
  }

  /** Forgets a recorded error (the next round starts with a clean pool), throwing it if there was one. */
  private takeError(): void {
    const err = this.error;
    this.error = null;
    if (err !== null) throw err;
  }
}

/**
 * A zeroed buffer whose pages are already touched: a first touch costs ~14 µs per 4 KiB page on
 * our machines (~3.5 ms per MiB), which must not land inside a round.
 */
function freshBuffer(byteLength: number): Uint8Array {
  return new Uint8Array(byteLength).fill(0);
}
