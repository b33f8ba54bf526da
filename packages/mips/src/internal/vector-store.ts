/**
 * The bookkeeping every index shares: ids <-> slots, the row-major vectors of the live slots,
 * and validation of mutations and searches at the public boundary.
 */
import { ConfigError, DuplicateIdError, EmptyError, OutOfRangeError, ShapeError, StateError, ValueError } from '../errors.js';
import type { SearchOptions } from '../types.js';
import { IdMap, idKindOf, type IdKind, type ItemId } from './id-map.js';
import { toMatrix, type VectorsInput } from './matrix.js';

export class VectorStore {
  readonly dim: number;
  readonly ids: IdMap;
  /** row-major `[capacity, dim]`, on a SharedArrayBuffer */
  vectors: Float32Array;
  /** 1 for a live slot */
  alive: Uint8Array;
  /** every slot < highWater has been used once; removed slots are reused first */
  highWater = 0;
  private readonly free: number[] = [];
  private disposed = false;

  constructor(dim: number, idKind?: IdKind) {
    if (!Number.isInteger(dim) || dim < 1) throw new ConfigError('dim', `must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.ids = new IdMap(idKind);
    this.vectors = new Float32Array(0);
    this.alive = new Uint8Array(0);
  }

  get size(): number {
    return this.ids.size;
  }

  assertUsable(op: string): void {
    if (this.disposed) throw new StateError(`${op}: the index was disposed`);
  }

  markDisposed(): void {
    this.disposed = true;
    this.vectors = new Float32Array(0);
  }

  /** Validates and stores new ids; returns their slots. Nothing changes if validation fails. */
  add(ids: readonly ItemId[], input: VectorsInput, op = 'add'): number[] {
    this.assertUsable(op);
    const { data } = toMatrix(input, this.dim, 'vectors', op, ids.length);
    this.ids.validateNew(ids, 'ids');
    const slots = this.allocate(ids.length);
    ids.forEach((id, i) => {
      const slot = slots[i] as number;
      this.ids.set(id, slot);
      this.alive[slot] = 1;
      this.vectors.set(data.subarray(i * this.dim, (i + 1) * this.dim), slot * this.dim);
    });
    return slots;
  }

  /** Validates replacement vectors for present ids; returns `{ slots, data }` without storing. */
  prepareUpdate(ids: readonly ItemId[], input: VectorsInput, op = 'update'): { slots: number[]; data: Float32Array } {
    this.assertUsable(op);
    const { data } = toMatrix(input, this.dim, 'vectors', op, ids.length);
    const slots = this.ids.slotsOf(ids, 'ids');
    const seen = new Set<ItemId>();
    for (const id of ids) {
      if (seen.has(id)) throw new DuplicateIdError('ids', id);
      seen.add(id);
    }
    return { slots, data };
  }

  writeRows(slots: readonly number[], data: Float32Array): void {
    slots.forEach((slot, i) => this.vectors.set(data.subarray(i * this.dim, (i + 1) * this.dim), slot * this.dim));
  }

  /** Removes present ids (absent ones are skipped); returns the freed slots. */
  remove(ids: readonly ItemId[]): number[] {
    this.assertUsable('remove');
    const freed: number[] = [];
    for (const id of ids) {
      idKindOf(id, 'ids');
      const slot = this.ids.delete(id);
      if (slot === undefined) continue;
      this.alive[slot] = 0;
      this.vectors.fill(0, slot * this.dim, (slot + 1) * this.dim);
      this.free.push(slot);
      freed.push(slot);
    }
    return freed;
  }

  /** Puts saved ids back at their saved slots (graph keys refer to slots). */
  restore(ids: readonly ItemId[], slots: readonly number[], data: Float32Array): void {
    this.ids.validateNew(ids, 'ids');
    const top = slots.reduce((a, b) => Math.max(a, b + 1), 0);
    this.grow(top);
    this.highWater = top;
    ids.forEach((id, i) => {
      const slot = slots[i] as number;
      if (!Number.isInteger(slot) || slot < 0 || this.alive[slot] === 1) {
        throw new ValueError('slots', `saved slot ${slot} is invalid or repeated`);
      }
      this.ids.set(id, slot);
      this.alive[slot] = 1;
      this.vectors.set(data.subarray(i * this.dim, (i + 1) * this.dim), slot * this.dim);
    });
    for (let s = top - 1; s >= 0; s--) if (this.alive[s] !== 1) this.free.push(s);
  }

  getVectors(ids: readonly ItemId[]): Float32Array {
    this.assertUsable('getVectors');
    const slots = this.ids.slotsOf(ids, 'ids');
    return this.rowsOf(slots);
  }

  rowsOf(slots: ArrayLike<number>, count = slots.length): Float32Array {
    const out = new Float32Array(count * this.dim);
    for (let i = 0; i < count; i++) {
      const s = slots[i] as number;
      out.set(this.vectors.subarray(s * this.dim, (s + 1) * this.dim), i * this.dim);
    }
    return out;
  }

  /** Ties in score are broken by this key, smallest first: the id for integer ids, else the slot. */
  tieKey(slot: number): number {
    if (this.ids.idKind === 'int') return this.ids.idAt(slot) as number;
    return slot;
  }

  /** Live ids and their vectors, compacted, in slot order (for saving). */
  live(): { ids: ItemId[]; slots: number[]; data: Float32Array } {
    const ids: ItemId[] = [];
    const slots: number[] = [];
    for (const [id, slot] of this.ids.entries()) {
      ids.push(id);
      slots.push(slot);
    }
    return { ids, slots, data: this.rowsOf(slots) };
  }

  /**
   * Checks a search request; returns the queries as a matrix and the excluded slots of each query
   * in CSR form (offsets `[q+1]`, slots).
   */
  prepareSearch(
    queries: VectorsInput,
    k: number,
    options: SearchOptions,
  ): { data: Float32Array; rows: number; excludeOffsets: Int32Array; excludeSlots: Int32Array; maxExcluded: number } {
    this.assertUsable('search');
    const { data, rows } = toMatrix(queries, this.dim, 'queries', 'search');
    if (rows === 0) throw new EmptyError('queries', 'search needs at least one query');
    if (this.size === 0) throw new EmptyError('index', 'search on an empty index');
    if (!Number.isInteger(k) || k < 1) throw new OutOfRangeError('k', `must be an integer >= 1, got ${k}`);
    if (k > this.size) throw new OutOfRangeError('k', `must be <= the index size ${this.size}, got ${k}`);
    const excludeOffsets = new Int32Array(rows + 1);
    const lists: number[] = [];
    let maxExcluded = 0;
    if (options.exclude !== undefined) {
      if (options.exclude.length !== rows) {
        throw new ShapeError('exclude', `one list per query (${rows})`, `${options.exclude.length} lists`, 'search');
      }
      for (let r = 0; r < rows; r++) {
        const before = lists.length;
        for (const id of options.exclude[r] ?? []) {
          const slot = this.ids.find(id);
          if (slot !== undefined) lists.push(slot);
        }
        maxExcluded = Math.max(maxExcluded, lists.length - before);
        excludeOffsets[r + 1] = lists.length;
      }
    }
    return { data, rows, excludeOffsets, excludeSlots: Int32Array.from(lists), maxExcluded };
  }

  private allocate(count: number): number[] {
    const slots: number[] = [];
    while (slots.length < count && this.free.length > 0) slots.push(this.free.pop() as number);
    const fresh = count - slots.length;
    if (fresh > 0) {
      this.grow(this.highWater + fresh);
      for (let i = 0; i < fresh; i++) slots.push(this.highWater + i);
      this.highWater += fresh;
    }
    return slots;
  }

  private grow(minSlots: number): void {
    const cap = this.alive.length;
    if (minSlots <= cap) return;
    // exact fit for the first (bulk) add, then doubling for appends
    const next = cap === 0 ? minSlots : Math.max(minSlots, cap * 2);
    // shared memory: exact-search workers read their blocks from it without copies
    const vectors = new Float32Array(new SharedArrayBuffer(next * this.dim * Float32Array.BYTES_PER_ELEMENT));
    vectors.set(this.vectors.subarray(0, this.highWater * this.dim));
    const alive = new Uint8Array(next);
    alive.set(this.alive.subarray(0, this.highWater));
    this.vectors = vectors;
    this.alive = alive;
  }
}
