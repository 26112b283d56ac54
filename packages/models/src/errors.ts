import { ArgumentError, IndexOutOfRangeError, KernelError, ShapeError } from '@duality/kernels';

/**
 * A safetensors file that cannot be trusted: truncated, header length or JSON invalid, an entry with a bad
 * dtype/shape/offsets, offsets pointing outside the data section or overlapping.
 */
export class SafetensorsFormatError extends KernelError {
  override name = 'SafetensorsFormatError';
}

/** A checkpoint file that cannot be opened, read or written (missing, a directory, no permission…). */
export class CheckpointFileError extends KernelError {
  override name = 'CheckpointFileError';
}

/** A tensor dtype the reader or writer does not convert (e.g. I64 weights asked for as floats). */
export class UnsupportedDTypeError extends KernelError {
  override name = 'UnsupportedDTypeError';
}

/** A checkpoint lacks a tensor the model needs. */
export class MissingTensorError extends KernelError {
  override name = 'MissingTensorError';
}

/** A checkpoint tensor has a shape other than the model config implies. */
export class TensorShapeMismatchError extends ShapeError {
  override name = 'TensorShapeMismatchError';
}

/** A model config that is incomplete or inconsistent (hidden size not divisible by heads, …). */
export class ModelConfigError extends ArgumentError {
  override name = 'ModelConfigError';
}

/** A token id outside [0, vocab). */
export class TokenOutOfVocabularyError extends IndexOutOfRangeError {
  override name = 'TokenOutOfVocabularyError';
}

/** An input sequence longer than the model's context length. */
export class SequenceTooLongError extends ShapeError {
  override name = 'SequenceTooLongError';
}

/** Text a character tokenizer cannot encode (a character outside its alphabet). */
export class UnknownCharacterError extends ArgumentError {
  override name = 'UnknownCharacterError';
}
