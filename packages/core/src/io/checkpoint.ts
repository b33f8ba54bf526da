/**
 * Checkpoints: a directory that rebuilds its own model.
 *
 *   checkpoint.json      format, the model config, training notes, size + SHA-256 of each file
 *   weights.safetensors  every parameter by name (readable by PyTorch's safetensors)
 *   catalogue.safetensors + catalogue.json  feature tables and the user/item vocabularies
 *   seen / histories / popularity.safetensors  for serving: per-user training items, latest
 *                        histories, item popularity (each optional)
 *   index/               the @tt/mips index of the catalogue (optional)
 *
 * Written into a temporary directory and swapped in whole, so a failure leaves the previous
 * checkpoint or nothing. Loading verifies sizes and checksums before parsing anything.
 */
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileDigest, loadIndex, writeDirAtomic, type MipsIndex } from '@tt/mips';
import { CorruptFileError, MismatchError } from '../errors.js';
import type { ItemId } from '../data/types.js';
import type { TwoTowerConfig } from '../model/config.js';
import type { StageDefinition } from '../model/stages.js';
import { TwoTowerModel } from '../model/two-tower.js';
import type { NamedValues } from '../nn/params.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'tt.checkpoint';
export const CHECKPOINT_VERSION = 1;

interface Manifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: number;
  readonly model: TwoTowerConfig;
  /** free-form notes: epochs, metrics, backend... */
  readonly metadata: Record<string, unknown>;
  readonly files: Record<string, { bytes: number; sha256: string }>;
  readonly hasIndex: boolean;
}

/** Options of {@link saveCheckpoint}: what to store beside the weights. */
export interface SaveCheckpointOptions {
  /** the catalogue index to store beside the weights */
  readonly index?: MipsIndex;
  /** per user index: the item indices to exclude when serving (what the user has seen) */
  readonly seen?: readonly Int32Array[];
  /** `[numUsers * H]` each user's latest history (newest first, -1 padded), for history encoders */
  readonly histories?: Int32Array;
  /** `[numItems]` item popularity (training counts): what serving answers a user it cannot embed */
  readonly popularity?: Float32Array;
  /** free-form notes stored in `checkpoint.json` (epochs, metrics, backend...) */
  readonly metadata?: Record<string, unknown>;
}

/** What {@link loadCheckpoint} returns: the rebuilt model and what was stored with it. */
export interface LoadedCheckpoint {
  /** the rebuilt model, with the saved weights */
  readonly model: TwoTowerModel;
  /** the stored index, when the checkpoint has one */
  readonly index?: MipsIndex;
  /** per user index: the items seen in training, when stored */
  readonly seen?: Int32Array[];
  /** `[numUsers * H]` the users' latest histories, when stored */
  readonly histories?: Int32Array;
  /** `[numItems]` item popularity, when stored */
  readonly popularity?: Float32Array;
  /** the notes given at save time (empty when none) */
  readonly metadata: Record<string, unknown>;
}

function put(files: Manifest['files'], dir: string, name: string, chunks: readonly Uint8Array[] | Uint8Array | string): void {
  const list = typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  writeFileSync(join(dir, name), Buffer.concat(list as Uint8Array[]));
  files[name] = fileDigest(...list);
}

/** Saves `model` (and optionally its index) to `dir`, atomically. */
export async function saveCheckpoint(dir: string, model: TwoTowerModel, options: SaveCheckpointOptions = {}): Promise<void> {
  const weights: Record<string, SafetensorsEntry> = {};
  for (const [name, { shape, values }] of model.params.snapshot()) weights[name] = { dtype: 'F32', shape: [...shape], data: values };
  const { data, config } = model;
  const catalogue: Record<string, SafetensorsEntry> = {
    user_features: { dtype: 'F32', shape: [data.userIds.length, config.schema.userFeatureDim], data: data.userFeatures },
    item_features: { dtype: 'F32', shape: [data.itemIds.length, config.schema.itemFeatureDim], data: data.itemFeatures },
  };
  await writeDirAtomic(dir, async (tmp) => {
    const files: Manifest['files'] = {};
    put(files, tmp, 'weights.safetensors', encodeSafetensors(weights, { format: 'tt.two-tower/1' }));
    put(files, tmp, 'catalogue.safetensors', encodeSafetensors(catalogue));
    put(files, tmp, 'catalogue.json', JSON.stringify({ userIds: data.userIds, itemIds: data.itemIds }));
    if (options.seen) put(files, tmp, 'seen.safetensors', encodeSafetensors(packLists(options.seen)));
    if (options.histories) {
      const H = options.histories.length / Math.max(1, data.userIds.length);
      put(files, tmp, 'histories.safetensors', encodeSafetensors({ histories: { dtype: 'I32', shape: [data.userIds.length, H], data: options.histories } }));
    }
    if (options.popularity) put(files, tmp, 'popularity.safetensors', encodeSafetensors({ popularity: { dtype: 'F32', shape: [options.popularity.length], data: options.popularity } }));
    if (options.index) await options.index.save(join(tmp, 'index'));
    const manifest: Manifest = {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: config, metadata: options.metadata ?? {}, files, hasIndex: options.index !== undefined,
    };
    writeFileSync(join(tmp, 'checkpoint.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  });
}

/** Lists of ints as CSR: `offsets [n + 1]`, `values [total]`. */
function packLists(lists: readonly Int32Array[]): Record<string, SafetensorsEntry> {
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((l, i) => (offsets[i + 1] = offsets[i]! + l.length));
  const values = new Int32Array(offsets[lists.length]!);
  lists.forEach((l, i) => values.set(l, offsets[i]!));
  return { offsets: { dtype: 'I32', shape: [offsets.length], data: offsets }, values: { dtype: 'I32', shape: [values.length], data: values } };
}

function unpackLists(t: Record<string, SafetensorsEntry>, path: string): Int32Array[] {
  const offsets = t['offsets']?.data;
  const values = t['values']?.data;
  if (!(offsets instanceof Int32Array) || !(values instanceof Int32Array) || offsets[offsets.length - 1] !== values.length) {
    throw new CorruptFileError(path, 'needs I32 tensors "offsets" and "values" with offsets ending at values.length');
  }
  return Array.from({ length: offsets.length - 1 }, (_, i) => values.subarray(offsets[i]!, offsets[i + 1]!));
}

function readManifest(dir: string): Manifest {
  const path = join(dir, 'checkpoint.json');
  if (!existsSync(path)) throw new CorruptFileError(path, 'missing: not a tt checkpoint directory (no checkpoint.json)');
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new CorruptFileError(path, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (m?.format !== CHECKPOINT_FORMAT) throw new CorruptFileError(path, `format must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(m?.format)}`);
  if (m.version !== CHECKPOINT_VERSION) throw new MismatchError(path, `version ${CHECKPOINT_VERSION}`, String(m.version));
  if (typeof m.model !== 'object' || m.model === null || typeof m.files !== 'object') throw new CorruptFileError(path, 'lacks the model config or the file list');
  return m;
}

function readVerified(dir: string, m: Manifest, name: string): Buffer {
  const path = join(dir, name);
  const entry = m.files[name];
  if (!entry) throw new CorruptFileError(join(dir, 'checkpoint.json'), `does not list ${name}`);
  if (!existsSync(path)) throw new CorruptFileError(path, 'missing');
  const bytes = readFileSync(path);
  if (bytes.length !== entry.bytes) throw new CorruptFileError(path, `has ${bytes.length} bytes, the checkpoint wrote ${entry.bytes} (truncated or replaced)`);
  if (fileDigest(bytes).sha256 !== entry.sha256) throw new CorruptFileError(path, 'checksum mismatch (file altered or damaged)');
  return bytes;
}

function f32(entries: Record<string, SafetensorsEntry>, name: string, path: string): Float32Array {
  const e = entries[name];
  if (!e || e.dtype !== 'F32') throw new CorruptFileError(path, `lacks the F32 tensor "${name}"`);
  return e.data as Float32Array;
}

/**
 * Rebuilds the model a checkpoint was saved from (and its index, when stored).
 * @param options.stages definitions of the stages the saved config names (from their packages)
 * @param options.loadIndex load the stored index, when there is one (default true)
 * @throws CorruptFileError (missing, truncated, altered files), MismatchError (parameters that
 *   do not fit the config), ConfigError (a stage without its definition)
 */
export async function loadCheckpoint(dir: string, options: { stages?: readonly StageDefinition[]; loadIndex?: boolean } = {}): Promise<LoadedCheckpoint> {
  const m = readManifest(dir);
  const weightsPath = join(dir, 'weights.safetensors');
  const cataloguePath = join(dir, 'catalogue.safetensors');
  const weights = decodeSafetensors(readVerified(dir, m, 'weights.safetensors'), weightsPath).tensors;
  const catalogue = decodeSafetensors(readVerified(dir, m, 'catalogue.safetensors'), cataloguePath).tensors;
  let ids: { userIds: ItemId[]; itemIds: ItemId[] };
  try {
    ids = JSON.parse(readVerified(dir, m, 'catalogue.json').toString('utf8')) as typeof ids;
  } catch (e) {
    if (e instanceof CorruptFileError) throw e;
    throw new CorruptFileError(join(dir, 'catalogue.json'), 'not valid JSON', { cause: e });
  }
  const model = TwoTowerModel.create(m.model, {
    userIds: ids.userIds, itemIds: ids.itemIds,
    userFeatures: f32(catalogue, 'user_features', cataloguePath),
    itemFeatures: f32(catalogue, 'item_features', cataloguePath),
  }, options.stages ?? []);
  try {
    const values = new Map<string, NamedValues>();
    for (const [name, e] of Object.entries(weights)) {
      if (e.dtype !== 'F32') throw new CorruptFileError(weightsPath, `tensor "${name}" has dtype ${e.dtype}, expected F32`);
      values.set(name, { shape: e.shape, values: e.data as Float32Array });
    }
    model.params.restore(values, weightsPath);
    const seen = m.files['seen.safetensors'] ? unpackLists(decodeSafetensors(readVerified(dir, m, 'seen.safetensors'), join(dir, 'seen.safetensors')).tensors, join(dir, 'seen.safetensors')) : undefined;
    let histories: Int32Array | undefined;
    if (m.files['histories.safetensors']) {
      const path = join(dir, 'histories.safetensors');
      const h = decodeSafetensors(readVerified(dir, m, 'histories.safetensors'), path).tensors['histories'];
      if (!h || !(h.data instanceof Int32Array) || h.shape[0] !== ids.userIds.length) throw new CorruptFileError(path, `needs an I32 tensor "histories" of shape [${ids.userIds.length}, H]`);
      histories = h.data;
    }
    let popularity: Float32Array | undefined;
    if (m.files['popularity.safetensors']) {
      const path = join(dir, 'popularity.safetensors');
      const p = decodeSafetensors(readVerified(dir, m, 'popularity.safetensors'), path).tensors['popularity'];
      if (!p || !(p.data instanceof Float32Array) || p.data.length !== ids.itemIds.length) throw new CorruptFileError(path, `needs an F32 tensor "popularity" of shape [${ids.itemIds.length}]`);
      popularity = p.data;
    }
    const index = m.hasIndex && (options.loadIndex ?? true) ? await loadIndex(join(dir, 'index'), { dim: m.model.dim }) : undefined;
    return { model, index, seen, histories, popularity, metadata: m.metadata ?? {} };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
