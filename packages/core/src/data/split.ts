/**
 * The loo-full split of EVAL.md section 1, shared by every loader: rows in chronological order
 * (ties by file order); each user's last positive row is the test row, the positive before it
 * optionally the validation row; users with fewer than 2 rows or no positive are not evaluated.
 */
import type { InteractionLog } from './types.js';
import { rowValue } from './batches.js';

/** The rows `rows` of `log`, in that order. */
export function sliceLog(log: InteractionLog, rows: ArrayLike<number>, T: number): InteractionLog {
  const n = rows.length;
  const pick = <A extends Int32Array | Float32Array | Float64Array>(src: A | undefined, width: number, make: (len: number) => A): A | undefined => {
    if (!src) return undefined;
    const out = make(n * width);
    for (let i = 0; i < n; i++) out.set(src.subarray(rows[i]! * width, rows[i]! * width + width), i * width);
    return out;
  };
  return {
    size: n,
    user: pick(log.user, 1, (l) => new Int32Array(l))!,
    item: pick(log.item, 1, (l) => new Int32Array(l))!,
    labels: pick(log.labels, T, (l) => new Float32Array(l))!,
    position: pick(log.position, 1, (l) => new Int32Array(l)),
    rankerScores: pick(log.rankerScores, T, (l) => new Float32Array(l)),
    timestamp: pick(log.timestamp, 1, (l) => new Float64Array(l)),
  };
}

/** Row order by timestamp, stable (ties keep file order); identity without timestamps. */
export function chronologicalOrder(log: InteractionLog): Int32Array {
  const order = Int32Array.from({ length: log.size }, (_, i) => i);
  const ts = log.timestamp;
  if (!ts) return order;
  return Int32Array.from(Array.from(order).sort((a, b) => ts[a]! - ts[b]! || a - b));
}

/** Splits a chronologically ordered log into train / validation / test (loo-full). */
export function leaveLastOut(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, options: { validation?: boolean } = {}): { train: InteractionLog; validation?: InteractionLog; test: InteractionLog } {
  const T = valueWeights.length;
  const rowsOfUser = new Int32Array(numUsers);
  const lastPositive = new Int32Array(numUsers).fill(-1);
  const previousPositive = new Int32Array(numUsers).fill(-1);
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    rowsOfUser[u]!++;
    if (rowValue(log, r, valueWeights) > 0) {
      previousPositive[u] = lastPositive[u]!;
      lastPositive[u] = r;
    }
  }
  const role = new Int8Array(log.size); // 0 train, 1 test, 2 validation
  for (let u = 0; u < numUsers; u++) {
    if (rowsOfUser[u]! < 2 || lastPositive[u]! < 0) continue;
    role[lastPositive[u]!] = 1;
    if (options.validation && previousPositive[u]! >= 0) role[previousPositive[u]!] = 2;
  }
  const rowsWith = (k: number) => Int32Array.from(Array.from(role.keys()).filter((r) => role[r] === k));
  // test and validation rows in user order, so per-user evaluation reads them in a stable order
  const byUser = (rows: Int32Array) => Int32Array.from(Array.from(rows).sort((a, b) => log.user[a]! - log.user[b]! || a - b));
  return {
    train: sliceLog(log, rowsWith(0), T),
    test: sliceLog(log, byUser(rowsWith(1)), T),
    validation: options.validation ? sliceLog(log, byUser(rowsWith(2)), T) : undefined,
  };
}
