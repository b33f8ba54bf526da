/**
 * Validation and conversion of vector inputs at the public boundary.
 * Everything inside the package works on row-major Float32Array matrices.
 */
import { ShapeError, ValueError } from '../errors.js';

/**
 * Vectors as accepted by the public API: a flat row-major typed array (`rows * dim` values)
 * or one array per row.
 */
export type VectorsInput = Float32Array | Float64Array | ReadonlyArray<ArrayLike<number>>;

/**
 * Returns `input` as a row-major Float32Array of `rows x dim` (the input itself when it already
 * is one: callers copy what they keep), checking the shape and that every value is finite.
 * `expectedRows` (when given) must match.
 */
export function toMatrix(
  input: VectorsInput,
  dim: number,
  field: string,
  context: string,
  expectedRows?: number,
): {
  /** the vectors, row-major `[rows, dim]` */
  data: Float32Array;
  /** how many vectors */
  rows: number;
} {
  let data: Float32Array;
  let rows: number;
  if (input instanceof Float32Array || input instanceof Float64Array) {
    if (input.length % dim !== 0) {
      throw new ShapeError(field, `a flat array of rows x ${dim} values`, `${input.length} values`, context);
    }
    rows = input.length / dim;
    data = input instanceof Float32Array ? input : Float32Array.from(input);
  } else if (Array.isArray(input)) {
    rows = input.length;
    data = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      const row = input[r] as ArrayLike<number>;
      if (row == null || typeof row.length !== 'number' || row.length !== dim) {
        throw new ShapeError(`${field}[${r}]`, `a vector of ${dim} numbers`, describe(row), context);
      }
      for (let d = 0; d < dim; d++) data[r * dim + d] = row[d] as number;
    }
  } else {
    throw new ShapeError(field, `a Float32Array or an array of ${dim}-vectors`, describe(input), context);
  }
  if (expectedRows !== undefined && rows !== expectedRows) {
    throw new ShapeError(field, `${expectedRows} vectors (one per id)`, `${rows}`, context);
  }
  assertFinite(data, dim, field, context);
  return { data, rows };
}

/** Throws a ValueError naming the first non-finite entry (row and column). */
export function assertFinite(data: Float32Array, dim: number, field: string, context: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    // x - x is NaN for NaN and +-Infinity, 0 otherwise: one test for both
    if (x - x !== 0) {
      throw new ValueError(
        field,
        `${context}: vector ${Math.floor(i / dim)} has ${x} at dimension ${i % dim}; all values must be finite`,
      );
    }
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (ArrayBuffer.isView(x)) return `${x.constructor.name} of length ${(x as Float32Array).length}`;
  return typeof x;
}
