/**
 * Teacher agreement: how closely the distilled logits follow the main ranker on rows the model
 * did not train on (EVAL.md section 2's held-out rows, which log the ranker's scores too).
 */
import {
  EmptyError, gatherRows, latestHistories, pearson, takeValues, tf, trainingLog, ValueError,
  type InteractionDataset, type TwoTowerModel,
} from '@tt/core';
import { Distill } from './stage.js';

/** How closely the distilled logits follow the main ranker's logged scores (see {@link teacherAgreement}). */
export interface TeacherAgreement {
  /** per task, Pearson correlation of sigmoid(distillation logits) with the logged scores (NaN if either is constant) */
  readonly correlation: Readonly<Record<string, number>>;
  /** scored rows compared */
  readonly rows: number;
}


/**
 * Correlation of the `distill` stage's logits (as probabilities) with the ranker's logged scores
 * on the `split` rows (default `test`; histories as of that split, as `evaluateModel` reads them).
 * @throws ValueError the model has no distill stage or the split no ranker scores;
 *   EmptyError no scored row
 */
export function teacherAgreement(model: TwoTowerModel, dataset: InteractionDataset, split: 'test' | 'validation' = 'test'): TeacherAgreement {
  const stage = model.stages.find((s): s is Distill => s instanceof Distill);
  if (!stage) throw new ValueError('model.stages', 'teacher agreement needs a model with the distill stage');
  const log = split === 'test' ? dataset.test : dataset.validation;
  if (!log?.rankerScores) throw new ValueError(`dataset.${split}`, 'has no logged ranker scores');
  const T = dataset.schema.tasks.length;
  const rows: number[] = [];
  for (let r = 0; r < log.size; r++) {
    let scored = true;
    for (let t = 0; t < T; t++) if (Number.isNaN(log.rankerScores[r * T + t]!)) scored = false;
    if (scored) rows.push(r);
  }
  if (rows.length === 0) throw new EmptyError(`dataset.${split}`, 'no row with logged ranker scores');

  const users = Int32Array.from(rows, (r) => log.user[r]!);
  const items = Int32Array.from(rows, (r) => log.item[r]!);
  const H = model.historyLength;
  const history = H > 0
    ? gatherRows(latestHistories(split === 'test' ? trainingLog(dataset) : dataset.train, model.data.userIds.length, model.config.valueWeights, H), H, users)
    : undefined;
  const catalogue = model.catalogueEmbeddings();
  const predicted = tf.tidy(() => {
    const x = model.userTowerInput(model.userInputOf(users, history, history ? H : 0), false);
    const q = model.queryFromInput(x);
    const v = tf.tensor2d(gatherRows(catalogue, model.config.dim, items), [items.length, model.config.dim]);
    return tf.sigmoid(stage.rowLogits({ userInput: x, q, v }, items));
  });
  const p = takeValues(predicted);
  const correlation: Record<string, number> = {};
  dataset.schema.tasks.forEach((task, t) => {
    const mine = Float32Array.from(rows, (_, j) => p[j * T + t]!);
    const logged = Float32Array.from(rows, (r) => log.rankerScores![r * T + t]!);
    correlation[task] = pearson(mine, logged);
  });
  return { correlation, rows: rows.length };
}
