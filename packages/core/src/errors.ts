/**
 * tt's one error hierarchy. It is defined in `@tt/mips` (the leaf package) and re-exported here,
 * so `instanceof TtError` holds for every error any `@tt/*` package throws.
 */
export {
  TtError,
  ShapeError,
  ValueError,
  OutOfRangeError,
  EmptyError,
  DuplicateIdError,
  UnknownIdError,
  ConfigError,
  StateError,
  CorruptFileError,
  MismatchError,
  FileSystemError,
  NumericError,
  type FileOperation,
  type TtErrorCode,
  type TtErrorOptions,
} from '@tt/mips';
