/**
 * Batch validation at the boundary: every batch the trainer takes is checked against the schema
 * in one pass, so bad input fails here with the field and the expected value named, not as a
 * crash deep in tfjs or as silently wrong numbers.
 */
import { EmptyError, OutOfRangeError, ShapeError, ValueError } from '../errors.js';
import type { Batch, DatasetSchema } from './types.js';

function length(field: string, arr: ArrayLike<number> | undefined, expected: number, what: string): void {
  const n = arr?.length;
  if (n !== expected) throw new ShapeError(field, `${what} = ${expected} values`, n === undefined ? 'none' : `${n}`);
}

function ids(field: string, arr: Int32Array, size: number, label: string, width = 1): void {
  const lo = width > 1 ? -1 : 0; // -1 pads histories
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (v < lo || v >= size) {
      throw new OutOfRangeError(field, `${label} ${v} at row ${Math.floor(i / width)} is outside [${lo}, ${size})`);
    }
  }
}

function finite(field: string, arr: Float32Array, width: number): void {
  for (let i = 0; i < arr.length; i++) {
    if (!Number.isFinite(arr[i]!)) throw new ValueError(field, `${arr[i]} at row ${Math.floor(i / Math.max(width, 1))}, column ${i % Math.max(width, 1)}; values must be finite`);
  }
}

/**
 * Checks `batch` against `schema`.
 * @throws EmptyError (no rows), ShapeError (a column of the wrong length), OutOfRangeError (an
 *   index outside its vocabulary, a label or position outside its range), ValueError (NaN/Infinity)
 */
export function validateBatch(batch: Batch, schema: DatasetSchema): void {
  const B = batch.size;
  if (!Number.isInteger(B) || B < 1) throw new EmptyError('batch', `needs at least one row, got size ${B}`);
  const T = schema.tasks.length;
  if (!(batch.user instanceof Int32Array)) throw new ValueError('batch.user', 'must be an Int32Array of user indices');
  if (!(batch.item instanceof Int32Array)) throw new ValueError('batch.item', 'must be an Int32Array of item indices');
  length('batch.user', batch.user, B, '[B]');
  length('batch.item', batch.item, B, '[B]');
  length('batch.userFeatures', batch.userFeatures, B * schema.userFeatureDim, `[B * IU] = ${B} * ${schema.userFeatureDim}`);
  length('batch.itemFeatures', batch.itemFeatures, B * schema.itemFeatureDim, `[B * II] = ${B} * ${schema.itemFeatureDim}`);
  length('batch.labels', batch.labels, B * T, `[B * T] = ${B} * ${T}`);
  ids('batch.user', batch.user, schema.numUsers, 'user index');
  ids('batch.item', batch.item, schema.numItems, 'item index');
  finite('batch.userFeatures', batch.userFeatures, schema.userFeatureDim);
  finite('batch.itemFeatures', batch.itemFeatures, schema.itemFeatureDim);
  for (let i = 0; i < B * T; i++) {
    const v = batch.labels[i]!;
    const t = i % T;
    if (!Number.isFinite(v)) throw new ValueError(`batch.labels[${schema.tasks[t]}]`, `${v} at row ${Math.floor(i / T)}; labels must be finite`);
    if (v < 0 || v > schema.labelMax[t]!) {
      throw new OutOfRangeError(`batch.labels[${schema.tasks[t]}]`, `${v} at row ${Math.floor(i / T)} is outside [0, ${schema.labelMax[t]}]`);
    }
  }
  if (schema.numPositions > 0) {
    if (!batch.position) throw new ShapeError('batch.position', `[B] = ${B} positions (the schema has positions)`, 'none');
    length('batch.position', batch.position, B, '[B]');
    ids('batch.position', batch.position, schema.numPositions, 'position');
  }
  if (schema.hasRankerScores) {
    if (!batch.rankerScores) throw new ShapeError('batch.rankerScores', `[B * T] = ${B * T} probabilities (the schema has ranker scores)`, 'none');
    length('batch.rankerScores', batch.rankerScores, B * T, `[B * T] = ${B} * ${T}`);
    for (let i = 0; i < B * T; i++) {
      const v = batch.rankerScores[i]!;
      if (!(v >= 0 && v <= 1)) throw new OutOfRangeError(`batch.rankerScores[${schema.tasks[i % T]}]`, `${v} at row ${Math.floor(i / T)} is not a probability in [0, 1]`);
    }
  }
  if (batch.historyLength > 0) {
    if (!batch.history) throw new ShapeError('batch.history', `[B * H] = ${B} * ${batch.historyLength} item indices`, 'none');
    length('batch.history', batch.history, B * batch.historyLength, `[B * H] = ${B} * ${batch.historyLength}`);
    ids('batch.history', batch.history, schema.numItems, 'history item index (-1 = padding)', Math.max(2, batch.historyLength));
  }
}
