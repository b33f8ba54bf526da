/**
 * The stages the CLI can plug into a model (`--stages a,b`), and the definitions it rebuilds
 * checkpoints with. Each stage package contributes its definitions here.
 */
import { ConfigError, type StageConfig, type StageDefinition, type SyntheticWorldOptions } from '@tt/core';
import { debiasStages } from '@tt/debias';
import { distill } from '@tt/distill';
import { historyEncoder } from '@tt/history-encoder';
import { lightRanker } from '@tt/light-ranker';
import { rewardAlign } from '@tt/reward-align';

/** Every stage definition the CLI knows, by stage name. */
export const stageDefinitions: readonly StageDefinition[] = [historyEncoder, ...debiasStages, lightRanker, distill, rewardAlign];

/** Flags that set stage options. */
export interface StageFlags {
  /** history: items of each user's history the encoder reads (`--history-len`) */
  readonly historyLen?: number;
  /** history: self-attention layers (`--history-layers`) */
  readonly historyLayers?: number;
  /** light-ranker: NI, candidates fetched by MIPS and re-ranked (`--ni`) */
  readonly ni?: number;
  /** light-ranker: NU, user embeddings of the ranker (`--nu`) */
  readonly nu?: number;
  /** light-ranker: beta of the re-ranking key */
  readonly retrievalWeight?: number;
  /** light-ranker: width of the ranker's own item embedding */
  readonly rankerItemDim?: number;
  /** distill: weight of the soft labels against the hard ones (`--kd-alpha`) */
  readonly kdAlpha?: number;
  /** distill: temperature of the soft-label loss (`--kd-temperature`) */
  readonly kdTemperature?: number;
  /** distill: weight of the listwise term, 0 = off (`--listwise`) */
  readonly listwise?: number;
}

/** Parses `--stages` into the definitions and the config entries of the model. */
export function stagesFromFlags(list: string | undefined, flags: StageFlags = {}): {
  /** the stage definitions, for `fitTwoTower({ stages })` */
  definitions: StageDefinition[];
  /** the model config's stage entries, with the options the flags set */
  configs: StageConfig[];
} {
  const names = (list ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const definitions: StageDefinition[] = [];
  const configs: StageConfig[] = [];
  for (const name of names) {
    const def = stageDefinitions.find((d) => d.name === name);
    if (!def) {
      const known = stageDefinitions.map((d) => d.name);
      throw new ConfigError('--stages', `unknown stage ${JSON.stringify(name)}; known: ${known.length ? known.join(', ') : 'none yet'}`);
    }
    definitions.push(def);
    const options: Record<string, unknown> = {};
    if (name === 'history') {
      if (flags.historyLen !== undefined) options['maxLength'] = flags.historyLen;
      if (flags.historyLayers !== undefined) options['layers'] = flags.historyLayers;
    }
    if (name === 'light-ranker') {
      if (flags.ni !== undefined) options['numCandidates'] = flags.ni;
      if (flags.nu !== undefined) options['numUserEmbeddings'] = flags.nu;
      if (flags.retrievalWeight !== undefined) options['retrievalWeight'] = flags.retrievalWeight;
      if (flags.rankerItemDim !== undefined) options['itemDim'] = flags.rankerItemDim;
    }
    if (name === 'distill') {
      if (flags.kdAlpha !== undefined) options['alpha'] = flags.kdAlpha;
      if (flags.kdTemperature !== undefined) options['temperature'] = flags.kdTemperature;
      if (flags.listwise !== undefined) options['listwiseWeight'] = flags.listwise;
    }
    configs.push({ name, options });
  }
  return { definitions, configs };
}

/**
 * The world `tt demo` trains on (stage packages may need its biases strong enough to matter):
 * users' tastes drift between their visits, so their recent clicks say more than their old ones
 * (what the history stage reads).
 */
export const DEMO_WORLD: SyntheticWorldOptions = { interestDrift: 0.3 };

/**
 * The world of the debiasing rows: the demo's world, but the logging policy lays each slate it
 * selected out trending-first (`slateOrder: 'popularity'`), so a position says how popular an item
 * is, not how much this user wants it, and position bias misleads what clicks teach. On the main
 * world the policy puts its best guess first, the position effect only sharpens the clicks toward
 * the user's favourites, and dividing it out lowers alignment.
 */
export const DEMO_BIASED_WORLD: SyntheticWorldOptions = { ...DEMO_WORLD, slateOrder: 'popularity' };

/**
 * Epochs of every demo row, a fixed budget without early stopping (the protocol of the stage
 * benchmarks): validation recall@20 of the logged clicks peaks after the first epoch on this
 * world while alignment and value keep rising, so stopping on it would show the value-oriented
 * stages as they were after one epoch. 4 keep the whole demo to about three minutes on 2 cores.
 */
export const DEMO_EPOCHS = 4;

/** A funnel metric of EVAL.md section 2, as `tt demo` reports it. */
export type DemoMetric = 'recall@20' | 'alignment@10/100' | 'value@10';

/** One row of `tt demo`: the stages of a model and, per stage, options beside its defaults. */
export interface DemoRow {
  readonly name: string;
  readonly stages: readonly string[];
  readonly options?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** trains and evaluates on {@link DEMO_BIASED_WORLD} instead of {@link DEMO_WORLD} */
  readonly biasedWorld?: boolean;
  /** what the row's stage exists to move (EVAL.md section 2), measured against the row `against` */
  readonly judgedOn?: readonly DemoMetric[];
  /** the row it is compared with, paired by seed (a base row on the same world) */
  readonly against?: string;
}

const FUNNEL: readonly DemoMetric[] = ['alignment@10/100', 'value@10'];

/** The rows of `tt demo`, in order; the last one is the model it saves and serves. */
export const DEMO_ROWS: readonly DemoRow[] = [
  { name: 'base', stages: [] },
  { name: 'history', stages: ['history'], judgedOn: ['recall@20'], against: 'base' },
  // debiasing is judged against base on the world whose slates are laid out trending-first
  { name: 'base, trending-first', stages: [], biasedWorld: true },
  { name: 'debias, trending-first', stages: ['debias'], biasedWorld: true, judgedOn: FUNNEL, against: 'base, trending-first' },
  { name: 'reward-align', stages: ['reward-align'], judgedOn: FUNNEL, against: 'base' },
  { name: 'light-ranker', stages: ['light-ranker'], judgedOn: FUNNEL, against: 'base' },
  // distilled, the light ranker imitates the main ranker: its value alone re-ranks
  { name: 'distill', stages: ['light-ranker', 'distill'], options: { 'light-ranker': { retrievalWeight: 0 } }, judgedOn: FUNNEL, against: 'light-ranker' },
];
