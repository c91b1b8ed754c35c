// Element types that cross the wire and their sizes, after tfjs's `DataType` / `bytesPerElement`.
import { z } from 'zod';

/** Element types a gradient chunk may travel in: fp32, or halved to fp16 / bfloat16 to save bandwidth. */
export const WireDtypeSchema = z.enum(['float32', 'float16', 'bfloat16']);
/** Element type of a gradient chunk on the wire. */
export type WireDtype = z.infer<typeof WireDtypeSchema>;

/** Element types a whole tensor may travel in (weights, BatchNorm statistics, momentum). */
export const TensorDtypeSchema = z.enum(['float32', 'float16', 'bfloat16', 'int32']);
/** Element type of a tensor on the wire. */
export type TensorDtype = z.infer<typeof TensorDtypeSchema>;

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: Readonly<Record<TensorDtype, number>> = Object.freeze({
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int32: 4,
});

/**
 * True when this machine stores numbers little-endian. Every machine we target does; on a
 * big-endian one the codec never views wire bytes as typed arrays and goes through DataView.
 */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Raw bytes (MessagePack `bin`): any Uint8Array, including a Node Buffer or a view into a
 * received frame over any ArrayBuffer (`z.instanceof(Uint8Array)` would narrow the buffer type).
 */
export const BytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'Invalid input: expected binary');
