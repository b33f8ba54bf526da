/**
 * Top-k of one score row, as every full-ranking metric needs it (EVAL.md sections 1 and 2).
 *
 * One pass over the row with a threshold: an item is looked at further only when it beats the
 * worst of the k kept so far (a binary min-heap), so the scan costs O(n) compares plus
 * O(m log k) heap work for the m items that ever enter the heap (O(n log k) at worst).
 */
import { OutOfRangeError, ShapeError } from '../errors.js';

// Scratch reused across calls (single-threaded): the heap and the exclusion mask.
let heapScore = new Float64Array(64);
let heapIndex = new Int32Array(64);
let mask = new Uint8Array(0);

/**
 * The indices of the `k` highest `scores`, best first. Ties go to the lower index; NaN ranks as
 * -Infinity. Returns fewer than `k` indices
 * when fewer than `k` items remain after exclusion.
 *
 * @param scores one score per item (`[n]`)
 * @param k how many to return (a non-negative integer; may exceed `n`)
 * @param exclude item indices never returned (e.g. the user's training items); indices outside
 *   `0..n-1` (such as -1 padding) are ignored
 * @param out where to write the result (length >= min(k, n)); the returned array is then a
 *   `subarray` of it
 * @throws OutOfRangeError when `k` is not a non-negative integer; ShapeError when `out` is too short
 */
export function topKExcluding(scores: Float32Array, k: number, exclude?: Int32Array | ReadonlySet<number>, out?: Int32Array): Int32Array {
  if (!Number.isInteger(k) || k < 0) throw new OutOfRangeError('k', `must be a non-negative integer, got ${k}`);
  const n = scores.length;
  const cap = Math.min(k, n);
  if (out && out.length < cap) throw new ShapeError('out', `length >= ${cap}`, `length ${out.length}`);
  if (cap === 0) return out ? out.subarray(0, 0) : new Int32Array(0);

  if (heapScore.length < cap) {
    heapScore = new Float64Array(Math.max(cap, heapScore.length * 2));
    heapIndex = new Int32Array(heapScore.length);
  }
  const hs = heapScore;
  const hi = heapIndex;

  // Exclusion test: a byte mask for arrays (set here, cleared below), `has` for sets.
  let set: ReadonlySet<number> | undefined;
  let arr: Int32Array | undefined;
  if (exclude instanceof Int32Array) {
    if (exclude.length > 0) {
      arr = exclude;
      if (mask.length < n) mask = new Uint8Array(Math.max(n, mask.length * 2));
      for (let j = 0; j < arr.length; j++) {
        const x = arr[j]!;
        if (x >= 0 && x < n) mask[x] = 1;
      }
    }
  } else if (exclude && exclude.size > 0) {
    set = exclude;
  }
  const m = mask;

  let size = 0;
  let i = 0;
  try {
    // Fill the heap with the first `cap` admissible items. Heap order: root = worst
    // (lowest score; among equal scores the highest index). NaN is kept as -Infinity.
    for (; i < n && size < cap; i++) {
      if (arr ? m[i] === 1 : set?.has(i)) continue;
      const s = scores[i]!;
      siftUp(hs, hi, size++, s === s ? s : -Infinity, i);
    }
    // Scan the rest: a later index wins only with a strictly higher score than the root
    // (NaN compares false, i.e. as -Infinity).
    let thr = hs[0]!;
    for (; i < n; i++) {
      const s = scores[i]!;
      if (s > thr) {
        if (arr ? m[i] === 1 : set?.has(i)) continue;
        hs[0] = s;
        hi[0] = i;
        siftDown(hs, hi, size);
        thr = hs[0]!;
      }
    }
  } finally {
    if (arr) {
      for (let j = 0; j < arr.length; j++) {
        const x = arr[j]!;
        if (x >= 0 && x < n) m[x] = 0;
      }
    }
  }

  // Pop worst-first into the back of the result.
  const res = out ? out.subarray(0, size) : new Int32Array(size);
  for (let r = size - 1; r >= 0; r--) {
    res[r] = hi[0]!;
    const last = r; // heap size after removing the root is r
    hs[0] = hs[last]!;
    hi[0] = hi[last]!;
    siftDown(hs, hi, last);
  }
  return res;
}

/** Whether entry (sa, ia) ranks worse than (sb, ib). */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

function siftUp(hs: Float64Array, hi: Int32Array, pos: number, s: number, idx: number): void {
  let p = pos;
  while (p > 0) {
    const parent = (p - 1) >> 1;
    if (!worse(s, idx, hs[parent]!, hi[parent]!)) break;
    hs[p] = hs[parent]!;
    hi[p] = hi[parent]!;
    p = parent;
  }
  hs[p] = s;
  hi[p] = idx;
}

function siftDown(hs: Float64Array, hi: Int32Array, size: number): void {
  const s = hs[0]!;
  const idx = hi[0]!;
  let p = 0;
  for (;;) {
    const l = 2 * p + 1;
    if (l >= size) break;
    const r = l + 1;
    let c = l;
    if (r < size && worse(hs[r]!, hi[r]!, hs[l]!, hi[l]!)) c = r;
    if (!worse(hs[c]!, hi[c]!, s, idx)) break;
    hs[p] = hs[c]!;
    hi[p] = hi[c]!;
    p = c;
  }
  hs[p] = s;
  hi[p] = idx;
}
