// Errors of the model tools (evaluate, predict, export), grouped by what the user does next
// (shared/STYLE.md "Errors"): a checkpoint that does not describe a model, an image that cannot be
// used, an export that does not reproduce its source. Flag errors are train_config's ConfigError;
// a missing or corrupt checkpoint file is @gnet/run-store's CheckpointError.

/** Stable codes of {@link ToolError}. */
export type ToolErrorCode = 'TOOL_CHECKPOINT_MODEL' | 'TOOL_IMAGE_UNREADABLE' | 'TOOL_IMAGE_UNSUPPORTED' | 'TOOL_EXPORT_MISMATCH';

/** Base class of the tools' own errors; each main prints `name [code]: message` and exits 1. */
export abstract class ToolError extends Error {
  abstract readonly code: ToolErrorCode;
}

/** The checkpoint's meta holds no usable GoogLeNet config (or weights that do not fit it). */
export class CheckpointModelError extends ToolError {
  readonly code = 'TOOL_CHECKPOINT_MODEL' as const;
  override readonly name = 'CheckpointModelError';
}

/** An image file could not be read or decoded, or is not an image of a format we decode. */
export class ImageInputError extends ToolError {
  override readonly name = 'ImageInputError';
  constructor(
    readonly code: 'TOOL_IMAGE_UNREADABLE' | 'TOOL_IMAGE_UNSUPPORTED',
    /** The file, as given on the command line. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The exported Layers model does not give the source model's logits on the check images. */
export class ExportMismatchError extends ToolError {
  readonly code = 'TOOL_EXPORT_MISMATCH' as const;
  override readonly name = 'ExportMismatchError';
}
