/**
 * `tt demo`: the full funnel on worlds of the built-in synthetic suite (EVAL.md section 2), over
 * several seeds: every demo row trained exactly as `tt train --data world:<name> --stages ... --no-refit`
 * trains it (defaults, early stopping included; no refit, to fit five minutes), evaluated (recall, alignment with the main
 * ranker's value, value of the final top 10); per world each row's mean and spread over the
 * seeds and each stage's effect against the base model paired by seed; an HTML report (tables,
 * charts, training curves); the first world's last model saved as a checkpoint, loaded back and
 * served for a few users. World x seed units after the first train in child processes beside it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ConfigError, evaluateModel, evaluateModelFunnel, fitTwoTower, initBackend, loadCheckpoint, Retriever, worldByName, type InteractionDataset, type TwoTowerModel,
} from '@tt/core';
import { writeFileAtomic } from '@tt/mips';
import { limited, runJsonChild } from '../children.js';
import { loadData } from '../data-spec.js';
import { printJson, table } from '../output.js';
import { demoReport, formatSpread, meanAndSpread, signed, type DemoSummary, type RowSummary } from '../report.js';
import { historiesOfUsers } from './retrieve.js';
import { fitOptionsOf, saveWithIndex, popularityFunnel, popularityMetrics } from './train.js';
import { DEMO_REFIT, DEMO_ROWS, DEMO_SCALE, DEMO_WORLDS, stageDefinitions, type DemoMetric } from '../stages.js';

const METRICS: readonly DemoMetric[] = ['recall@20', 'alignment@10/100', 'value@10'];

/** One row of one world and seed. */
export interface DemoStageRow {
  /** the demo row's name (`popularity` for the baseline) */
  readonly name: string;
  /** of the held-out logged clicks */
  readonly 'recall@20': number;
  /** share of the true top 10 in retrieval's top 100 */
  readonly 'alignment@10/100': number;
  /** true value of the final top 10 over that of the ideal top 10 */
  readonly 'value@10': number;
  /** training seconds (validation included) */
  readonly seconds?: number;
  /** epochs trained */
  readonly epochs?: number;
  /** the epoch whose weights were kept (1-based) */
  readonly bestEpoch?: number;
  /** the validation metric early stopping watched */
  readonly monitor?: string;
  /** per epoch */
  readonly curves?: {
    /** mean training loss */
    readonly loss: readonly number[];
    /** the validation monitor */
    readonly monitor: readonly number[];
  };
}

/** Everything one world and seed produced (what a child process prints as JSON). */
export interface DemoUnit {
  /** the suite world */
  readonly world: string;
  /** of the world and the models */
  readonly seed: number;
  /** the popularity ranking */
  readonly popularity: DemoStageRow;
  /** one per demo row the world trains, in order */
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
  /** keep the checkpoint (first world and seed, last row) in this directory; default a temporary one */
  readonly checkpoint?: string;
  /** a single seed (same as `seeds: [seed]`) */
  readonly seed?: number;
  /** default 0 (`tt bench stages` runs every world over three seeds) */
  readonly seeds?: readonly number[];
  /** world x seed units trained at the same time (default 2: one per core) */
  readonly jobs?: number;
  /** most epochs a row trains (default: `tt train`'s), early stopping as `tt train` */
  readonly epochs?: number;
  /** each world's users and impressions times this, the catalogue kept (default `DEMO_SCALE`, 0.3) */
  readonly scale?: number;
  /** HTML report path (default `tt-demo-report.html`); `false` writes none */
  readonly report?: string | false;
  /** force a compute backend (default: the best available) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** internal: train and evaluate one world and seed, print it as JSON, no serving (child processes) */
  readonly rowsOnly?: boolean;
  /** internal: the world of `rowsOnly` */
  readonly world?: string;
}

/** The popularity row: recall and funnel metrics, the floor every stage must beat. */
export async function popularityRow(world: InteractionDataset): Promise<DemoStageRow> {
  const funnel = await popularityFunnel(world);
  const recall = await popularityMetrics(world);
  return { name: 'popularity', 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'] };
}

/** The rows `world` trains. */
function rowsOf(world: string) {
  return DEMO_ROWS.filter((r) => !r.worlds || r.worlds.includes(world));
}

/** Trains and evaluates every demo row of one world and seed as `tt train` does; keeps the last model when asked. */
async function runUnit(
  world: string, seed: number, o: Pick<DemoOptions, 'epochs' | 'scale'>, keepLast: boolean, log: (line: string) => void,
): Promise<{ unit: DemoUnit; model?: TwoTowerModel; dataset: InteractionDataset }> {
  const data = `world:${world}`;
  const dataset = await loadData(data, { seed, scale: o.scale ?? DEMO_SCALE });
  const rows: DemoStageRow[] = [];
  const trains = rowsOf(world);
  let model: TwoTowerModel | undefined;
  let total = 0;
  let examplesPerSec = 0;
  for (const [i, row] of trains.entries()) {
    log(`[tt] ${world} seed ${seed}: training "${row.name}"${row.stages.length ? ` (stages: ${row.stages.join(', ')})` : ''}`);
    const t0 = performance.now();
    const options = fitOptionsOf({ data, checkpoint: '', stages: row.stages.join(',') || undefined, seed, epochs: o.epochs, refit: DEMO_REFIT });
    const fitted = await fitTwoTower(dataset, { ...options, progress: 'none' });
    const seconds = (performance.now() - t0) / 1000;
    model?.dispose();
    model = fitted.model;
    total += fitted.result.epochs;
    examplesPerSec = fitted.result.examplesPerSec;
    const recall = await evaluateModel(model, dataset, 'test');
    const funnel = await evaluateModelFunnel(model, dataset);
    const history = fitted.result.history;
    const monitor = monitorOf(model, history[0]?.metrics);
    rows.push({
      name: row.name, 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'], seconds,
      epochs: fitted.result.epochs, bestEpoch: fitted.result.bestEpoch + 1, monitor,
      curves: { loss: history.map((h) => h.loss), monitor: history.map((h) => h.metrics?.[monitor] ?? NaN) },
    });
    if (!keepLast || i + 1 < trains.length) {
      model.dispose();
      model = undefined;
    }
  }
  const popularity = await popularityRow(dataset);
  return { unit: { world, seed, popularity, rows, epochs: total, examplesPerSec }, model, dataset };
}

/** The monitor `tt train`'s defaults watched: the stages' own when the validation split has it, else recall@20. */
function monitorOf(model: TwoTowerModel, metrics: Record<string, number> | undefined): string {
  const wanted = model.stages.find((s) => s.monitor)?.monitor;
  return wanted && metrics && wanted in metrics ? wanted : 'recall@20';
}

/** One world and seed in a child `tt demo --rows-only` process; its progress is kept and shown only if it fails. */
function runChild(world: string, seed: number, o: DemoOptions, running: Set<ChildProcess>): Promise<DemoUnit> {
  const args = ['demo', '--rows-only', '--json', '--world', world, '--seed', String(seed),
    ...(o.epochs !== undefined ? ['--epochs', String(o.epochs)] : []), ...(o.scale !== undefined ? ['--scale', String(o.scale)] : []),
    ...(o.backend ? ['--backend', o.backend] : [])];
  return runJsonChild<DemoUnit>(args, running, `tt demo: ${world} seed ${seed}`);
}

/** Per world and row: mean ± sd over the seeds of each metric, and the paired effect against base on the metrics it is judged on. */
export function summarise(units: readonly DemoUnit[]): RowSummary[] {
  const out: RowSummary[] = [];
  for (const world of [...new Set(units.map((u) => u.world))]) {
    const here = units.filter((u) => u.world === world);
    const byName = (name: string) => here.map((u) => (name === 'popularity' ? u.popularity : u.rows.find((x) => x.name === name)!));
    const base = byName('base');
    for (const row of [{ name: 'popularity' }, ...rowsOf(world)]) {
      const per = byName(row.name);
      const metrics = Object.fromEntries(METRICS.map((m) => [m, meanAndSpread(per.map((x) => x[m]))])) as RowSummary['metrics'];
      const judged = 'judgedOn' in row ? row.judgedOn ?? [] : [];
      const effects = judged.map((m) => {
        const perSeed = per.map((x, i) => x[m] - base[i]![m]);
        return { metric: m, against: 'base', ...meanAndSpread(perSeed), perSeed };
      });
      const seconds = per.every((x) => x.seconds !== undefined) ? meanAndSpread(per.map((x) => x.seconds!)).mean : undefined;
      const curves = per.every((x) => x.curves) ? {
        loss: meanCurve(per.map((x) => x.curves!.loss)),
        monitor: meanCurve(per.map((x) => x.curves!.monitor)),
      } : undefined;
      out.push({ world, name: row.name, metrics, effects, seconds, curves, monitor: per[0]!.monitor, epochs: per.every((x) => x.epochs) ? meanAndSpread(per.map((x) => x.epochs!)).mean : undefined });
    }
  }
  return out;
}

/** Per epoch, the mean over the curves that reach it. */
function meanCurve(curves: readonly (readonly number[])[]): number[] {
  const n = Math.max(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, e) => {
    const at = curves.filter((c) => e < c.length && Number.isFinite(c[e]!)).map((c) => c[e]!);
    return at.length ? at.reduce((a, b) => a + b, 0) / at.length : NaN;
  });
}

const short: Record<DemoMetric, string> = { 'recall@20': 'recall', 'alignment@10/100': 'alignment', 'value@10': 'value' };

/**
 * `tt demo`: every demo row on every demo world over the seeds, the tables and the report, then
 * serving from the saved checkpoint. Returns what `--json` prints.
 */
export async function demo(o: DemoOptions): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const seeds = o.seeds ?? (o.seed !== undefined ? [o.seed] : [0]);
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length) throw new ConfigError('--seeds', `needs distinct seeds, got ${seeds.join(',')}`);
  if (o.epochs !== undefined && !(o.epochs >= 1)) throw new ConfigError('--epochs', `must be at least 1, got ${o.epochs}`);
  if (o.scale !== undefined && !(o.scale > 0 && o.scale <= 1)) throw new ConfigError('--scale', `must be in (0, 1], got ${o.scale}`);
  const backend = await initBackend({ backend: o.backend, ...(o.rowsOnly ? { log: false as const } : {}) });
  const log = (line: string) => process.stderr.write(`${line}\n`);

  if (o.rowsOnly) {
    const world = worldByName(o.world ?? DEMO_WORLDS[0]!).name;
    const { unit } = await runUnit(world, seeds[0]!, o, false, log);
    printJson(unit);
    return unit as unknown as Record<string, unknown>;
  }

  const jobs = Math.max(1, o.jobs ?? 2);
  const first = seeds[0]!;
  const served = DEMO_WORLDS[0]!;
  process.stderr.write(`[tt] worlds ${DEMO_WORLDS.join(', ')} of the suite, seeds ${seeds.join(', ')} (${jobs} at a time), every row as tt train --no-refit trains it (tt train's refit would double the time)\n`);
  const dir = o.checkpoint ? resolve(o.checkpoint) : mkdtempSync(join(tmpdir(), 'tt-demo-'));
  let model: TwoTowerModel | undefined;
  let dataset: InteractionDataset | undefined;
  const children = new Set<ChildProcess>(); // killed if the demo fails before they end
  try {
    // this process trains the first world and seed (and keeps its last model to serve); the others run in children
    const tasks = DEMO_WORLDS.flatMap((world) => seeds.map((seed) => (world === served && seed === first
      ? async () => {
        const own = await runUnit(world, seed, o, true, log);
        model = own.model;
        dataset = own.dataset;
        return own.unit;
      }
      : () => runChild(world, seed, o, children))));
    const units = await limited<DemoUnit>(tasks, jobs);
    const servedRow = DEMO_ROWS[DEMO_ROWS.length - 1]!;
    await saveWithIndex(dir, model!, dataset!, { dataset: dataset!.name, stages: servedRow.stages });

    // serve from the saved checkpoint, as a deployment would
    const loaded = await loadCheckpoint(dir, { stages: stageDefinitions });
    const retriever = Retriever.over(loaded.model, loaded.index!);
    const users = Int32Array.from([0, 1, 2]);
    const top = await retriever.retrieve(users, 5, { exclude: Array.from(users, (u) => loaded.seen?.[u]), ...historiesOfUsers(users, loaded.histories, loaded.model.historyLength) });
    await retriever.dispose();
    loaded.model.dispose();

    const rows = summarise(units);
    const n = seeds.length;
    const out = process.stdout;
    for (const world of DEMO_WORLDS) {
      out.write(`\n${world}: ${worldByName(world).description}\n`);
      out.write(`funnel metrics, ${n > 1 ? `mean ± sd over seeds ${seeds.join(', ')}` : `seed ${first}`} (whole catalogue, seen items excluded)\n`);
      out.write(`${table(['row', ...METRICS, `effect on its metric vs base${n > 1 ? ' (paired by seed, mean ± sd)' : ''}`], rows.filter((r) => r.world === world).map((r) => [
        r.name, ...METRICS.map((m) => formatSpread(r.metrics[m], n)),
        r.effects.map((e) => `${short[e.metric]} ${signed(e.mean, 3)}${n > 1 ? ` ± ${e.sd.toFixed(3)}` : ''}`).join(', '),
      ]))}\n`);
    }
    out.write(`\nTop 5 for three users (${served}, seed ${first}, the "${servedRow.name}" model: retrieval, then the light ranker's re-rank), served from ${dir}\n`);
    out.write(`${table(['user', 'items (best first)', 'true value of each'], top.map((r, i) => {
      const truth = dataset!.truth!.valueOfAllItems(users[i]!);
      return [dataset!.userIds[users[i]!], r.items.join(' '), r.items.map((id) => truth[dataset!.itemIds.indexOf(id)]!.toFixed(3)).join(' ')];
    }))}\n`);
    const seconds = (performance.now() - t0) / 1000;
    const epochsAll = units.reduce((a, u) => a + u.epochs, 0);
    const summary: DemoSummary = {
      backend: backend.name, seconds, seeds: [...seeds], jobs, epochs: epochsAll, examplesPerSec: units[0]!.examplesPerSec, rows,
      worlds: DEMO_WORLDS.map((w) => ({ name: w, description: worldByName(w).description })), maxEpochs: o.epochs, scale: o.scale ?? DEMO_SCALE,
    };
    let reportPath: string | undefined;
    if (o.report !== false) {
      reportPath = resolve(o.report ?? 'tt-demo-report.html');
      writeFileAtomic(reportPath, demoReport(summary));
    }
    out.write(`\n${backend.name} backend, ${DEMO_WORLDS.length} worlds x ${n} seed${n > 1 ? 's' : ''}, ${epochsAll} epochs in all, ${seconds.toFixed(1)} s${reportPath ? `; report: ${reportPath}` : ''}\n`);
    const result = { ...summary, units, report: reportPath, checkpoint: o.checkpoint ? dir : undefined };
    if (o.json) printJson(result);
    return result;
  } finally {
    for (const child of children) child.kill();
    (model as TwoTowerModel | undefined)?.dispose();
    if (!o.checkpoint) rmSync(dir, { recursive: true, force: true });
  }
}
