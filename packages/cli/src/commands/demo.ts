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
  Retriever, syntheticWorld, topKExcluding, type InteractionDataset,
} from '@tt/core';
import { printJson, table } from '../output.js';
import { saveWithIndex, popularityMetrics } from './train.js';
import { stageDefinitions } from '../stages.js';

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
  const world = syntheticWorld({ seed: o.seed ?? 0, validation: true });
  process.stderr.write(`[tt] synthetic world: ${world.schema.numUsers} users, ${world.schema.numItems} items, ${world.train.size} impressions, tasks ${world.schema.tasks.join('/')}\n`);
  const { model, result } = await fitTwoTower(world, { epochs: o.epochs, seed: o.seed });
  const dir = o.checkpoint ? resolve(o.checkpoint) : mkdtempSync(join(tmpdir(), 'tt-demo-'));
  try {
    const recall = await evaluateModel(model, world, 'test');
    const funnel = await evaluateModelFunnel(model, world);
    const base: DemoStageRow = { name: 'base', 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'] };
    const popularity = await popularityFunnel(world);
    await saveWithIndex(dir, model, world, { dataset: world.name, epochs: result.epochs });

    // serve from the saved checkpoint, as a deployment would
    const loaded = await loadCheckpoint(dir, { stages: stageDefinitions });
    const retriever = Retriever.over(loaded.model, loaded.index!);
    const users = Int32Array.from([0, 1, 2]);
    const top = await retriever.retrieve(users, 5, { exclude: Array.from(users, (u) => loaded.seen?.[u]) });
    await retriever.dispose();
    loaded.model.dispose();

    const out = process.stdout;
    out.write(`\nFunnel metrics (${funnel.users} users, whole catalogue, seen items excluded)\n`);
    out.write(`${table(['stage', 'recall@20', 'alignment@10/100', 'value@10'], [popularity, base].map((r) => [r.name, r['recall@20'], r['alignment@10/100'], r['value@10']]))}\n`);
    out.write(`\nTop 5 for three users, served from ${dir}\n`);
    out.write(`${table(['user', 'items (best first)', 'true value of each'], top.map((r, i) => {
      const truth = world.truth!.valueOfAllItems(users[i]!);
      return [world.userIds[users[i]!], r.items.join(' '), r.items.map((id) => truth[world.itemIds.indexOf(id)]!.toFixed(3)).join(' ')];
    }))}\n`);
    const seconds = (performance.now() - t0) / 1000;
    out.write(`\n${backend.name} backend, ${result.epochs} epochs at ${result.examplesPerSec.toFixed(0)} examples/s, ${seconds.toFixed(1)} s in all\n`);
    const summary = { backend: backend.name, seconds, epochs: result.epochs, examplesPerSec: result.examplesPerSec, stages: [base], popularity, checkpoint: o.checkpoint ? dir : undefined };
    if (o.json) printJson(summary);
    return summary;
  } finally {
    model.dispose();
    if (!o.checkpoint) rmSync(dir, { recursive: true, force: true });
  }
}
