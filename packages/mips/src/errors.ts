/**
 * The error hierarchy shared by every `@tt/*` package.
 *
 * It lives in `@tt/mips` because this is the leaf package: `@tt/core` re-exports these classes
 * and adds none of its own base, so `instanceof TtError` holds for every error tt throws.
 * Match on the class or on `code`, never on the message text.
 */

/** Machine-readable error codes. */
export type TtErrorCode =
  | 'E_SHAPE'
  | 'E_VALUE'
  | 'E_RANGE'
  | 'E_EMPTY'
  | 'E_DUPLICATE_ID'
  | 'E_UNKNOWN_ID'
  | 'E_CONFIG'
  | 'E_STATE'
  | 'E_CORRUPT'
  | 'E_MISMATCH'
  | 'E_FILE'
  | 'E_NUMERIC';

/** Options common to every tt error. */
export interface TtErrorOptions {
  /** The argument, column or file the error is about (e.g. `queries`, `label_click`). */
  readonly field?: string;
  /** the underlying error, kept as the standard `Error.cause` */
  readonly cause?: unknown;
}

/** Base class of every error tt throws on bad input or state. */
export class TtError extends Error {
  /** machine-readable kind of the error; match on this, not on the message */
  readonly code: TtErrorCode;
  /** the argument, column or file the error is about, when there is one */
  readonly field: string | undefined;

  constructor(code: TtErrorCode, message: string, options: TtErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options.field;
  }
}

/** A tensor or matrix argument has the wrong shape. */
export class ShapeError extends TtError {
  /** the shape that was required, as text (e.g. `[n, 64]`) */
  readonly expected: string;
  /** the shape that was given, as text */
  readonly actual: string;
  constructor(field: string, expected: string, actual: string, context = '') {
    super('E_SHAPE', `${context ? `${context}: ` : ''}${field} must be ${expected}, got ${actual}`, {
      field,
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** A value is not allowed: NaN/Infinity, a wrong type, a label outside its range. */
export class ValueError extends TtError {
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super('E_VALUE', `${field}: ${message}`, { field, ...options });
  }
}

/** A number is outside its allowed range: k above the corpus size, an id beyond a table. */
export class OutOfRangeError extends TtError {
  constructor(field: string, message: string) {
    super('E_RANGE', `${field}: ${message}`, { field });
  }
}

/** An operation needs at least one element: an empty index, an empty batch. */
export class EmptyError extends TtError {
  constructor(field: string, message: string) {
    super('E_EMPTY', `${field}: ${message}`, { field });
  }
}

/** An id that must be new is already present. */
export class DuplicateIdError extends TtError {
  /** the id that was already present */
  readonly id: string | number;
  constructor(field: string, id: string | number) {
    super('E_DUPLICATE_ID', `${field}: id ${JSON.stringify(id)} is already present`, { field });
    this.id = id;
  }
}

/** An id that must be present is not. */
export class UnknownIdError extends TtError {
  /** the id that was not found */
  readonly id: string | number;
  constructor(field: string, id: string | number) {
    super('E_UNKNOWN_ID', `${field}: id ${JSON.stringify(id)} is not in the index`, { field });
    this.id = id;
  }
}

/** A hyper-parameter or option is invalid. */
export class ConfigError extends TtError {
  constructor(field: string, message: string) {
    super('E_CONFIG', `${field}: ${message}`, { field });
  }
}

/** An object is used in a state that does not allow it (e.g. after `dispose()`). */
export class StateError extends TtError {
  constructor(message: string) {
    super('E_STATE', message);
  }
}

/** A file is unreadable, truncated, or fails its checksum. */
export class CorruptFileError extends TtError {
  /** the file that could not be read */
  readonly path: string;
  constructor(path: string, message: string, options: { cause?: unknown } = {}) {
    super('E_CORRUPT', `${path}: ${message}`, { field: path, ...options });
    this.path = path;
  }
}

/** A file is well-formed but does not match what the caller expects (dimension, kind, version). */
export class MismatchError extends TtError {
  constructor(field: string, expected: string, actual: string) {
    super('E_MISMATCH', `${field}: expected ${expected}, found ${actual}`, { field });
  }
}

/** What a {@link FileSystemError} was doing: reading an input, or writing an output. */
export type FileOperation = 'read' | 'write';

/**
 * The file system refused an operation on a path: a missing input, a directory where a file is
 * expected (or the reverse), no permission, a full disk.
 */
export class FileSystemError extends TtError {
  /** the file or directory the operation was on */
  readonly path: string;
  /** reading an input or writing an output */
  readonly operation: FileOperation;
  /** the system's error code, e.g. `ENOENT`, `EACCES`, `ENOTDIR`, `ENOSPC` (undefined when tt refused on its own) */
  readonly systemCode: string | undefined;
  constructor(path: string, operation: FileOperation, message: string, options: { systemCode?: string; cause?: unknown } = {}) {
    super('E_FILE', `${path}: ${message}`, { field: path, cause: options.cause });
    this.path = path;
    this.operation = operation;
    this.systemCode = options.systemCode;
  }

  /**
   * A Node file-system error (`err.code` such as `ENOENT`) as a FileSystemError on `path`;
   * anything else is returned unchanged (a tt error stays what it is).
   */
  static from(e: unknown, path: string, operation: FileOperation): unknown {
    if (e instanceof TtError) return e;
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return e;
    const what = SYSTEM_CODES[code] ?? (e as Error).message;
    return new FileSystemError(path, operation, `cannot ${operation === 'read' ? 'read' : 'write'} (${code}: ${what})`, { systemCode: code, cause: e });
  }
}

const SYSTEM_CODES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  ENOTEMPTY: 'directory not empty',
  EBUSY: 'busy or in use',
  EMFILE: 'too many open files',
};

/** A computation produced NaN or Infinity where a finite number is needed (e.g. training diverged). */
export class NumericError extends TtError {
  constructor(field: string, message: string) {
    super('E_NUMERIC', `${field}: ${message}`, { field });
  }
}
