/**
 * `tt demo`: the full funnel on the built-in synthetic world (EVAL.md section 2): train,
 * evaluate (recall, alignment with the main ranker's value, value of the final top 10), save a
 * checkpoint, load it back, and retrieve for a few users.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  evaluateFunnel, evaluateModel, evaluateModelFunnel, fitTwoTower, initBackend, trainingItems, trainingLog, loadCheckpoint, popularityScores,
  Retriever, syntheticWorld, topKExcluding, type InteractionDataset, type TwoTowerModel,
} from '@tt/core';
import { printJson, table } from '../output.js';
import { historiesOfUsers } from './retrieve.js';
import { saveWithIndex, popularityMetrics } from './train.js';
import { DEMO_BIASED_WORLD, DEMO_EPOCHS, DEMO_ROWS, DEMO_WORLD, stageDefinitions, stagesFromFlags } from '../stages.js';

export interface DemoStageRow {
  readonly name: string;
  readonly 'recall@20': number;
  readonly 'alignment@10/100': number;
  readonly 'value@10': number;
}

/** Funnel metrics of the popularity ranking, the floor every stage must beat. */
async function popularityFunnel(world: InteractionDataset): Promise<DemoStageRow> {
  const pop = popularityScores(trainingLog(world), world.schema.numItems, world.valueWeights, world.schema.tasks.length);
  const seen = trainingItems(world);
  const users = Int32Array.from(new Set(world.test.user));
  const funnel = await evaluateFunnel({ truth: world.truth!, users, seen, retrieved: async (batch) => Array.from(batch, (u) => topKExcluding(pop, 100, seen[u])) });
  const recall = await popularityMetrics(world);
  return { name: 'popularity', 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'] };
}

export async function demo(o: { json?: boolean; checkpoint?: string; seed?: number; epochs?: number; backend?: 'tensorflow' | 'wasm' | 'cpu' }): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const backend = await initBackend({ backend: o.backend });
  const world = syntheticWorld({ ...DEMO_WORLD, seed: o.seed ?? 0, validation: true });
  let biased: InteractionDataset | undefined; // DEMO_BIASED_WORLD, made when a row needs it
  process.stderr.write(`[tt] synthetic world: ${world.schema.numUsers} users, ${world.schema.numItems} items, ${world.train.size} impressions, tasks ${world.schema.tasks.join('/')}\n`);
  const dir = o.checkpoint ? resolve(o.checkpoint) : mkdtempSync(join(tmpdir(), 'tt-demo-'));
  const rows: DemoStageRow[] = [];
  let model: TwoTowerModel | undefined;
  let epochs = 0;
  let examplesPerSec = 0;
  try {
    // the base model, then one model per demo row of the stage packages; the last one is served
    for (const [i, row] of DEMO_ROWS.entries()) {
      const parsed = stagesFromFlags(row.stages.join(','));
      const { definitions } = parsed;
      const configs = parsed.configs.map((c) => ({ ...c, options: { ...c.options, ...row.options?.[c.name] } }));
      process.stderr.write(`[tt] training "${row.name}"${configs.length ? ` (stages: ${row.stages.join(', ')})` : ''}\n`);
      const rowEpochs = o.epochs ?? DEMO_EPOCHS;
      const rowWorld = row.biasedWorld ? (biased ??= syntheticWorld({ ...DEMO_BIASED_WORLD, seed: o.seed ?? 0, validation: true })) : world;
      const fitted = await fitTwoTower(rowWorld, { epochs: rowEpochs, patience: rowEpochs, restoreBest: false, seed: o.seed, stages: definitions, model: { stages: configs } });
      model?.dispose();
      model = fitted.model;
      epochs += fitted.result.epochs;
      examplesPerSec = fitted.result.examplesPerSec;
      const recall = await evaluateModel(model, rowWorld, 'test');
      const funnel = await evaluateModelFunnel(model, rowWorld);
      rows.push({ name: row.name, 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'] });
      if (i + 1 < DEMO_ROWS.length) {
        model.dispose();
        model = undefined;
      }
    }
    const popularity = await popularityFunnel(world);
    await saveWithIndex(dir, model!, world, { dataset: world.name, stages: DEMO_ROWS[DEMO_ROWS.length - 1]!.stages });

    // serve from the saved checkpoint, as a deployment would
    const loaded = await loadCheckpoint(dir, { stages: stageDefinitions });
    const retriever = Retriever.over(loaded.model, loaded.index!);
    const users = Int32Array.from([0, 1, 2]);
    const top = await retriever.retrieve(users, 5, { exclude: Array.from(users, (u) => loaded.seen?.[u]), ...historiesOfUsers(users, loaded.histories, loaded.model.historyLength) });
    await retriever.dispose();
    loaded.model.dispose();

    const out = process.stdout;
    out.write(`\nFunnel metrics (${world.test.size} test users, whole catalogue, seen items excluded)\n`);
    out.write(`${table(['stage', 'recall@20', 'alignment@10/100', 'value@10'], [popularity, ...rows].map((r) => [r.name, r['recall@20'], r['alignment@10/100'], r['value@10']]))}\n`);
    if (biased) out.write('("trending-first": the same users and items, but the logging policy laid each slate out most popular first, so positions mislead the clicks)\n');
    out.write(`\nTop 5 for three users, served from ${dir}\n`);
    out.write(`${table(['user', 'items (best first)', 'true value of each'], top.map((r, i) => {
      const truth = world.truth!.valueOfAllItems(users[i]!);
      return [world.userIds[users[i]!], r.items.join(' '), r.items.map((id) => truth[world.itemIds.indexOf(id)]!.toFixed(3)).join(' ')];
    }))}\n`);
    const seconds = (performance.now() - t0) / 1000;
    out.write(`\n${backend.name} backend, ${epochs} epochs in all, last model at ${examplesPerSec.toFixed(0)} examples/s, ${seconds.toFixed(1)} s in all\n`);
    const summary = { backend: backend.name, seconds, epochs, examplesPerSec, stages: rows, popularity, checkpoint: o.checkpoint ? dir : undefined };
    if (o.json) printJson(summary);
    return summary;
  } finally {
    model?.dispose();
    if (!o.checkpoint) rmSync(dir, { recursive: true, force: true });
  }
}
