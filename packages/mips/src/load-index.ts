import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError } from './errors.js';
import { ExactIndex } from './exact-index.js';
import { HnswIndex } from './hnsw-index.js';
import type { MipsIndex } from './types.js';

/**
 * Loads a saved index of either kind (the kind is read from its manifest).
 * @throws CorruptFileError, MismatchError (when `expect.dim` differs)
 */
export async function loadIndex(dir: string, expect: { dim?: number } = {}): Promise<MipsIndex> {
  const path = join(dir, 'manifest.json');
  let kind: unknown;
  try {
    kind = (JSON.parse(readFileSync(path, 'utf8')) as { kind?: unknown }).kind;
  } catch (e) {
    throw new CorruptFileError(path, `missing or unreadable manifest: ${(e as Error).message}`, { cause: e });
  }
  if (kind === 'exact') return ExactIndex.load(dir, expect);
  if (kind === 'hnsw') return HnswIndex.load(dir, expect);
  throw new CorruptFileError(path, `unknown index kind ${JSON.stringify(kind)}`);
}
