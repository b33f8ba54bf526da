/**
 * `tt demo`: the full funnel on the built-in synthetic world (EVAL.md section 2), over several
 * seeds: train every demo row, evaluate it (recall, alignment with the main ranker's value,
 * value of the final top 10), print each row's mean and spread over the seeds and each stage's
 * paired effect on the metric it exists for, write an HTML report (per-stage charts, training
 * curves), save the first seed's last model as a checkpoint, load it back and retrieve for a few
 * users. Seeds after the first train in child processes alongside it (one per core).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ConfigError, evaluateFunnel, evaluateModel, evaluateModelFunnel, fitTwoTower, initBackend, trainingItems, trainingLog, loadCheckpoint, popularityScores,
  Retriever, syntheticWorld, topKExcluding, type InteractionDataset, type TwoTowerModel,
} from '@tt/core';
import { writeFileAtomic } from '@tt/mips';
import { binPath, limited } from '../children.js';
import { printJson, table } from '../output.js';
import { demoReport, formatSpread, meanAndSpread, signed, type DemoSummary, type RowSummary } from '../report.js';
import { historiesOfUsers } from './retrieve.js';
import { saveWithIndex, popularityMetrics } from './train.js';
import { DEMO_BIASED_WORLD, DEMO_EPOCHS, DEMO_ROWS, DEMO_WORLD, stageDefinitions, stagesFromFlags, type DemoMetric } from '../stages.js';

const METRICS: readonly DemoMetric[] = ['recall@20', 'alignment@10/100', 'value@10'];

/** One row of one seed. */
export interface DemoStageRow {
  /** the demo row's name (`popularity` for the baseline) */
  readonly name: string;
  /** of the held-out logged clicks */
  readonly 'recall@20': number;
  /** share of the true top 10 in retrieval's top 100 */
  readonly 'alignment@10/100': number;
  /** mean true value of the final top 10 */
  readonly 'value@10': number;
  /** training seconds (validation included) */
  readonly seconds?: number;
  /** per epoch */
  readonly curves?: {
    /** mean training loss */
    readonly loss: readonly number[];
    /** validation recall@20 of the logged clicks */
    readonly 'recall@20': readonly number[];
  };
}

/** Everything one seed produced (what a child process prints as JSON). */
export interface SeedRun {
  /** of the worlds and the models */
  readonly seed: number;
  /** the popularity ranking on the main world */
  readonly popularity: DemoStageRow;
  /** one per demo row, in order */
  readonly rows: readonly DemoStageRow[];
  /** trained in all, over the rows */
  readonly epochs: number;
  /** training speed of the last row */
  readonly examplesPerSec: number;
}

/** Options of {@link demo} (the `tt demo` flags). */
export interface DemoOptions {
  /** print a JSON summary as the last stdout line */
  readonly json?: boolean;
  /** keep the checkpoint (first seed, last row) in this directory; default a temporary one */
  readonly checkpoint?: string;
  /** a single seed (same as `seeds: [seed]`) */
  readonly seed?: number;
  /** default 0, 1, 2 */
  readonly seeds?: readonly number[];
  /** seeds trained at the same time (default: all; CPU-bound, so on 2 cores 3 at once finish sooner than 2 then 1) */
  readonly jobs?: number;
  /** epochs per row, a fixed budget without early stopping (default 4) */
  readonly epochs?: number;
  /** HTML report path (default `tt-demo-report.html`); `false` writes none */
  readonly report?: string | false;
  /** force a compute backend (default: the best available) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** internal: train and evaluate one seed's rows, print them as JSON, no serving (child processes) */
  readonly rowsOnly?: boolean;
}

/** Funnel metrics of the popularity ranking, the floor every stage must beat. */
export async function popularityFunnel(world: InteractionDataset): Promise<DemoStageRow> {
  const pop = popularityScores(trainingLog(world), world.schema.numItems, world.valueWeights, world.schema.tasks.length);
  const seen = trainingItems(world);
  const users = Int32Array.from(new Set(world.test.user));
  const funnel = await evaluateFunnel({ truth: world.truth!, users, seen, retrieved: async (batch) => Array.from(batch, (u) => topKExcluding(pop, 100, seen[u])) });
  const recall = await popularityMetrics(world);
  return { name: 'popularity', 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'] };
}

/** Trains and evaluates every demo row on one seed's worlds; keeps the last model when asked. */
async function runSeed(seed: number, epochs: number, keepLast: boolean, log: (line: string) => void): Promise<{ run: SeedRun; model?: TwoTowerModel; world: InteractionDataset }> {
  const world = syntheticWorld({ ...DEMO_WORLD, seed, validation: true });
  let biased: InteractionDataset | undefined; // DEMO_BIASED_WORLD, made when a row needs it
  const rows: DemoStageRow[] = [];
  let model: TwoTowerModel | undefined;
  let total = 0;
  let examplesPerSec = 0;
  for (const [i, row] of DEMO_ROWS.entries()) {
    const parsed = stagesFromFlags(row.stages.join(','));
    const configs = parsed.configs.map((c) => ({ ...c, options: { ...c.options, ...row.options?.[c.name] } }));
    log(`[tt] seed ${seed}: training "${row.name}"${configs.length ? ` (stages: ${row.stages.join(', ')})` : ''}`);
    const rowWorld = row.biasedWorld ? (biased ??= syntheticWorld({ ...DEMO_BIASED_WORLD, seed, validation: true })) : world;
    const t0 = performance.now();
    const fitted = await fitTwoTower(rowWorld, { epochs, patience: epochs, restoreBest: false, seed, progress: 'none', stages: parsed.definitions, model: { stages: configs } });
    const seconds = (performance.now() - t0) / 1000;
    model?.dispose();
    model = fitted.model;
    total += fitted.result.epochs;
    examplesPerSec = fitted.result.examplesPerSec;
    const recall = await evaluateModel(model, rowWorld, 'test');
    const funnel = await evaluateModelFunnel(model, rowWorld);
    const history = fitted.result.history;
    rows.push({
      name: row.name, 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'], seconds,
      curves: { loss: history.map((h) => h.loss), 'recall@20': history.map((h) => h.metrics?.['recall@20'] ?? NaN) },
    });
    if (!keepLast || i + 1 < DEMO_ROWS.length) {
      model.dispose();
      model = undefined;
    }
  }
  const popularity = await popularityFunnel(world);
  return { run: { seed, popularity, rows, epochs: total, examplesPerSec }, model, world };
}

/** One seed in a child `tt demo --rows-only` process; its progress is kept and shown only if it fails. */
function runChild(seed: number, epochs: number, backend: string | undefined, running: Set<ChildProcess>): Promise<SeedRun> {
  const args = [binPath(), 'demo', '--rows-only', '--json', '--seed', String(seed), '--epochs', String(epochs), ...(backend ? ['--backend', backend] : [])];
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      running.delete(child);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) ok(JSON.parse(last) as SeedRun);
      else fail(new Error(`tt demo: seed ${seed} failed (exit ${code})\n${err.trim()}`));
    });
  });
}

/** Per row: mean ± sd over the seeds of each metric, and the paired effect on the metrics it is judged on. */
export function summarise(runs: readonly SeedRun[]): RowSummary[] {
  const byName = (name: string) => runs.map((r) => (name === 'popularity' ? r.popularity : r.rows.find((x) => x.name === name)!));
  return [{ name: 'popularity' }, ...DEMO_ROWS].map((row) => {
    const per = byName(row.name);
    const metrics = Object.fromEntries(METRICS.map((m) => [m, meanAndSpread(per.map((x) => x[m]))])) as RowSummary['metrics'];
    const judged = 'judgedOn' in row ? row.judgedOn ?? [] : [];
    const against = 'against' in row ? row.against : undefined;
    const base = against ? byName(against) : undefined;
    const effects = base ? judged.map((m) => {
      const perSeed = per.map((x, i) => x[m] - base[i]![m]);
      return { metric: m, against: against!, ...meanAndSpread(perSeed), perSeed };
    }) : [];
    const seconds = per.every((x) => x.seconds !== undefined) ? meanAndSpread(per.map((x) => x.seconds!)).mean : undefined;
    const curves = per.every((x) => x.curves) ? {
      loss: meanCurve(per.map((x) => x.curves!.loss)),
      'recall@20': meanCurve(per.map((x) => x.curves!['recall@20'])),
    } : undefined;
    return { name: row.name, metrics, effects, seconds, curves, biasedWorld: 'biasedWorld' in row ? row.biasedWorld === true : false };
  });
}

function meanCurve(curves: readonly (readonly number[])[]): number[] {
  const n = Math.min(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, e) => curves.reduce((a, c) => a + c[e]!, 0) / curves.length);
}

const short: Record<DemoMetric, string> = { 'recall@20': 'recall', 'alignment@10/100': 'alignment', 'value@10': 'value' };

/**
 * `tt demo`: every demo row over the seeds, the table and the report, then serving from the
 * saved checkpoint. Returns what `--json` prints.
 */
export async function demo(o: DemoOptions): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const seeds = o.seeds ?? (o.seed !== undefined ? [o.seed] : [0, 1, 2]);
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length) throw new ConfigError('--seeds', `needs distinct seeds, got ${seeds.join(',')}`);
  const epochs = o.epochs ?? DEMO_EPOCHS;
  if (!(epochs >= 1)) throw new ConfigError('--epochs', `must be at least 1, got ${epochs}`);
  const backend = await initBackend({ backend: o.backend, ...(o.rowsOnly ? { log: false as const } : {}) });
  const log = (line: string) => process.stderr.write(`${line}\n`);

  if (o.rowsOnly) {
    const { run } = await runSeed(seeds[0]!, epochs, false, log);
    printJson(run);
    return run as unknown as Record<string, unknown>;
  }

  const jobs = Math.max(1, o.jobs ?? seeds.length);
  const first = seeds[0]!;
  process.stderr.write(`[tt] synthetic world (${JSON.stringify(DEMO_WORLD)}; debias rows ${JSON.stringify(DEMO_BIASED_WORLD)}), seeds ${seeds.join(', ')} (${jobs} at a time), ${epochs} epochs a row\n`);
  const dir = o.checkpoint ? resolve(o.checkpoint) : mkdtempSync(join(tmpdir(), 'tt-demo-'));
  let model: TwoTowerModel | undefined;
  const children = new Set<ChildProcess>(); // killed if the demo fails before they end
  try {
    // this process trains the first seed (and keeps its last model to serve); the others run in children
    let world: InteractionDataset | undefined;
    const runs = await limited<SeedRun>(seeds.map((seed, k) => (k === 0
      ? async () => {
        const own = await runSeed(seed, epochs, true, log);
        model = own.model;
        world = own.world;
        return own.run;
      }
      : () => runChild(seed, epochs, o.backend, children))), jobs);
    await saveWithIndex(dir, model!, world!, { dataset: world!.name, stages: DEMO_ROWS[DEMO_ROWS.length - 1]!.stages });

    // serve from the saved checkpoint, as a deployment would
    const loaded = await loadCheckpoint(dir, { stages: stageDefinitions });
    const retriever = Retriever.over(loaded.model, loaded.index!);
    const users = Int32Array.from([0, 1, 2]);
    const top = await retriever.retrieve(users, 5, { exclude: Array.from(users, (u) => loaded.seen?.[u]), ...historiesOfUsers(users, loaded.histories, loaded.model.historyLength) });
    await retriever.dispose();
    loaded.model.dispose();

    const rows = summarise(runs);
    const n = seeds.length;
    const out = process.stdout;
    out.write(`\nFunnel metrics, ${n > 1 ? `mean ± sd over seeds ${seeds.join(', ')}` : `seed ${first}`} (${world!.test.size} test users of seed ${first}; whole catalogue, seen items excluded)\n`);
    out.write(`${table(['stage', ...METRICS, `effect on its metric${n > 1 ? ' (paired by seed, mean ± sd)' : ''}`], rows.map((r) => [
      r.name, ...METRICS.map((m) => formatSpread(r.metrics[m], n)),
      r.effects.map((e) => `${short[e.metric]} ${signed(e.mean, 3)}${n > 1 ? ` ± ${e.sd.toFixed(3)}` : ''}`).join(', ') + (r.effects.length ? ` vs ${r.effects[0]!.against}` : ''),
    ]))}\n`);
    out.write('("trending-first": the same users and items, but the logging policy laid each slate out most popular first, so positions mislead the clicks)\n');
    out.write(`\nTop 5 for three users (seed ${first}), served from ${dir}\n`);
    out.write(`${table(['user', 'items (best first)', 'true value of each'], top.map((r, i) => {
      const truth = world!.truth!.valueOfAllItems(users[i]!);
      return [world!.userIds[users[i]!], r.items.join(' '), r.items.map((id) => truth[world!.itemIds.indexOf(id)]!.toFixed(3)).join(' ')];
    }))}\n`);
    const seconds = (performance.now() - t0) / 1000;
    const epochsAll = runs.reduce((a, r) => a + r.epochs, 0);
    const summary: DemoSummary = { backend: backend.name, seconds, seeds: [...seeds], jobs, epochsPerRow: epochs, epochs: epochsAll, examplesPerSec: runs[0]!.examplesPerSec, rows, world: DEMO_WORLD, biasedWorld: DEMO_BIASED_WORLD };
    let reportPath: string | undefined;
    if (o.report !== false) {
      reportPath = resolve(o.report ?? 'tt-demo-report.html');
      writeFileAtomic(reportPath, demoReport(summary));
    }
    out.write(`\n${backend.name} backend, ${n} seed${n > 1 ? 's' : ''} x ${DEMO_ROWS.length} rows x ${epochs} epochs, ${seconds.toFixed(1)} s in all${reportPath ? `; report: ${reportPath}` : ''}\n`);
    const result = { ...summary, stages: runs[0]!.rows, popularity: runs[0]!.popularity, runs, report: reportPath, checkpoint: o.checkpoint ? dir : undefined };
    if (o.json) printJson(result);
    return result;
  } finally {
    for (const child of children) child.kill();
    (model as TwoTowerModel | undefined)?.dispose();
    if (!o.checkpoint) rmSync(dir, { recursive: true, force: true });
  }
}
