/**
 * `tt export`: a checkpoint's catalogue embeddings (item ids + item-tower vectors) and its users
 * (ids, the user tower's inputs: feature rows and latest histories, and their query vectors) in
 * formats vector engines ingest: `.npy` + JSON ids, Parquet, or straight into a LanceDB table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, initBackend, loadCheckpoint, takeValues, type ItemId, type TwoTowerModel } from '@tt/core';
import { writeNpy } from '@tt/mips';
import { parquetWriteFile } from 'hyparquet-writer';
import { printJson } from '../output.js';
import { stageDefinitions } from '../stages.js';
import { historiesOfUsers } from './retrieve.js';

/** The flags of `tt export`, parsed. */
export interface ExportCliOptions {
  /** the checkpoint directory to read */
  readonly checkpoint: string;
  /** `npy`, `parquet` or `lancedb:<uri>` */
  readonly format: string;
  /** output directory of `npy` and `parquet` (default `tt-export`) */
  readonly out?: string;
  /** LanceDB table name (default `items`) */
  readonly table?: string;
  /** LanceDB ANN index to build after the upsert: ivf_pq, hnsw_pq, hnsw_sq, ivf_flat or none (default none) */
  readonly ann?: string;
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
}

/** Everything exported, row-aligned with the checkpoint's vocabularies. */
interface Exported {
  readonly itemIds: readonly ItemId[];
  /** `[items, D]` */
  readonly items: Float32Array;
  readonly userIds: readonly ItemId[];
  /** `[users, D]` query vectors, with the stored histories when the model reads them */
  readonly users: Float32Array;
  /** `[users, IU]` */
  readonly userFeatures: Float32Array;
  readonly userFeatureDim: number;
  /** `[items, II]` */
  readonly itemFeatures: Float32Array;
  readonly itemFeatureDim: number;
  /** `[users, H]` item indices, newest first, -1 padding (H = 0: none) */
  readonly histories?: Int32Array;
  readonly historyLength: number;
  readonly dim: number;
}

function userVectors(model: TwoTowerModel, histories: Int32Array | undefined, chunk = 4096): Float32Array {
  const n = model.data.userIds.length;
  const D = model.config.dim;
  const out = new Float32Array(n * D);
  for (let start = 0; start < n; start += chunk) {
    const users = Int32Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
    const h = historiesOfUsers(users, histories, model.historyLength);
    const q = model.queryEmbeddings(model.userInputOf(users, h.history, h.historyLength ?? 0));
    out.set(takeValues(q), start * D);
  }
  return out;
}

function rowsOf(values: Float32Array | Int32Array, width: number, n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from(values.subarray(i * width, (i + 1) * width)));
}

const idColumn = (name: string, ids: readonly ItemId[]) =>
  typeof ids[0] === 'number'
    ? { element: { name, type: 'INT64' as const, repetition_type: 'REQUIRED' as const }, data: BigInt64Array.from(ids as number[], (x) => BigInt(x)) }
    : { element: { name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'REQUIRED' as const }, data: (ids as readonly ItemId[]).map(String) };

/** A 3-level Parquet LIST column (what Spark, pyarrow and Milvus read as list<element>). */
function listColumn(name: string, element: { type: 'FLOAT' | 'INT64' | 'BYTE_ARRAY'; converted_type?: 'UTF8' }, data: unknown[][]) {
  return {
    elements: [
      { name, repetition_type: 'REQUIRED' as const, converted_type: 'LIST' as const, num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED' as const, num_children: 1 },
      { name: 'element', repetition_type: 'REQUIRED' as const, ...element },
    ],
    data,
  };
}

function writeTable(path: string, columns: { name: string; elements: object[]; data: unknown }[]): void {
  const schema = [{ name: 'root', num_children: columns.length }, ...columns.flatMap((c) => c.elements)];
  parquetWriteFile({ filename: path, schema: schema as never, columnData: columns.map((c) => ({ name: c.name, data: c.data as never })), rowGroupSize: 65_536 });
}

function writeParquet(out: string, e: Exported): string[] {
  const item = idColumn('item_id', e.itemIds);
  const itemColumns = [
    { name: 'item_id', elements: [item.element], data: item.data },
    { name: 'embedding', ...listColumn('embedding', { type: 'FLOAT' }, rowsOf(e.items, e.dim, e.itemIds.length)) },
  ];
  if (e.itemFeatureDim > 0) itemColumns.push({ name: 'features', ...listColumn('features', { type: 'FLOAT' }, rowsOf(e.itemFeatures, e.itemFeatureDim, e.itemIds.length)) });
  const user = idColumn('user_id', e.userIds);
  const userColumns = [
    { name: 'user_id', elements: [user.element], data: user.data },
    { name: 'embedding', ...listColumn('embedding', { type: 'FLOAT' }, rowsOf(e.users, e.dim, e.userIds.length)) },
  ];
  if (e.userFeatureDim > 0) userColumns.push({ name: 'features', ...listColumn('features', { type: 'FLOAT' }, rowsOf(e.userFeatures, e.userFeatureDim, e.userIds.length)) });
  if (e.histories) {
    // the history as catalogue item ids, newest first, padding left out
    const lists = Array.from({ length: e.userIds.length }, (_, u) => Array.from(e.histories!.subarray(u * e.historyLength, (u + 1) * e.historyLength)).filter((i) => i >= 0).map((i) => e.itemIds[i]!));
    const ints = typeof e.itemIds[0] === 'number';
    userColumns.push({
      name: 'history',
      ...listColumn('history', ints ? { type: 'INT64' } : { type: 'BYTE_ARRAY', converted_type: 'UTF8' }, ints ? lists.map((l) => l.map((x) => BigInt(x))) : lists.map((l) => l.map(String))),
    });
  }
  const files = [join(out, 'items.parquet'), join(out, 'users.parquet')];
  writeTable(files[0]!, itemColumns);
  writeTable(files[1]!, userColumns);
  return files;
}

function writeNpyFiles(out: string, e: Exported): string[] {
  const files: string[] = [];
  const npy = (name: string, data: Float32Array | Int32Array, shape: number[]) => {
    writeNpy(join(out, name), { data, shape });
    files.push(join(out, name));
  };
  const json = (name: string, value: unknown) => {
    writeFileSync(join(out, name), `${JSON.stringify(value)}\n`);
    files.push(join(out, name));
  };
  npy('items.npy', e.items, [e.itemIds.length, e.dim]);
  json('item_ids.json', e.itemIds);
  npy('users.npy', e.users, [e.userIds.length, e.dim]);
  json('user_ids.json', e.userIds);
  if (e.itemFeatureDim > 0) npy('item_features.npy', e.itemFeatures, [e.itemIds.length, e.itemFeatureDim]);
  if (e.userFeatureDim > 0) npy('user_features.npy', e.userFeatures, [e.userIds.length, e.userFeatureDim]);
  if (e.histories) npy('user_histories.npy', e.histories, [e.userIds.length, e.historyLength]);
  return files;
}

/** `@tt/lancedb`, loaded only for `--format lancedb:` (an optional peer: its native client is large). */
async function lancedbPackage(): Promise<typeof import('@tt/lancedb')> {
  try {
    return await import('@tt/lancedb');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new ConfigError('--format', 'lancedb: needs the optional package @tt/lancedb (npm install @tt/lancedb), which brings the LanceDB native client');
    }
    throw e;
  }
}

const ANN = ['ivf_pq', 'hnsw_pq', 'hnsw_sq', 'ivf_flat', 'none'] as const;

/** `tt export`: writes the checkpoint's embeddings; returns the JSON summary. */
export async function exportCheckpoint(o: ExportCliOptions): Promise<Record<string, unknown>> {
  const colon = o.format.indexOf(':');
  const kind = colon < 0 ? o.format : o.format.slice(0, colon);
  const uri = colon < 0 ? '' : o.format.slice(colon + 1);
  if (!(kind === 'npy' || kind === 'parquet' || (kind === 'lancedb' && uri))) throw new ConfigError('--format', `must be npy, parquet or lancedb:<uri>, got ${JSON.stringify(o.format)}`);
  const ann = o.ann ?? 'none';
  if (!(ANN as readonly string[]).includes(ann)) throw new ConfigError('--ann', `must be one of ${ANN.join(', ')}, got ${JSON.stringify(ann)}`);
  if (ann !== 'none' && kind !== 'lancedb') throw new ConfigError('--ann', 'builds a LanceDB index: use it with --format lancedb:<uri>');
  const lancedb = kind === 'lancedb' ? await lancedbPackage() : undefined;
  const backend = await initBackend({ backend: o.backend });
  const { model, histories } = await loadCheckpoint(o.checkpoint, { stages: stageDefinitions, loadIndex: false });
  try {
    const { data, config } = model;
    const H = model.historyLength;
    const e: Exported = {
      itemIds: data.itemIds, items: model.catalogueEmbeddings(), userIds: data.userIds, users: userVectors(model, histories),
      userFeatures: data.userFeatures, userFeatureDim: config.schema.userFeatureDim, itemFeatures: data.itemFeatures, itemFeatureDim: config.schema.itemFeatureDim,
      histories: H > 0 ? histories : undefined, historyLength: H > 0 && histories ? H : 0, dim: config.dim,
    };
    let summary: Record<string, unknown>;
    if (lancedb) {
      const table = o.table ?? 'items';
      const index = await lancedb.LanceIndex.open({ uri, table, dim: config.dim });
      try {
        const sync = await lancedb.syncCatalogue(model, index, { prune: true, optimize: ann === 'none' });
        if (ann !== 'none') await index.createAnnIndex({ type: ann as Exclude<(typeof ANN)[number], 'none'>, ...(ann === 'hnsw_sq' && config.normalize ? { distance: 'cosine' as const } : {}) });
        summary = { format: 'lancedb', uri, table, rows: index.size, ...sync, ann };
      } finally {
        await index.dispose();
      }
      process.stdout.write(`lancedb: ${summary['rows']} items in table ${table} at ${uri}\n`);
    } else {
      const out = resolve(o.out ?? 'tt-export');
      mkdirSync(out, { recursive: true });
      const files = kind === 'npy' ? writeNpyFiles(out, e) : writeParquet(out, e);
      for (const f of files) process.stdout.write(`${f}\n`);
      summary = { format: kind, out, files };
    }
    const result = { backend: backend.name, checkpoint: resolve(o.checkpoint), items: e.itemIds.length, users: e.userIds.length, dim: e.dim, historyLength: e.historyLength, ...summary };
    if (o.json) printJson(result);
    return result;
  } finally {
    model.dispose();
  }
}
