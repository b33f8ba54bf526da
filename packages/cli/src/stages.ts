/**
 * The stages the CLI can plug into a model (`--stages a,b`), and the definitions it rebuilds
 * checkpoints with. Each stage package contributes its definitions here.
 */
import { ConfigError, type StageConfig, type StageDefinition } from '@tt/core';
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
 * The suite worlds `tt demo` trains on (`tt world list`): a policy that shows its best guess
 * first (tastes drift), the same selection laid out most popular first (positions mislead the
 * clicks), and a policy that draws candidates from its own top and adds a popularity bonus to the
 * layout. `tt bench stages` runs the whole suite.
 */
export const DEMO_WORLDS: readonly string[] = ['best-first', 'trending-first', 'policy-top'];

/**
 * The demo's worlds keep their catalogue but have this share of their users and impressions, so
 * that the three worlds train as `tt train` trains them in a few minutes on 2 cores.
 */
export const DEMO_SCALE = 0.3;

/**
 * The demo trains each row as `tt train --no-refit` does: the refit that `tt train` adds by default
 * (a fresh model on the training and validation rows for the kept epochs) would take the three worlds
 * past the demo's five minutes on 2 cores. `tt bench stages` measures every row with it.
 */
export const DEMO_REFIT = false;

/** A funnel metric of EVAL.md section 2, as `tt demo` reports it. */
export type DemoMetric = 'recall@20' | 'alignment@10/100' | 'value@10';

/** One row of `tt demo`: the stages of a model (each with its `tt train` defaults). */
export interface DemoRow {
  readonly name: string;
  readonly stages: readonly string[];
  /** what the row's stage exists to move (EVAL.md section 2), against `base` on the same world, paired by seed */
  readonly judgedOn?: readonly DemoMetric[];
  /** the worlds the row trains on (default: every demo world) */
  readonly worlds?: readonly string[];
}

const FUNNEL: readonly DemoMetric[] = ['alignment@10/100', 'value@10'];

/** The rows of `tt demo`, in order; the last one (on the first world) is the model it saves and serves. */
export const DEMO_ROWS: readonly DemoRow[] = [
  { name: 'base', stages: [] },
  // the history encoder exists for recall, on the world whose users' tastes drift
  { name: 'history', stages: ['history'], judgedOn: ['recall@20'], worlds: ['best-first'] },
  { name: 'debias', stages: ['debias'], judgedOn: FUNNEL },
  { name: 'light-ranker', stages: ['light-ranker'], judgedOn: FUNNEL },
  { name: 'reward-align', stages: ['reward-align'], judgedOn: FUNNEL },
  // served: retrieval, then the light ranker's re-rank
  { name: 'distill', stages: ['light-ranker', 'distill'], judgedOn: FUNNEL },
];
