/**
 * `tt import`: a two-tower trained in PyTorch (the reference module of tools/pytorch/tt_torch.py,
 * or any module with the same parameter names) back into a tt checkpoint that `tt retrieve` and
 * `tt eval` serve. The model's config and catalogue (vocabularies, feature tables, seen items,
 * histories) come from a template checkpoint, typically the one the PyTorch run started from;
 * the weights come from the safetensors file of the module's `state_dict`.
 *
 * Names: tt's `X.w` `[in, out]` is PyTorch's `X.weight` `[out, in]` (nn.Linear, transposed),
 * `X.b` is `X.bias`, a layer norm's `X.gamma` / `X.beta` are `X.weight` / `X.bias`, and an
 * embedding table `X` `[rows, dim]` is `X.weight` (nn.Embedding).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  buildItemIndex, CorruptFileError, decodeSafetensors, initBackend, loadCheckpoint, MismatchError, saveCheckpoint,
  type NamedValues, type TwoTowerConfig,
} from '@tt/core';
import { printJson } from '../output.js';
import { stageDefinitions } from '../stages.js';

/** The flags of `tt import`, parsed. */
export interface ImportCliOptions {
  /** the safetensors file of the PyTorch module's state_dict */
  readonly weights: string;
  /** the checkpoint whose config and catalogue the weights belong to */
  readonly like: string;
  /** where to write the new checkpoint */
  readonly checkpoint: string;
  /** parameters the file lacks keep the template's values (default: every parameter is required) */
  readonly partial?: boolean;
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
}

/** The PyTorch `state_dict` key of a tt parameter, and whether the matrix is stored transposed there. */
export function torchKey(name: string): { key: string; transpose: boolean } {
  if (name.endsWith('.w')) return { key: `${name.slice(0, -2)}.weight`, transpose: true };
  if (name.endsWith('.b')) return { key: `${name.slice(0, -2)}.bias`, transpose: false };
  if (name.endsWith('.gamma')) return { key: `${name.slice(0, -6)}.weight`, transpose: false };
  if (name.endsWith('.beta')) return { key: `${name.slice(0, -5)}.bias`, transpose: false };
  return { key: `${name}.weight`, transpose: false };
}

function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** The config fields that fix the parameters' shapes, checked against the file's `tt.config` when it has one. */
function checkStoredConfig(stored: string | undefined, config: TwoTowerConfig, path: string): void {
  if (stored === undefined) return;
  let other: Partial<TwoTowerConfig>;
  try {
    other = JSON.parse(stored) as Partial<TwoTowerConfig>;
  } catch (e) {
    throw new CorruptFileError(path, 'its metadata "tt.config" is not valid JSON', { cause: e });
  }
  const shape = (c: Partial<TwoTowerConfig>) => ({
    dim: c.dim, hidden: c.hidden, userRows: c.userRows, itemRows: c.itemRows,
    userFeatureDim: c.schema?.userFeatureDim, itemFeatureDim: c.schema?.itemFeatureDim,
    stages: JSON.stringify((c.stages ?? []).map((s) => s.name)),
  });
  const want = shape(config);
  const got = shape(other);
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (want[k] !== got[k]) throw new MismatchError(k, `${want[k]} (the template checkpoint's)`, `${got[k]} in ${path}`);
  }
}

/** `tt import`: writes a checkpoint with the file's weights; returns the JSON summary. */
export async function importTorch(o: ImportCliOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: o.backend });
  const path = resolve(o.weights);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CorruptFileError(path, 'cannot be read', { cause: e });
  }
  const file = decodeSafetensors(bytes, path);
  const { model, seen, histories, metadata } = await loadCheckpoint(o.like, { stages: stageDefinitions, loadIndex: false });
  try {
    checkStoredConfig(file.metadata['tt.config'], model.config, path);
    const used = new Set<string>();
    const values = new Map<string, NamedValues>();
    let kept = 0;
    for (const [name, current] of model.params.snapshot()) {
      const { key, transpose } = torchKey(name);
      const t = file.tensors[key];
      const expected = transpose ? [current.shape[1]!, current.shape[0]!] : [...current.shape];
      if (!t) {
        if (!o.partial) throw new MismatchError(key, `a tensor of shape [${expected.join(', ')}] (tt parameter ${name})`, `none in ${path}`);
        values.set(name, current);
        kept++;
        continue;
      }
      used.add(key);
      if (t.dtype !== 'F32') throw new MismatchError(key, 'dtype F32 (save the state_dict in float32)', t.dtype);
      if (t.shape.join() !== expected.join()) throw new MismatchError(key, `shape [${expected.join(', ')}] (tt parameter ${name})`, `[${t.shape.join(', ')}]`);
      const data = t.data as Float32Array;
      values.set(name, { shape: current.shape, values: transpose ? transposed(data, expected[0]!, expected[1]!) : data });
    }
    const extra = Object.keys(file.tensors).find((k) => !used.has(k));
    if (extra !== undefined) throw new MismatchError(extra, `only the template model's parameters (${values.size} of them)`, `tensor ${extra}, which it lacks`);
    model.params.restore(values, path);
    const index = await buildItemIndex(model);
    const out = resolve(o.checkpoint);
    try {
      await saveCheckpoint(out, model, { index, seen, histories, metadata: { ...metadata, importedFrom: path, template: resolve(o.like) } });
    } finally {
      await index.dispose();
    }
    process.stdout.write(`checkpoint: ${out}\n`);
    const result = { backend: backend.name, checkpoint: out, parameters: values.size, imported: values.size - kept, kept };
    if (o.json) printJson(result);
    return result;
  } finally {
    model.dispose();
  }
}
