/**
 * The JSON form of a retrieval request, shared by `tt serve` (HTTP bodies, already checked by
 * the route's JSON schema) and `tt retrieve` (JSON lines of a users file): snake_case fields
 * into a `UserRequest` of `@tt/core`, and answers back into JSON.
 */
import { ValueError, type ItemId, type ServedResult, type UserRequest } from '@tt/core';

/** A request as JSON: every field optional but `k` (which `tt retrieve` fills from `--k`). */
export interface RequestJson {
  /** the user's id; unknown or absent: cold start */
  readonly user_id?: ItemId;
  /** the user's dense features (as many as the model's user features) */
  readonly user_features?: readonly number[];
  /** recent item ids, newest first */
  readonly history?: readonly ItemId[];
  /** items to return */
  readonly k?: number;
  /** item ids never to return */
  readonly exclude?: readonly ItemId[];
  /** also return what the user already has (training items, history items) */
  readonly include_seen?: boolean;
  /** only these item ids may be returned */
  readonly filter?: {
    /** the allowed item ids */
    readonly items: readonly ItemId[];
  };
}

/** The fields a request may carry: anything else is an error (a misspelt field must not pass silently). */
export const REQUEST_FIELDS = ['user_id', 'user_features', 'history', 'k', 'exclude', 'include_seen', 'filter'] as const;

const isId = (x: unknown): x is ItemId => typeof x === 'string' || (typeof x === 'number' && Number.isSafeInteger(x));

/**
 * Checks a parsed JSON value field by field (what the server's JSON schema checks, for callers
 * without one) and converts it; `where` prefixes every field name in errors (e.g. `users.txt:3`).
 * @throws ValueError naming the field
 */
export function requestFromJson(value: unknown, where: string, defaultK?: number): UserRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValueError(where, 'must be a JSON object');
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(REQUEST_FIELDS as readonly string[]).includes(key)) throw new ValueError(`${where}.${key}`, `is not a request field (known: ${REQUEST_FIELDS.join(', ')})`);
  }
  const ids = (field: string): ItemId[] | undefined => {
    const v = o[field];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every(isId)) throw new ValueError(`${where}.${field}`, 'must be an array of item ids (strings or integers)');
    return v;
  };
  if (o['user_id'] !== undefined && !isId(o['user_id'])) throw new ValueError(`${where}.user_id`, 'must be a string or an integer');
  const features = o['user_features'];
  if (features !== undefined && (!Array.isArray(features) || !features.every((x) => typeof x === 'number'))) throw new ValueError(`${where}.user_features`, 'must be an array of numbers');
  const k = o['k'] ?? defaultK;
  if (typeof k !== 'number' || !Number.isInteger(k)) throw new ValueError(`${where}.k`, `must be an integer, got ${JSON.stringify(k)}`);
  if (o['include_seen'] !== undefined && typeof o['include_seen'] !== 'boolean') throw new ValueError(`${where}.include_seen`, 'must be true or false');
  const filter = o['filter'];
  let allowed: ItemId[] | undefined;
  if (filter !== undefined) {
    if (typeof filter !== 'object' || filter === null || Object.keys(filter).some((key) => key !== 'items')) throw new ValueError(`${where}.filter`, 'must be {"items": [item ids]}');
    const items = (filter as { items?: unknown }).items;
    if (!Array.isArray(items) || !items.every(isId)) throw new ValueError(`${where}.filter.items`, 'must be an array of item ids (strings or integers)');
    allowed = items;
  }
  return {
    userId: o['user_id'] as ItemId | undefined,
    userFeatures: features as number[] | undefined,
    history: ids('history'),
    k,
    exclude: ids('exclude'),
    includeSeen: o['include_seen'] as boolean | undefined,
    filter: allowed && { items: allowed },
  };
}

/** An answer as JSON: items, scores (6 decimals), the path that served it. */
export interface AnswerJson {
  /** the request's user id, when it had one */
  user_id?: ItemId;
  /** item ids, best first */
  items: ItemId[];
  /** scores, same order */
  scores: number[];
  /** the path that served the request (`id`, `features`, `history`, `features+history`, `popularity`) */
  path: string;
  /** history ids not in the catalogue (skipped), when there were any */
  unknown_history?: number;
}

/** Converts an answer to its JSON form. */
export function answerToJson(r: ServedResult, userId?: ItemId): AnswerJson {
  return {
    ...(userId !== undefined ? { user_id: userId } : {}),
    items: r.items,
    scores: Array.from(r.scores, (s) => Number(s.toFixed(6))),
    path: r.path,
    ...(r.unknownHistory > 0 ? { unknown_history: r.unknownHistory } : {}),
  };
}
