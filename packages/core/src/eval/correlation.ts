/**
 * Correlations of two equally long series (diagnostics: a learned curve against the truth, a
 * student's predictions against its teacher's).
 */
import { ShapeError } from '../errors.js';

function check(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length || a.length < 2) throw new ShapeError('correlation', 'two series of equal length >= 2', `lengths ${a.length} and ${b.length}`);
}

/** Pearson correlation; NaN when either series is constant. @throws ShapeError unequal or too short series */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  check(a, b);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]!), (mb += b[i]!);
  ma /= n;
  mb /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa === 0 || bb === 0 ? Number.NaN : ab / Math.sqrt(aa * bb);
}

/** Ranks `0..n-1` of `x`, ties sharing their average rank. */
function ranks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((i, j) => x[i]! - x[j]!);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]!] === x[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (average ranks for ties); NaN when either series is constant. @throws ShapeError */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  check(a, b);
  return pearson(ranks(a), ranks(b));
}
