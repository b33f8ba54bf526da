/**
 * Catalogue ids <-> storage slots.
 *
 * An index stores vectors in slots (row numbers); users speak in catalogue ids, which are
 * either all integers or all strings for one index. Removed slots are recycled by the exact
 * index and retired by the HNSW index (see each class).
 */
import { DuplicateIdError, UnknownIdError, ValueError } from '../errors.js';

/** A catalogue item id: an integer (safe integer range) or a string. */
export type ItemId = number | string;

/** Which kind of ids an index holds; fixed by the first id added. */
export type IdKind = 'int' | 'string';

export function idKindOf(id: unknown, field: string): IdKind {
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id)) {
      throw new ValueError(field, `integer ids must be safe integers, got ${id}`);
    }
    return 'int';
  }
  if (typeof id === 'string') return 'string';
  throw new ValueError(field, `ids must be integers or strings, got ${typeof id}`);
}

export class IdMap {
  private kind: IdKind | undefined;
  private readonly slotOf = new Map<ItemId, number>();
  private idOf: ItemId[] = [];

  constructor(kind?: IdKind) {
    this.kind = kind;
  }

  get idKind(): IdKind | undefined {
    return this.kind;
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Checks ids for type, kind and duplicates (against the map and within the list). */
  validateNew(ids: readonly ItemId[], field: string): void {
    const seen = new Set<ItemId>();
    let kind = this.kind;
    for (const id of ids) {
      const k = idKindOf(id, field);
      if (kind === undefined) kind = k;
      else if (k !== kind) {
        throw new ValueError(field, `this index holds ${kind} ids, got ${JSON.stringify(id)}`);
      }
      if (this.slotOf.has(id) || seen.has(id)) throw new DuplicateIdError(field, id);
      seen.add(id);
    }
  }

  /** Checks that every id is present; returns their slots. */
  slotsOf(ids: readonly ItemId[], field: string): number[] {
    return ids.map((id) => {
      const slot = this.slotOf.get(id);
      if (slot === undefined) throw new UnknownIdError(field, id);
      return slot;
    });
  }

  /** Slot of an id, or undefined (no throw: used for exclusions, where unknown ids are fine). */
  find(id: ItemId): number | undefined {
    return this.slotOf.get(id);
  }

  has(id: ItemId): boolean {
    return this.slotOf.has(id);
  }

  set(id: ItemId, slot: number): void {
    if (this.kind === undefined) this.kind = idKindOf(id, 'ids');
    this.slotOf.set(id, slot);
    this.idOf[slot] = id;
  }

  delete(id: ItemId): number | undefined {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return undefined;
    this.slotOf.delete(id);
    delete this.idOf[slot];
    return slot;
  }

  idAt(slot: number): ItemId {
    const id = this.idOf[slot];
    if (id === undefined) throw new UnknownIdError('slot', slot);
    return id;
  }

  /** Live (id, slot) pairs in slot order. */
  *entries(): IterableIterator<[ItemId, number]> {
    for (let slot = 0; slot < this.idOf.length; slot++) {
      const id = this.idOf[slot];
      if (id !== undefined) yield [id, slot];
    }
  }
}
