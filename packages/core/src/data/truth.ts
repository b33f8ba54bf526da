/**
 * A world's truth from a table: `V [users, items]` indexed by the log's own integer ids, as
 * `tt world export` writes it (`truth.npy`) and as any outside generator can. With it a logged
 * dataset (a CSV export of a world) is scored like the world itself: alignment@10/100 and value@10.
 */
import { MismatchError, ShapeError, ValueError } from '../errors.js';
import type { GroundTruth, InteractionDataset, ItemId } from './types.js';

/** A dense row-major table of true values (e.g. a decoded `.npy`). */
export interface TruthTable {
  /** `[rows * cols]` values, row-major */
  readonly data: ArrayLike<number>;
  /** `[rows, cols]`: rows are user ids, columns item ids */
  readonly shape: readonly number[];
}

/** The table row (or column) of each id: the id itself, which must be an integer in `[0, size)`. */
function indexOfIds(ids: readonly ItemId[], size: number, field: string, what: string): Int32Array {
  const out = new Int32Array(ids.length);
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k]!;
    const n = typeof id === 'number' ? id : /^\d+$/.test(id) ? Number(id) : NaN;
    if (!Number.isInteger(n)) throw new MismatchError(field, `${what} ids that are integers (they index the table)`, `id ${JSON.stringify(id)}`);
    if (n >= size) throw new MismatchError(field, `a ${what} id below ${size} (the table's ${what === 'user' ? 'rows' : 'columns'})`, `id ${n}`);
    out[k] = n;
  }
  return out;
}

/**
 * The {@link GroundTruth} of `dataset` read from `table`: user index `u` reads row `userIds[u]`,
 * item index `i` column `itemIds[i]`.
 * @throws ShapeError when the table is not 2-D; MismatchError when an id is not an integer inside
 * the table; ValueError for a value that is not finite (the field named `field`)
 */
export function truthFromTable(table: TruthTable, dataset: Pick<InteractionDataset, 'userIds' | 'itemIds'>, field = 'truth'): GroundTruth {
  const { data, shape } = table;
  if (shape.length !== 2 || shape[0]! * shape[1]! !== data.length) {
    throw new ShapeError(field, '[users, items] (rows indexed by user id, columns by item id)', `[${shape.join(', ')}]`);
  }
  const [rows, cols] = shape as [number, number];
  const rowOf = indexOfIds(dataset.userIds, rows, field, 'user');
  const colOf = indexOfIds(dataset.itemIds, cols, field, 'item');
  // only the rows and columns the dataset reads must be numbers
  for (const r of rowOf) {
    for (const c of colOf) {
      const v = data[r * cols + c]!;
      if (!Number.isFinite(v)) throw new ValueError(field, `must be finite, got ${v} at user ${r}, item ${c}`);
    }
  }
  return {
    valueOfAllItems(user: number): Float32Array {
      const base = rowOf[user]! * cols;
      const out = new Float32Array(colOf.length);
      for (let i = 0; i < colOf.length; i++) out[i] = data[base + colOf[i]!]!;
      return out;
    },
  };
}
