/**
 * `tt world list` and `tt world export NAME DIR`: the synthetic world suite, and any of its worlds
 * written as plain files so that any tool can be run on it and judged against the truth:
 * - `train.csv`, `test.csv`: the generic interaction CSV (EVAL.md section 3), the loo-full split
 *   already made (train holds the validation rows too: `tt train` makes its own);
 * - `users.csv`, `items.csv`: the dense features, for `--user-features` / `--item-features`;
 * - `truth.npy`: float32 `[users, items]`, the main ranker's true value V(u, i) (ids are indices;
 *   `tt train` / `tt eval --truth` score against it);
 * - `world.json`: the world's name, description, seed, generator options, tasks and value weights.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, HELD_OUT_WORLDS, syntheticWorld, trainingLog, worldByName, WORLD_SUITE, type InteractionDataset, type InteractionLog } from '@tt/core';
import { writeDirAtomic, writeFileAtomic, writeNpy } from '@tt/mips';
import { printJson, table } from '../output.js';

/** `tt world list`: the suite's worlds and the held-out ones. */
export function listWorlds(o: { json?: boolean }): Record<string, unknown> {
  const worlds = [...WORLD_SUITE.map((w) => ({ ...w, heldOut: false })), ...HELD_OUT_WORLDS.map((w) => ({ ...w, heldOut: true }))];
  process.stdout.write(`${table(['world', 'held out', 'what sets it apart'], worlds.map((w) => [w.name, w.heldOut ? 'yes' : '', w.description]))}\n`);
  const out = { worlds: worlds.map(({ name, description, options, heldOut }) => ({ name, description, options, heldOut })) };
  if (o.json) printJson(out);
  return out;
}

/** The rows of a log as CSV lines (header first); unscored ranker entries are empty cells. */
function logCsv(log: InteractionLog, tasks: readonly string[]): string {
  const T = tasks.length;
  const header = ['user_id', 'item_id', ...(log.timestamp ? ['timestamp'] : []), ...(log.position ? ['position'] : []),
    ...tasks.map((t) => `label_${t}`), ...(log.rankerScores ? tasks.map((t) => `ranker_${t}`) : [])];
  const lines = [header.join(',')];
  for (let r = 0; r < log.size; r++) {
    const f: (string | number)[] = [log.user[r]!, log.item[r]!];
    if (log.timestamp) f.push(log.timestamp[r]!);
    if (log.position) f.push(log.position[r]!);
    for (let t = 0; t < T; t++) f.push(log.labels[r * T + t]!);
    if (log.rankerScores) for (let t = 0; t < T; t++) f.push(Number.isNaN(log.rankerScores[r * T + t]!) ? '' : log.rankerScores[r * T + t]!);
    lines.push(f.join(','));
  }
  return `${lines.join('\n')}\n`;
}

function featureCsv(idColumn: string, values: Float32Array, n: number, d: number): string {
  const lines = [[idColumn, ...Array.from({ length: d }, (_, j) => `f${j}`)].join(',')];
  for (let i = 0; i < n; i++) lines.push([i, ...values.subarray(i * d, (i + 1) * d)].join(','));
  return `${lines.join('\n')}\n`;
}

/** Rows of the training log in time order (train and validation are stored apart). */
function chronological(dataset: InteractionDataset): InteractionLog {
  const log = trainingLog(dataset);
  const ts = log.timestamp!;
  const order = Int32Array.from({ length: log.size }, (_, i) => i).sort((a, b) => ts[a]! - ts[b]! || a - b);
  const T = dataset.schema.tasks.length;
  const pick = <A extends Int32Array | Float32Array | Float64Array>(src: A | undefined, w: number, make: (n: number) => A): A | undefined => {
    if (!src) return undefined;
    const out = make(order.length * w);
    order.forEach((r, k) => out.set(src.subarray(r * w, (r + 1) * w), k * w));
    return out;
  };
  return {
    size: log.size, user: pick(log.user, 1, (n) => new Int32Array(n))!, item: pick(log.item, 1, (n) => new Int32Array(n))!,
    labels: pick(log.labels, T, (n) => new Float32Array(n))!, position: pick(log.position, 1, (n) => new Int32Array(n)),
    rankerScores: pick(log.rankerScores, T, (n) => new Float32Array(n)), timestamp: pick(log.timestamp, 1, (n) => new Float64Array(n)),
  };
}

/** `tt world export NAME DIR`: writes the world's files (see the module comment); returns the JSON summary. */
export async function exportWorld(name: string, dir: string, o: { seed?: number; json?: boolean }): Promise<Record<string, unknown>> {
  const world = worldByName(name);
  const target = resolve(dir);
  // never replace a folder of other files: only a new or empty one, or an earlier export
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new ConfigError('DIR', `${target} is a file; give a new directory`);
    const entries = readdirSync(target);
    if (entries.length > 0 && !entries.includes('world.json')) throw new ConfigError('DIR', `${target} holds other files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); give a new or empty directory, or an earlier world export`);
  }
  const seed = o.seed ?? 0;
  const dataset = syntheticWorld({ ...world.options, seed, validation: false });
  const { schema } = dataset;
  const truth = new Float32Array(schema.numUsers * schema.numItems);
  for (let u = 0; u < schema.numUsers; u++) truth.set(dataset.truth!.valueOfAllItems(u), u * schema.numItems);
  const meta = {
    world: world.name, description: world.description, seed, options: world.options, tasks: schema.tasks, valueWeights: Array.from(dataset.valueWeights),
    users: schema.numUsers, items: schema.numItems, trainRows: dataset.train.size, testRows: dataset.test.size,
    files: {
      'train.csv': 'training rows (the generic interaction CSV), in time order',
      'test.csv': "each evaluated user's last positive row (loo-full)",
      'users.csv': 'user features', 'items.csv': 'item features',
      'truth.npy': 'float32 [users, items]: the true value V(u, i) = sum_t w_t p_t(u, i) (user and item ids are the indices)',
    },
    // the world's value weights and its truth: the same model and the same numbers as `tt train --data world:NAME`
    train: `tt train --data csv:${join(target, 'train.csv')},${join(target, 'test.csv')} --user-features ${join(target, 'users.csv')} --item-features ${join(target, 'items.csv')}`
      + ` --value-weights ${Array.from(dataset.valueWeights).join(',')} --truth ${join(target, 'truth.npy')} --seed ${seed}`,
  };
  await writeDirAtomic(target, (tmp) => {
    writeFileAtomic(join(tmp, 'train.csv'), logCsv(chronological(dataset), schema.tasks));
    writeFileAtomic(join(tmp, 'test.csv'), logCsv(dataset.test, schema.tasks));
    writeFileAtomic(join(tmp, 'users.csv'), featureCsv('user_id', dataset.userFeatures, schema.numUsers, schema.userFeatureDim));
    writeFileAtomic(join(tmp, 'items.csv'), featureCsv('item_id', dataset.itemFeatures, schema.numItems, schema.itemFeatureDim));
    writeNpy(join(tmp, 'truth.npy'), { data: truth, shape: [schema.numUsers, schema.numItems] });
    writeFileAtomic(join(tmp, 'world.json'), `${JSON.stringify(meta, null, 2)}\n`);
  });
  process.stdout.write(`world ${world.name} (seed ${seed}): ${schema.numUsers} users, ${schema.numItems} items, ${dataset.train.size} training rows, ${dataset.test.size} test rows -> ${target}\n`);
  const out = { ...meta, dir: target };
  if (o.json) printJson(out);
  return out;
}
