/**
 * `tt retrieve`: top K catalogue items for each user in a file (one id per line, or JSON lines
 * with the fields of a `tt serve` request: `user_id`, `user_features`, `history`, ...),
 * excluding what each user saw in training. Prints one JSON line per user, with the path that
 * served it: a user id the model does not know is answered by cold start (or popularity) and
 * counted, never fatal.
 */
import { readFileSync } from 'node:fs';
import { FileSystemError, gatherRows, initBackend, loadCheckpoint, Retriever, SERVING_PATHS, ValueError, type ItemId, type ServingPath, type UserRequest } from '@tt/core';
import { stageDefinitions } from '../stages.js';
import { answerToJson, requestFromJson } from '../serve/requests.js';

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/);
  } catch (e) {
    throw FileSystemError.from(e, path, 'read');
  }
}

/**
 * User ids of a file: plain lines or JSON lines with a `user_id` field.
 * @throws FileSystemError (missing or unreadable file), ValueError (a bad JSON line)
 */
export function readUserIds(path: string): ItemId[] {
  return readUserRequests(path, 1).flatMap((r) => (r.userId === undefined ? [] : [r.userId]));
}

/**
 * The requests of a users file: a plain line is a user id (an integer when it looks like one),
 * a line starting with `{` a JSON request (`k` defaults to `k`). Blank lines are skipped.
 * @throws ValueError naming `path:line` and the field; FileSystemError when the file cannot be read
 */
export function readUserRequests(path: string, k: number): UserRequest[] {
  const out: UserRequest[] = [];
  readLines(path).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${path}:${i + 1}`;
    if (!line.startsWith('{')) {
      out.push({ userId: /^-?\d+$/.test(line) && String(Number(line)) === line ? Number(line) : line, k });
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ValueError(where, 'is not valid JSON');
    }
    out.push(requestFromJson(v, where, k));
  });
  return out;
}

/** The stored latest histories of `users`, for models with a history encoder. */
export function historiesOfUsers(users: Int32Array, histories: Int32Array | undefined, H: number): { history?: Int32Array; historyLength?: number } {
  if (H === 0 || !histories) return {};
  return { history: gatherRows(histories, H, users), historyLength: H };
}

/** `tt retrieve`: prints the top `k` items of each user in `users`, one JSON line per user; returns how many each path served. */
export async function retrieve(o: { checkpoint: string; users: string; k: number; backend?: 'tensorflow' | 'wasm' | 'cpu'; includeSeen?: boolean }): Promise<Record<ServingPath, number>> {
  await initBackend({ backend: o.backend });
  const requests = readUserRequests(o.users, o.k).map((r) => (o.includeSeen ? { ...r, includeSeen: true } : r));
  const checkpoint = await loadCheckpoint(o.checkpoint, { stages: stageDefinitions });
  const retriever = await Retriever.fromCheckpoint(checkpoint);
  const counts = Object.fromEntries(SERVING_PATHS.map((p) => [p, 0])) as Record<ServingPath, number>;
  try {
    for (let start = 0; start < requests.length; start += 256) {
      const chunk = requests.slice(start, start + 256);
      const results = await retriever.serve(chunk);
      results.forEach((r, i) => {
        counts[r.path]++;
        process.stdout.write(`${JSON.stringify(answerToJson(r, chunk[i]!.userId))}\n`);
      });
    }
    const cold = requests.length - counts.id;
    process.stderr.write(`[tt] retrieve: ${requests.length} users, ${counts.id} by id, ${cold} without an id row (${SERVING_PATHS.filter((p) => p !== 'id' && counts[p] > 0).map((p) => `${p} ${counts[p]}`).join(', ') || 'none'})\n`);
    return counts;
  } finally {
    await retriever.dispose();
    checkpoint.model.dispose();
  }
}
