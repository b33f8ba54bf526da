/**
 * `tt bench stages`: every funnel stage on every world of the suite (EVAL.md section 2), each
 * trained exactly as `tt train --data world:<name> --stages <stages> --seed <s>` trains it (the
 * same fit options, defaults included), over several seeds: per world and row the funnel metrics'
 * mean ± sd, and each stage's effect on alignment and value paired by seed against the base
 * model. The held-out worlds (`--worlds held-out,held-out-2`) are reported on their own. Worlds x seeds run in
 * child processes, `--jobs` at a time.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { ConfigError, evaluateModel, evaluateModelFunnel, FIT_DEFAULTS, fitTwoTower, HELD_OUT_WORLDS, initBackend, worldByName, WORLD_SUITE } from '@tt/core';
import { DebiasStage, type ItemExposureSummary } from '@tt/debias';
import { loadData } from '../data-spec.js';
import { printJson, table } from '../output.js';
import { limited, runJsonChild } from '../children.js';
import { formatSpread, meanAndSpread, signed, type Spread } from '../report.js';
import { popularityRow } from './demo.js';
import { fitOptionsOf, stageNotesOf } from './train.js';

/** A row of the benchmark: a name and the `--stages` (and `--monitor`) it trains with (defaults otherwise). */
export interface StageRow {
  /** as the tables show it */
  readonly name: string;
  /** `--stages` (comma-separated; empty for the base model) */
  readonly stages: string;
  /** `--monitor`, when the row overrides the default */
  readonly monitor?: string;
}

/**
 * The rows of `tt bench stages` by default: base, base stopped on the funnel stages' monitor (what
 * the monitor alone changes, so a stage's effect can be read apart from its monitor's), and one
 * row per funnel stage.
 */
export const STAGE_ROWS: readonly StageRow[] = [
  { name: 'base', stages: '' },
  { name: 'base-agreement', stages: '', monitor: 'ranker-agreement' },
  { name: 'debias', stages: 'debias' },
  { name: 'light-ranker', stages: 'light-ranker' },
  { name: 'distill', stages: 'light-ranker,distill' },
  { name: 'reward-align', stages: 'reward-align' },
];

const METRICS = ['recall@20', 'alignment@10/100', 'value@10'] as const;
type Metric = (typeof METRICS)[number];

/** One row trained on one world and seed. */
export interface StageRun {
  /** the suite world */
  readonly world: string;
  /** of the world and the model */
  readonly seed: number;
  /** the {@link StageRow} name (or `popularity`) */
  readonly row: string;
  /** of the held-out logged clicks */
  readonly 'recall@20': number;
  /** share of the true top 10 in retrieval's top 100 */
  readonly 'alignment@10/100': number;
  /** true value of the final top 10 over the ideal top 10's */
  readonly 'value@10': number;
  /** epochs trained */
  readonly epochs: number;
  /** the epoch whose weights were kept (1-based) */
  readonly bestEpoch: number;
  /** training and evaluation time */
  readonly seconds: number;
  /** what the stages said about the log (`Stage.notes`), when anything */
  readonly notes?: readonly string[];
  /** refit (the default: a fresh model on the training and validation rows for the kept epochs); absent with `--no-refit` */
  readonly refit?: true;
  /** a debias stage's finding: how much the layout depended on the item */
  readonly itemExposure?: ItemExposureSummary;
}

/** The flags of `tt bench stages`, parsed. */
export interface BenchStagesOptions {
  /** comma-separated world names (the suite's or the held-out ones), or `suite` (default) */
  readonly worlds?: string;
  /** comma-separated row names among {@link STAGE_ROWS} (default all) */
  readonly rows?: string;
  /** seeds of the worlds and models (default 0, 1, 2) */
  readonly seeds?: readonly number[];
  /** world x seed units at once (default 2) */
  readonly jobs?: number;
  /** append every run as a JSON line to this file */
  readonly out?: string;
  /** force a backend (else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
  /** shrink every world's users and impressions by this factor, the catalogue kept (a quick look; default 1) */
  readonly scale?: number;
  /** false: every row trained as `tt train --no-refit` trains it (default {@link FIT_DEFAULTS}.refit) */
  readonly refit?: boolean;
  /** internal: one world and seed in this process, runs printed as JSON (what the children run) */
  readonly unit?: string;
}

function refitOf(o: BenchStagesOptions): boolean {
  return o.refit ?? FIT_DEFAULTS.refit;
}

function scaleOf(scale: number | undefined): number {
  const x = scale ?? 1;
  if (!(x > 0 && x <= 1)) throw new ConfigError('--scale', `must be in (0, 1], got ${x}`);
  return x;
}

function worldsOf(spec: string | undefined): string[] {
  if (!spec || spec === 'suite') return WORLD_SUITE.map((w) => w.name);
  return spec.split(',').map((w) => worldByName(w.trim()).name);
}

function rowsOf(spec: string | undefined): StageRow[] {
  if (!spec) return [...STAGE_ROWS];
  return spec.split(',').map((name) => {
    const row = STAGE_ROWS.find((r) => r.name === name.trim());
    if (!row) throw new ConfigError('--rows', `unknown row ${JSON.stringify(name)}; known: ${STAGE_ROWS.map((r) => r.name).join(', ')}`);
    return row;
  });
}

/** Trains and evaluates `rows` on one world and seed, as `tt train` would. */
async function runUnit(world: string, seed: number, rows: readonly StageRow[], scale: number, refit: boolean, log: (line: string) => void): Promise<StageRun[]> {
  const data = `world:${world}`;
  const dataset = await loadData(data, { seed, scale });
  const out: StageRun[] = [];
  const pop = await popularityRow(dataset);
  out.push({ world, seed, row: 'popularity', 'recall@20': pop['recall@20'], 'alignment@10/100': pop['alignment@10/100'], 'value@10': pop['value@10'], epochs: 0, bestEpoch: 0, seconds: 0 });
  for (const row of rows) {
    const t0 = performance.now();
    const options = fitOptionsOf({ data, checkpoint: '', stages: row.stages || undefined, seed, monitor: row.monitor, refit });
    const { model, result } = await fitTwoTower(dataset, { ...options, progress: 'none' });
    try {
      const recall = await evaluateModel(model, dataset, 'test');
      const funnel = await evaluateModelFunnel(model, dataset);
      const notes = stageNotesOf(model).map((n) => `${n.stage}: ${n.note}`);
      const itemExposure = model.stages.find((st): st is DebiasStage => st instanceof DebiasStage)?.itemExposureSummary();
      const run: StageRun = {
        world, seed, row: row.name, 'recall@20': recall['recall@20'], 'alignment@10/100': funnel['alignment@10/100'], 'value@10': funnel['value@10'],
        epochs: result.epochs, bestEpoch: result.bestEpoch + 1, seconds: (performance.now() - t0) / 1000,
        ...(notes.length ? { notes } : {}), ...(itemExposure ? { itemExposure } : {}), ...(refit ? { refit: true as const } : {}),
      };
      log(`[tt] ${world} seed ${seed} ${row.name}: ${METRICS.map((m) => `${m} ${run[m].toFixed(4)}`).join(', ')} (${run.epochs} epochs, best ${run.bestEpoch})`);
      out.push(run);
    } finally {
      model.dispose();
    }
  }
  return out;
}

/** One world and seed in a child process (its progress passed through). */
async function runChild(world: string, seed: number, o: BenchStagesOptions, running: Set<ChildProcess>): Promise<StageRun[]> {
  const args = ['bench', 'stages', '--unit', `${world}:${seed}`, '--json', ...(o.rows ? ['--rows', o.rows] : []), ...(o.scale ? ['--scale', String(o.scale)] : []), ...(refitOf(o) ? [] : ['--no-refit']), ...(o.backend ? ['--backend', o.backend] : [])];
  return (await runJsonChild<{ runs: StageRun[] }>(args, running, `tt bench stages: ${world} seed ${seed}`, true)).runs;
}

/** Per world and row: each metric's mean ± sd over seeds, and the effect against `base` paired by seed. */
export function summariseStages(runs: readonly StageRun[]): Array<{
  world: string; row: string; metrics: Record<Metric, Spread>; effects?: Record<Metric, Spread & { perSeed: number[] }>;
}> {
  const worlds = [...new Set(runs.map((r) => r.world))];
  const out = [];
  for (const world of worlds) {
    const here = runs.filter((r) => r.world === world);
    const seeds = [...new Set(here.map((r) => r.seed))].sort((a, b) => a - b);
    for (const row of [...new Set(here.map((r) => r.row))]) {
      const per = seeds.map((s) => here.find((r) => r.seed === s && r.row === row)).filter((r): r is StageRun => r !== undefined);
      const metrics = Object.fromEntries(METRICS.map((m) => [m, meanAndSpread(per.map((r) => r[m]))])) as Record<Metric, Spread>;
      let effects: Record<Metric, Spread & { perSeed: number[] }> | undefined;
      if (row !== 'base' && row !== 'popularity') {
        const pairs = per.map((r) => [r, here.find((b) => b.seed === r.seed && b.row === 'base')] as const).filter(([, b]) => b !== undefined);
        if (pairs.length > 0) {
          effects = Object.fromEntries(METRICS.map((m) => {
            const perSeed = pairs.map(([r, b]) => r[m] - b![m]);
            return [m, { ...meanAndSpread(perSeed), perSeed }];
          })) as Record<Metric, Spread & { perSeed: number[] }>;
        }
      }
      out.push({ world, row, metrics, effects });
    }
  }
  return out;
}

/** `tt bench stages`: see the module comment; returns the JSON summary. */
export async function benchStages(o: BenchStagesOptions): Promise<Record<string, unknown>> {
  const rows = rowsOf(o.rows);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (o.unit) {
    const at = o.unit.lastIndexOf(':');
    const world = o.unit.slice(0, at);
    const seed = Number(o.unit.slice(at + 1));
    await initBackend({ backend: o.backend, log: false });
    const runs = await runUnit(worldByName(world).name, seed, rows, scaleOf(o.scale), refitOf(o), log);
    const out = { runs };
    printJson(out);
    return out;
  }
  const worlds = worldsOf(o.worlds);
  scaleOf(o.scale);
  const seeds = o.seeds ?? [0, 1, 2];
  const jobs = Math.max(1, o.jobs ?? 2);
  const t0 = performance.now();
  const backend = await initBackend({ backend: o.backend });
  log(`[tt] bench stages: worlds ${worlds.join(', ')}; rows ${rows.map((r) => r.name).join(', ')}; seeds ${seeds.join(', ')}; ${jobs} at a time; ${refitOf(o) ? 'every row refit on the training and validation rows for the epochs it kept (--no-refit: the early-stopped models)' : 'the early-stopped models, not refit (--no-refit)'}`);
  const children = new Set<ChildProcess>();
  let runs: StageRun[];
  try {
    const units = worlds.flatMap((w) => seeds.map((s) => () => runChild(w, s, o, children).then((r) => {
      if (o.out) for (const run of r) appendFileSync(o.out, `${JSON.stringify(run)}\n`);
      return r;
    })));
    runs = (await limited(units, jobs)).flat();
  } finally {
    for (const child of children) child.kill();
  }
  const summary = summariseStages(runs);
  const n = seeds.length;
  for (const world of worlds) {
    const named = worldByName(world);
    process.stdout.write(`\n${world}${HELD_OUT_WORLDS.includes(named) ? ' (held out: never tuned on)' : ''}: ${named.description}\n`);
    process.stdout.write(`${table(['row', ...METRICS, 'alignment vs base', 'value vs base'], summary.filter((s) => s.world === world).map((s) => [
      s.row, ...METRICS.map((m) => formatSpread(s.metrics[m], n)),
      s.effects ? `${signed(s.effects['alignment@10/100'].mean, 3)} ± ${s.effects['alignment@10/100'].sd.toFixed(3)}` : '',
      s.effects ? `${signed(s.effects['value@10'].mean, 3)} ± ${s.effects['value@10'].sd.toFixed(3)}` : '',
    ]))}\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`\n${backend.name} backend, ${worlds.length} worlds x ${n} seeds x ${rows.length} rows, ${seconds.toFixed(0)} s\n`);
  const out = { backend: backend.name, seconds, worlds, seeds: [...seeds], rows: rows.map((r) => r.name), ...(refitOf(o) ? { refit: true } : {}), summary, runs };
  if (o.json) printJson(out);
  return out;
}
