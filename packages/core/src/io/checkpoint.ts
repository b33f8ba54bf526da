/**
 * Checkpoints: a directory that rebuilds its own model.
 *
 *   checkpoint.json      format, the model config, training notes, size + SHA-256 of each file
 *   weights.safetensors  every parameter by name (readable by PyTorch's safetensors)
 *   catalogue.safetensors + catalogue.json  feature tables and the user/item vocabularies
 *   seen / histories / popularity.safetensors  for serving: per-user training items, latest
 *                        histories, item popularity (each optional)
 *   index/               the @tt/mips index of the catalogue (optional)
 *   training.safetensors an interrupted run's state (current parameters, optimizer moments, logQ
 *                        estimate), with `training` in checkpoint.json: where it stopped
 *
 * Written into a temporary directory and swapped in whole, so a failure leaves the previous
 * checkpoint or nothing; a save replaces only a tt checkpoint or an empty directory (never a
 * folder holding anything else). `checkpoint.json` carries the SHA-256 of its own content
 * besides the size and SHA-256 of every other file, and loading verifies them all before
 * parsing anything. A load first puts back a checkpoint a killed save left under `.DIR.old-*`.
 */
import { accessSync, constants, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { fileDigest, loadIndex, recoverDir, writeDirAtomic, type MipsIndex } from '@tt/mips';
import { CorruptFileError, FileSystemError, MismatchError, TtError } from '../errors.js';
import type { ItemId } from '../data/types.js';
import type { TwoTowerConfig } from '../model/config.js';
import type { StageDefinition } from '../model/stages.js';
import { TwoTowerModel } from '../model/two-tower.js';
import type { NamedValues } from '../nn/params.js';
import { checkProgress, type TrainerProgress, type TrainerState } from '../train/trainer-state.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'tt.checkpoint';
/** 2: `checkpoint.json` checksums itself (`sha256`); version 1 checkpoints still load. */
export const CHECKPOINT_VERSION = 2;

interface Manifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: number;
  readonly model: TwoTowerConfig;
  /** free-form notes: epochs, metrics, backend... */
  readonly metadata: Record<string, unknown>;
  readonly files: Record<string, { bytes: number; sha256: string }>;
  readonly hasIndex: boolean;
  /** present when the run was interrupted: where it stopped, and the state to resume from */
  readonly training?: TrainingRecord;
  /** SHA-256 of the manifest's JSON without this field (version >= 2) */
  readonly sha256?: string;
}

/** What `checkpoint.json` says about an interrupted run (its arrays are in `training.safetensors`). */
export interface TrainingRecord {
  /** always true: only an interrupted run stores its training state */
  readonly interrupted: true;
  /** the epoch (1-based) the run stopped in */
  readonly stoppedInEpoch: number;
  /** epochs finished before it stopped */
  readonly epochsFinished: number;
  /** gradient steps taken */
  readonly steps: number;
  /** the state to resume from (JSON part) */
  readonly progress: TrainerProgress;
}

/** The text of `checkpoint.json`: the manifest with the checksum of its own JSON appended. */
export function manifestText(manifest: Omit<Manifest, 'sha256'>): string {
  const body = { ...manifest };
  delete (body as { sha256?: string }).sha256;
  return `${JSON.stringify({ ...body, sha256: manifestDigest(body) }, null, 1)}\n`;
}

function manifestDigest(body: object): string {
  return createHash('sha256').update(JSON.stringify(body, null, 1)).digest('hex');
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
  /** replace `dir` even when it holds something other than a tt checkpoint (default false) */
  readonly force?: boolean;
  /**
   * an interrupted run's state (`TrainResult.state`): the checkpoint is then marked interrupted
   * and `fitTwoTower(dataset, { resume })` continues it; the model saved is the best so far
   */
  readonly training?: TrainerState;
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
  /** an interrupted run's state, when the checkpoint was saved by one (else undefined: a finished run) */
  readonly training?: TrainerState;
}

function put(files: Manifest['files'], dir: string, name: string, chunks: readonly Uint8Array[] | Uint8Array | string): void {
  const list = typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  writeFileSync(join(dir, name), Buffer.concat(list as Uint8Array[]));
  files[name] = fileDigest(...list);
}

/** Whether `dir` holds a tt checkpoint (its `checkpoint.json` names the format). */
function holdsCheckpoint(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { format?: unknown })?.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

/** @throws FileSystemError (about `target`) when this process may not create entries in `parent` */
function checkWritable(parent: string, target: string): void {
  try {
    accessSync(parent, constants.W_OK);
  } catch (e) {
    throw new FileSystemError(target, 'write', `cannot be written: no permission to write into ${parent}`, { systemCode: (e as { code?: string }).code, cause: e });
  }
}

/**
 * Checks, before any work, that a checkpoint can be saved at `dir`: a path that does not exist
 * yet (whose first existing ancestor is a writable directory), an empty directory, or a
 * directory holding a tt checkpoint (which the save replaces). Anything else (a file, a folder
 * with other content, e.g. `.`) is refused unless `force`, so a save never deletes a user's files.
 * @returns the absolute path
 * @throws FileSystemError naming the path
 */
export function checkCheckpointTarget(dir: string, options: { force?: boolean } = {}): string {
  const target = resolve(dir);
  let stat;
  try {
    stat = statSync(target, { throwIfNoEntry: false });
  } catch (e) {
    throw FileSystemError.from(e, target, 'write');
  }
  if (stat) {
    if (!stat.isDirectory()) throw new FileSystemError(target, 'write', 'exists and is not a directory: a checkpoint is a directory');
    checkWritable(dirname(target), target);
    if (options.force || holdsCheckpoint(target)) return target;
    let entries: string[];
    try {
      entries = readdirSync(target);
    } catch (e) {
      throw FileSystemError.from(e, target, 'write');
    }
    if (entries.length > 0) {
      throw new FileSystemError(target, 'write', `holds ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (e.g. ${JSON.stringify(entries[0])}) and no tt checkpoint; a save would replace them: choose a new or empty directory (or force the save)`);
    }
    return target;
  }
  // a new directory: the first existing ancestor must be a directory we may write into
  let ancestor = dirname(target);
  for (;;) {
    let s;
    try {
      s = statSync(ancestor, { throwIfNoEntry: false });
    } catch (e) {
      throw FileSystemError.from(e, target, 'write');
    }
    if (s) {
      if (!s.isDirectory()) throw new FileSystemError(target, 'write', `cannot be created: ${ancestor} is a file, not a directory`, { systemCode: 'ENOTDIR' });
      checkWritable(ancestor, target);
      break;
    }
    const up = dirname(ancestor);
    if (up === ancestor) break;
    ancestor = up;
  }
  return target;
}

/**
 * Saves `model` (and optionally its index) to `dir`, atomically.
 * @throws FileSystemError when `dir` is not a new directory, an empty one or a tt checkpoint
 *   (see {@link checkCheckpointTarget}; `options.force` overrides), or when the file system refuses
 */
export async function saveCheckpoint(dir: string, model: TwoTowerModel, options: SaveCheckpointOptions = {}): Promise<void> {
  checkCheckpointTarget(dir, { force: options.force });
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
    let training: TrainingRecord | undefined;
    if (options.training) {
      const p = options.training.progress;
      put(files, tmp, 'training.safetensors', encodeSafetensors(options.training.arrays, { format: 'tt.training-state/1' }));
      training = { interrupted: true, stoppedInEpoch: p.epoch + 1, epochsFinished: p.history.length, steps: p.steps, progress: p };
    }
    const manifest: Manifest = {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: config, metadata: options.metadata ?? {}, files, hasIndex: options.index !== undefined,
      ...(training ? { training } : {}),
    };
    writeFileSync(join(tmp, 'checkpoint.json'), manifestText(manifest));
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

/** A file's bytes; a missing file is `missing` (a CorruptFileError), other refusals a FileSystemError. */
function readBytes(path: string, missing: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw new CorruptFileError(path, missing, { cause: e });
    throw FileSystemError.from(e, path, 'read');
  }
}

function readManifest(dir: string): Manifest {
  const path = join(dir, 'checkpoint.json');
  let stat;
  try {
    stat = statSync(dir, { throwIfNoEntry: false });
  } catch (e) {
    throw FileSystemError.from(e, dir, 'read');
  }
  if (!stat) throw new FileSystemError(dir, 'read', 'no such checkpoint directory', { systemCode: 'ENOENT' });
  if (!stat.isDirectory()) throw new FileSystemError(dir, 'read', 'is not a directory: a checkpoint is a directory', { systemCode: 'ENOTDIR' });
  const text = readBytes(path, 'missing: not a tt checkpoint directory (no checkpoint.json)').toString('utf8');
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new CorruptFileError(path, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof m !== 'object' || m === null || m.format !== CHECKPOINT_FORMAT) throw new CorruptFileError(path, `format must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify((m as Partial<Manifest> | null)?.format)}`);
  if (m.version !== CHECKPOINT_VERSION && m.version !== 1) throw new MismatchError(path, `version ${CHECKPOINT_VERSION} (or 1)`, String(m.version));
  if (m.version >= 2) {
    const { sha256, ...body } = m;
    if (typeof sha256 !== 'string' || sha256 !== manifestDigest(body)) throw new CorruptFileError(path, 'checksum mismatch (file altered or damaged)');
  }
  if (typeof m.model !== 'object' || m.model === null || typeof m.files !== 'object' || m.files === null) throw new CorruptFileError(path, 'lacks the model config or the file list');
  return m;
}

function readVerified(dir: string, m: Manifest, name: string): Buffer {
  const path = join(dir, name);
  const entry = m.files[name];
  if (!entry) throw new CorruptFileError(join(dir, 'checkpoint.json'), `does not list ${name}`);
  const bytes = readBytes(path, 'missing');
  if (bytes.length !== entry.bytes) throw new CorruptFileError(path, `has ${bytes.length} bytes, the checkpoint wrote ${entry.bytes} (truncated or replaced)`);
  if (fileDigest(bytes).sha256 !== entry.sha256) throw new CorruptFileError(path, 'checksum mismatch (file altered or damaged)');
  return bytes;
}

/**
 * Checks a stored model config field by field before anything is built from it: a checkpoint.json
 * that passes its checksum can still have been written (re-signed) with values no model has.
 * @throws CorruptFileError naming checkpoint.json and the field
 */
function checkStoredConfig(config: TwoTowerConfig, weights: Record<string, SafetensorsEntry>, path: string): void {
  const bad = (field: string, why: string) => new CorruptFileError(path, `model.${field}: ${why}`);
  const int = (field: string, v: unknown, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2 ** 31 - 1) throw bad(field, `must be an integer in [${min}, 2^31 - 1], got ${JSON.stringify(v)}`);
  };
  const bool = (field: string, v: unknown) => {
    if (typeof v !== 'boolean') throw bad(field, `must be true or false, got ${JSON.stringify(v)}`);
  };
  const positive = (field: string, v: unknown) => {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw bad(field, `must be a finite number > 0, got ${JSON.stringify(v)}`);
  };
  if (config.format !== 'tt.two-tower/1') throw bad('format', `must be "tt.two-tower/1", got ${JSON.stringify(config.format)}`);
  const s = config.schema;
  if (typeof s !== 'object' || s === null) throw bad('schema', 'must be an object');
  int('schema.numUsers', s.numUsers, 1);
  int('schema.numItems', s.numItems, 1);
  int('schema.userFeatureDim', s.userFeatureDim, 0);
  int('schema.itemFeatureDim', s.itemFeatureDim, 0);
  int('schema.numPositions', s.numPositions, 0);
  bool('schema.hasRankerScores', s.hasRankerScores);
  if (!Array.isArray(s.tasks) || s.tasks.length === 0 || !s.tasks.every((t) => typeof t === 'string' && t)) throw bad('schema.tasks', 'must be a non-empty array of names');
  if (!Array.isArray(s.labelMax) || s.labelMax.length !== s.tasks.length) throw bad('schema.labelMax', `must hold ${s.tasks.length} numbers`);
  s.labelMax.forEach((x, t) => positive(`schema.labelMax[${t}]`, x));
  for (const k of ['dim', 'hidden', 'userRows', 'itemRows'] as const) int(k, config[k], 1);
  int('mixedNegatives', config.mixedNegatives, 0);
  int('seed', config.seed, -(2 ** 31));
  positive('temperature', config.temperature);
  positive('logQAlpha', config.logQAlpha);
  for (const k of ['normalize', 'logQ', 'removeAccidentalHits'] as const) bool(k, config[k]);
  if (!Array.isArray(config.valueWeights) || config.valueWeights.length !== s.tasks.length || !config.valueWeights.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0)) {
    throw bad('valueWeights', `must hold ${s.tasks.length} finite numbers >= 0`);
  }
  if (!Array.isArray(config.stages) || !config.stages.every((st) => typeof st?.name === 'string' && (st.options === undefined || (typeof st.options === 'object' && st.options !== null)))) {
    throw bad('stages', 'must be an array of { name, options }');
  }
  // the id tables are the largest allocations: their stored shapes must be the config's
  for (const [name, rows] of [['user.embedding', config.userRows], ['item.embedding', config.itemRows]] as const) {
    const shape = weights[name]?.shape;
    if (!shape || shape[0] !== rows || shape[1] !== config.dim) throw new MismatchError(`${path}: ${name}`, `shape [${rows}, ${config.dim}] (the config's)`, shape ? `[${shape.join(', ')}]` : 'none');
  }
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
 *   do not fit the config), ConfigError (a stage without its definition), FileSystemError (no such
 *   directory, or the file system refuses a read)
 */
export async function loadCheckpoint(dir: string, options: { stages?: readonly StageDefinition[]; loadIndex?: boolean } = {}): Promise<LoadedCheckpoint> {
  recoverDir(dir);
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
  const manifestPath = join(dir, 'checkpoint.json');
  checkStoredConfig(m.model, weights, manifestPath);
  if (!Array.isArray(ids?.userIds) || !Array.isArray(ids?.itemIds)) throw new CorruptFileError(join(dir, 'catalogue.json'), 'needs the arrays userIds and itemIds');
  let model: TwoTowerModel;
  try {
    model = TwoTowerModel.create(m.model, {
      userIds: ids.userIds, itemIds: ids.itemIds,
      userFeatures: f32(catalogue, 'user_features', cataloguePath),
      itemFeatures: f32(catalogue, 'item_features', cataloguePath),
    }, options.stages ?? []);
  } catch (e) {
    if (e instanceof TtError) throw e;
    throw new CorruptFileError(manifestPath, `describes a model that cannot be built (${(e as Error).message})`, { cause: e });
  }
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
    let training: TrainerState | undefined;
    if (m.training) {
      const path = join(dir, 'training.safetensors');
      try {
        checkProgress(m.training.progress);
      } catch (e) {
        throw new CorruptFileError(join(dir, 'checkpoint.json'), `training: ${(e as Error).message}`, { cause: e });
      }
      training = { progress: m.training.progress, arrays: decodeSafetensors(readVerified(dir, m, 'training.safetensors'), path).tensors };
    }
    let popularity: Float32Array | undefined;
    if (m.files['popularity.safetensors']) {
      const path = join(dir, 'popularity.safetensors');
      const p = decodeSafetensors(readVerified(dir, m, 'popularity.safetensors'), path).tensors['popularity'];
      if (!p || !(p.data instanceof Float32Array) || p.data.length !== ids.itemIds.length) throw new CorruptFileError(path, `needs an F32 tensor "popularity" of shape [${ids.itemIds.length}]`);
      popularity = p.data;
    }
    const index = m.hasIndex && (options.loadIndex ?? true) ? await loadIndex(join(dir, 'index'), { dim: m.model.dim }) : undefined;
    return { model, index, seen, histories, popularity, metadata: m.metadata ?? {}, training };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
