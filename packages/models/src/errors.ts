import { ArgumentError, IndexOutOfRangeError, KernelError, ShapeError } from '@duality/kernels';

/**
 * A safetensors file that cannot be trusted: truncated, header length or JSON invalid, an entry with a bad
 * dtype/shape/offsets, offsets pointing outside the data section or overlapping.
 */
export class SafetensorsFormatError extends KernelError {}

/** A tensor dtype the reader or writer does not convert (e.g. I64 weights asked for as floats). */
export class UnsupportedDTypeError extends KernelError {}

/** A checkpoint lacks a tensor the model needs. */
export class MissingTensorError extends KernelError {}

/** A checkpoint tensor has a shape other than the model config implies. */
export class TensorShapeMismatchError extends ShapeError {}

/** A model config that is incomplete or inconsistent (hidden size not divisible by heads, …). */
export class ModelConfigError extends ArgumentError {}

/** A token id outside [0, vocab). */
export class TokenOutOfVocabularyError extends IndexOutOfRangeError {}

/** An input sequence longer than the model's context length. */
export class SequenceTooLongError extends ShapeError {}

/** Text a character tokenizer cannot encode (a character outside its alphabet). */
export class UnknownCharacterError extends ArgumentError {}
