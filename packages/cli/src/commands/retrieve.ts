/**
 * `tt retrieve`: top K catalogue items for each user id in a file (one per line, or JSON lines
 * with `user_id`), excluding what each user saw in training. Prints one JSON line per user.
 */
import { readFileSync } from 'node:fs';
import { FileSystemError, gatherRows, initBackend, loadCheckpoint, Retriever, UnknownIdError, ValueError, type ItemId } from '@tt/core';
import { stageDefinitions } from '../stages.js';

/**
 * User ids of a file: plain lines or JSON lines with a `user_id` field.
 * @throws FileSystemError (missing or unreadable file), ValueError (a bad JSON line)
 */
export function readUserIds(path: string): ItemId[] {
  const ids: ItemId[] = [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw FileSystemError.from(e, path, 'read');
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    if (line.startsWith('{')) {
      let v: unknown;
      try {
        v = (JSON.parse(line) as { user_id?: unknown }).user_id;
      } catch {
        throw new ValueError(`${path}:${i + 1}`, 'is not valid JSON');
      }
      if (typeof v !== 'string' && typeof v !== 'number') throw new ValueError(`${path}:${i + 1}`, 'needs a string or number "user_id"');
      ids.push(v);
    } else ids.push(/^-?\d+$/.test(line) ? Number(line) : line);
  });
  return ids;
}

/** The stored latest histories of `users`, for models with a history encoder. */
export function historiesOfUsers(users: Int32Array, histories: Int32Array | undefined, H: number): { history?: Int32Array; historyLength?: number } {
  if (H === 0 || !histories) return {};
  return { history: gatherRows(histories, H, users), historyLength: H };
}

/** `tt retrieve`: prints the top `k` items of each user id in `users`, one JSON line per user. */
export async function retrieve(o: { checkpoint: string; users: string; k: number; backend?: 'tensorflow' | 'wasm' | 'cpu'; includeSeen?: boolean }): Promise<void> {
  await initBackend({ backend: o.backend });
  const ids = readUserIds(o.users);
  const { model, index, seen, histories } = await loadCheckpoint(o.checkpoint, { stages: stageDefinitions });
  const retriever = index ? Retriever.over(model, index) : await Retriever.build(model);
  try {
    const users = Int32Array.from(ids, (id) => {
      const u = model.userIndex(id);
      if (u === undefined) throw new UnknownIdError('users', id);
      return u;
    });
    for (let start = 0; start < users.length; start += 256) {
      const chunk = users.subarray(start, start + 256);
      const exclude = o.includeSeen || !seen ? undefined : Array.from(chunk, (u) => seen[u]);
      const results = await retriever.retrieve(chunk, o.k, { exclude, ...historiesOfUsers(chunk, histories, model.historyLength) });
      results.forEach((r, i) => {
        process.stdout.write(`${JSON.stringify({ user_id: ids[start + i], items: r.items, scores: Array.from(r.scores, (s) => Number(s.toFixed(6))) })}\n`);
      });
    }
  } finally {
    await retriever.dispose();
    model.dispose();
  }
}
