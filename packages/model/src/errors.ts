// Error classes of @gnet/model, grouped by what the caller does next (shared/STYLE.md "Errors"):
// a bad configuration ends the process at start-up; a wrong input shape or a disposed model is a
// bug in the caller and fails fast. Each class carries a stable `code`.

/** Stable codes of the errors this package throws. */
export type ModelErrorCode = 'MODEL_ERR_CONFIG' | 'MODEL_ERR_INPUT' | 'MODEL_ERR_DISPOSED';

/** Base class of every error thrown by @gnet/model. */
export abstract class ModelError extends Error {
  abstract readonly code: ModelErrorCode;
}

/**
 * A `GoogLeNetConfig` field (or the seed) is out of range or unknown. Thrown at construction,
 * before any tensor is allocated.
 */
export class ModelConfigError extends ModelError {
  readonly code = 'MODEL_ERR_CONFIG' as const;
  override readonly name = 'ModelConfigError';
}

/** A tensor passed to the model has the wrong rank, shape or dtype. */
export class ModelInputError extends ModelError {
  readonly code = 'MODEL_ERR_INPUT' as const;
  override readonly name = 'ModelInputError';
}

/** The model (or the model an inference view was taken from) was disposed. */
export class ModelDisposedError extends ModelError {
  readonly code = 'MODEL_ERR_DISPOSED' as const;
  override readonly name = 'ModelDisposedError';
}
