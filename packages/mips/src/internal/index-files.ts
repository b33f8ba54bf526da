/**
 * The on-disk layout of an index directory:
 *
 *   manifest.json   format, version, kind, dim, count, id kind, parameters, and the byte size
 *                   and SHA-256 of every other file
 *   vectors.npy     float32 [count, dim], the live vectors in slot order
 *   ids.json        { ids: [...], slots: [...] } aligned with the rows of vectors.npy
 *   (kind-specific files, e.g. graph.usearch for HNSW)
 *
 * Reading checks every size and checksum before parsing, so a truncated or altered file is a
 * CorruptFileError, and a different kind or dimension is a MismatchError.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError, MismatchError } from '../errors.js';
import { decodeNpy, npyChunks } from '../npy.js';
import { writeDirAtomic, writeFileAtomic } from './atomic.js';
import type { IdKind, ItemId } from './id-map.js';
import type { VectorStore } from './vector-store.js';

export const INDEX_FORMAT = 'tt-mips-index';
export const INDEX_VERSION = 1;

/** What `manifest.json` holds. */
export interface IndexManifest {
  /** always `tt-mips-index`: marks the directory as a tt index */
  readonly format: typeof INDEX_FORMAT;
  /** layout version; a reader refuses any other */
  readonly version: number;
  /** the index class that wrote the directory */
  readonly kind: 'exact' | 'hnsw';
  /** vector dimension */
  readonly dim: number;
  /** number of vectors (rows of `vectors.npy`) */
  readonly count: number;
  /** kind of the ids; null for an empty index */
  readonly idKind: IdKind | null;
  /** the kind-specific parameters (`ExactIndexParams` or `HnswIndexParams`) */
  readonly params: Record<string, unknown>;
  /** byte size and SHA-256 of every other file, by file name */
  readonly files: Record<
    string,
    {
      /** file size in bytes */
      bytes: number;
      /** hex SHA-256 of the file */
      sha256: string;
    }
  >;
}

/** Byte count and SHA-256 of bytes given in one or more chunks (hashed in order, never joined). */
export function fileDigest(...chunks: Uint8Array[]): {
  /** total length of the chunks */
  bytes: number;
  /** hex SHA-256 of the chunks */
  sha256: string;
} {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    hash.update(c);
    bytes += c.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Writes the common files plus whatever `extra` writes into the temporary directory (it returns
 * the names of the files it wrote), then the manifest, atomically.
 */
export async function writeIndexDir(
  dir: string,
  store: VectorStore,
  meta: { kind: 'exact' | 'hnsw'; params: Record<string, unknown> },
  extra?: (tmpDir: string) => string[],
): Promise<void> {
  const live = store.live();
  await writeDirAtomic(dir, (tmp) => {
    const files: IndexManifest['files'] = {};
    const put = (name: string, chunks: Uint8Array[]) => {
      writeFileAtomic(join(tmp, name), chunks);
      files[name] = fileDigest(...chunks);
    };
    put('vectors.npy', npyChunks({ data: live.data, shape: [live.ids.length, store.dim] }));
    put('ids.json', [Buffer.from(JSON.stringify({ ids: live.ids, slots: live.slots }))]);
    for (const name of extra?.(tmp) ?? []) {
      files[name] = fileDigest(readFileSync(join(tmp, name)));
    }
    const manifest: IndexManifest = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      kind: meta.kind,
      dim: store.dim,
      count: live.ids.length,
      idKind: store.ids.idKind ?? null,
      params: meta.params,
      files,
    };
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
  });
}

function readChecked(dir: string, name: string, entry: { bytes: number; sha256: string } | undefined): Buffer {
  const path = join(dir, name);
  if (entry === undefined) throw new CorruptFileError(join(dir, 'manifest.json'), `no entry for ${name}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CorruptFileError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (bytes.length !== entry.bytes) {
    throw new CorruptFileError(path, `expected ${entry.bytes} bytes, found ${bytes.length} (truncated or replaced)`);
  }
  if (fileDigest(bytes).sha256 !== entry.sha256) throw new CorruptFileError(path, 'checksum mismatch (file altered or damaged)');
  return bytes;
}

/** Verifies a file listed in the manifest without parsing it (for native files such as graphs). */
export function verifyFile(dir: string, manifest: IndexManifest, name: string): string {
  readChecked(dir, name, manifest.files[name]);
  return join(dir, name);
}

/** Reads and verifies the common files of an index directory. */
export async function readIndexDir(
  dir: string,
  kind: 'exact' | 'hnsw',
  expectDim?: number,
): Promise<{ manifest: IndexManifest; ids: ItemId[]; slots: number[]; data: Float32Array }> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: IndexManifest;
  try {
    statSync(dir);
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as IndexManifest;
  } catch (e) {
    throw new CorruptFileError(manifestPath, `missing or unreadable manifest: ${(e as Error).message}`, { cause: e });
  }
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== INDEX_FORMAT) {
    throw new CorruptFileError(manifestPath, `not a ${INDEX_FORMAT} manifest`);
  }
  if (manifest.version !== INDEX_VERSION) {
    throw new MismatchError('version', `${INDEX_VERSION}`, `${manifest.version}`);
  }
  if (manifest.kind !== kind) throw new MismatchError('kind', kind, `${manifest.kind}`);
  if (expectDim !== undefined && manifest.dim !== expectDim) {
    throw new MismatchError('dim', `${expectDim}`, `${manifest.dim}`);
  }
  if (typeof manifest.files !== 'object' || manifest.files === null) {
    throw new CorruptFileError(manifestPath, 'manifest lists no files');
  }
  const npy = decodeNpy(readChecked(dir, 'vectors.npy', manifest.files['vectors.npy']), join(dir, 'vectors.npy'));
  let parsed: { ids: ItemId[]; slots: number[] };
  try {
    parsed = JSON.parse(readChecked(dir, 'ids.json', manifest.files['ids.json']).toString('utf8'));
  } catch (e) {
    if (e instanceof CorruptFileError) throw e;
    throw new CorruptFileError(join(dir, 'ids.json'), 'unreadable JSON', { cause: e });
  }
  const rows = npy.shape[0];
  if (
    !(npy.data instanceof Float32Array) ||
    npy.shape.length !== 2 ||
    npy.shape[1] !== manifest.dim ||
    rows !== manifest.count ||
    !Array.isArray(parsed.ids) ||
    parsed.ids.length !== rows ||
    !Array.isArray(parsed.slots) ||
    parsed.slots.length !== rows
  ) {
    throw new CorruptFileError(dir, `vectors.npy [${npy.shape.join(', ')}] and ids.json do not match the manifest (count ${manifest.count}, dim ${manifest.dim})`);
  }
  return { manifest, ids: parsed.ids, slots: parsed.slots, data: npy.data };
}
