// Where one named tensor sits in a flat float32 vector (weights, gradients, momentum).

export interface ParamSlot {
  name: string;
  shape: number[];
  /** Offset in elements (float32) from the start of the flat vector. */
  offset: number;
  /** Element count. */
  size: number;
}
