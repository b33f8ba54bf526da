/**
 * Extension points of {@link TwoTowerModel} (ARCHITECTURE.md "Composition, not a class ladder").
 * A stage package exports a {@link StageDefinition}; the model config names the stages it uses,
 * and the model asks each definition to create its parts over the shared parameter store.
 * Every hook runs inside the training step's `tf.tidy`: return tensors, don't keep them.
 */
import type * as tf from '../runtime/tf.js';
import type { Batch } from '../data/types.js';
import type { Embedding } from '../nn/embedding.js';
import type { Rng } from '../nn/init.js';
import type { ParameterStore } from '../nn/params.js';
import type { TwoTowerConfig } from './config.js';

/** The user side of a request or of a training batch: what the user tower reads. */
export interface UserInput {
  /** n, the number of users */
  readonly size: number;
  /** `[n]` user indices */
  readonly user: Int32Array;
  /** `[n * IU]` */
  readonly userFeatures: Float32Array;
  /** `[n * H]` earlier positive item indices, newest first, -1 = padding */
  readonly history?: Int32Array;
  /** H of `history` (0 when absent) */
  readonly historyLength: number;
}

/** A training batch as tensors, plus the batch itself for id-level work. */
export interface BatchTensors {
  /** the batch the tensors were made from */
  readonly batch: Batch;
  /** `[B, T]` */
  readonly labels: tf.Tensor2D;
  /** `[B]` int32, when the schema has positions */
  readonly position?: tf.Tensor1D;
  /** `[B, T]`, when the schema has ranker scores; 0 where a row has none (see the mask) */
  readonly rankerScores?: tf.Tensor2D;
  /** `[B, T]` 1 where the ranker's score was logged, 0 where it is missing (NaN in the batch) */
  readonly rankerScoreMask?: tf.Tensor2D;
}

/** What every stage can reach when it is created. */
export interface StageContext {
  /** the resolved model config */
  readonly config: TwoTowerConfig;
  /** the model's parameter store; a stage adds its parameters under `stages.<name>.` */
  readonly params: ParameterStore;
  /** the item-id table (shared by the item tower and, e.g., history encoders) */
  readonly itemEmbedding: Embedding;
  /** the user-id table */
  readonly userEmbedding: Embedding;
  /** seeded; forked per stage */
  readonly rng: Rng;
}

/** Adds columns to the user tower input (e.g. an encoded history). */
export interface UserInputEncoder {
  /** columns added */
  readonly dim: number;
  /** history items it reads per user (0: none); batches and requests then carry histories */
  readonly historyLength?: number;
  /** `[n, dim]` */
  encode(input: UserInput, training: boolean): tf.Tensor2D;
}

/** Rewrites the example weights (e.g. debiasing), optionally with an auxiliary loss. */
export interface ExampleWeighting {
  /** Returns the example weights to use instead of `args.weights` (and an optional extra loss). */
  weigh(args: {
    /** `[B]` the weights so far (starts as nuv = labels . w) */
    readonly weights: tf.Tensor1D;
    /** `[B]` nuv itself */
    readonly nuv: tf.Tensor1D;
    /** `[B, DI]` query embeddings (before normalisation) */
    readonly q: tf.Tensor2D;
    /** `[B]` retrieval's logit of each row's own pair, `q . v / temperature` (no logQ): what the model thinks of the shown item */
    readonly pairScore: tf.Tensor1D;
    readonly batch: BatchTensors;
  }): {
    /** `[B]` the new weights */
    weights: tf.Tensor1D;
    /** an auxiliary loss added to the training loss (e.g. of a propensity model) */
    loss?: tf.Scalar;
  };
}

/** Arguments of auxiliary heads and batch losses. */
export interface LossArgs {
  /** `[B, user tower input width]` */
  readonly userInput: tf.Tensor2D;
  /** `[B, DI]` query and item embeddings as the retrieval space sees them */
  readonly q: tf.Tensor2D;
  /** `[B, DI]` the batch's item embeddings, row-aligned with `q` */
  readonly v: tf.Tensor2D;
  /** `[B, B (+ mixed negatives)]` logits of the in-batch softmax (after temperature, logQ, masks) */
  readonly logits: tf.Tensor2D;
  /** `[B]` final example weights (stopped gradient) */
  readonly weights: tf.Tensor1D;
  /** the batch's labels and logged scores as tensors */
  readonly batch: BatchTensors;
}

/** A training-only head (light ranker, distillation): returns its loss. */
export interface AuxiliaryHead {
  /** The head's loss, added to the training loss. */
  loss(args: LossArgs): tf.Scalar;
}

/** A loss over the whole batch (e.g. aligning the softmax with a reward model). */
export interface BatchLoss {
  /** The batch loss, added to the training loss. */
  loss(args: LossArgs): tf.Scalar;
}

/** Candidates of one request, from MIPS. */
export interface Candidates {
  /** item indices, best first */
  readonly items: Int32Array;
  /** MIPS scores, same order as `items` */
  readonly scores: Float32Array;
  /** `[n, DI]` row-major */
  readonly vectors: Float32Array;
}

/** Re-orders MIPS candidates at serving time (e.g. a light ranker). */
export interface ReRanker {
  /** The top `k` of each request's candidates, re-ordered, one entry per request. */
  rerank(args: {
    readonly users: UserInput;
    /** `[n, user tower input width]` */
    readonly userInput: tf.Tensor2D;
    readonly q: tf.Tensor2D;
    readonly candidates: readonly Candidates[];
    readonly k: number;
  }): Array<{
    /** the top `k` item indices, best first */
    items: Int32Array;
    /** the re-ranker's scores, same order as `items` */
    scores: Float32Array;
  }>;
}

/** Sizes a stage can only know once the whole model is assembled. */
export interface ModelShapes {
  /** width of the user tower input: id embedding, feature MLP, and every encoder's columns */
  readonly userInputWidth: number;
  /** every stage of the model, in config order (a stage built on another one finds it here) */
  readonly stages: readonly Stage[];
}

/** The parts one stage contributes; any subset. */
export interface Stage {
  /** the stage's name (its definition's name) */
  readonly name: string;
  /**
   * Called once, after every stage of the model is created and before any training: creates
   * the parameters whose shapes depend on other stages (e.g. a head over the user tower input).
   */
  readonly build?: (shapes: ModelShapes) => void;
  /** columns the stage adds to the user tower input */
  readonly userInput?: UserInputEncoder;
  /** rewrites the example weights */
  readonly weighting?: ExampleWeighting;
  /** a training-only head with its own loss */
  readonly auxiliaryHead?: AuxiliaryHead;
  /** an extra loss over the whole batch */
  readonly batchLoss?: BatchLoss;
  /** re-orders MIPS candidates at serving time */
  readonly reranker?: ReRanker;
  /** how many MIPS candidates the re-ranker wants per request (default: k) */
  readonly candidatesToRerank?: number;
  /**
   * the validation metric the stage is judged by (e.g. `ranker-agreement` for the funnel stages):
   * early stopping watches it by default when the validation split has it
   */
  readonly monitor?: string;
  /**
   * the stage reads whole logged requests (listwise losses): training batches then shuffle
   * requests (consecutive rows of one user and timestamp) instead of single rows
   */
  readonly needsWholeRequests?: boolean;
  /**
   * the stage's loss trains the user's query on every row the ranker scored, not only on positives
   * (e.g. the ranker's values as targets): per-user id dropout (`userIdDropoutRows`) then counts
   * those rows among the user's training rows, so a user the stage has many rows on keeps its id
   */
  readonly trainsOnScoredRows?: boolean;
  /**
   * the stage's own parameters (`stages.<name>.*`) learn from a loss that reads the towers stopped,
   * so they can go on learning after the towers stop: once early stopping has restored the towers'
   * best epoch, `fitTwoTower` trains those parameters alone on the towers they will serve with,
   * keeping an epoch only when it beats the restored model on the monitor. One early stop for both
   * fails when the towers overfit in an epoch or two and the stage's head needs more.
   */
  readonly refitsOnFinalTowers?: boolean;
  /** state the stage keeps between training steps besides its parameters (e.g. a step counter) */
  readonly trainingState?: StageTrainingState;
  /**
   * What the stage found about the log it trained on that a user should know, one sentence
   * each (e.g. that an assumption it relies on does not hold there, so it changes little);
   * `tt train` prints them after training. Empty when there is nothing to say.
   */
  readonly notes?: () => readonly string[];
}

/**
 * What a stage keeps between training steps outside its parameters, saved when a run is
 * interrupted and restored when it resumes, so the resumed run takes the same steps.
 */
export interface StageTrainingState {
  /** The state as JSON values (numbers, booleans, strings). */
  save(): Readonly<Record<string, number | boolean | string>>;
  /**
   * Continues from what `save` returned.
   * @throws ValueError for a state this stage did not save
   */
  restore(state: Readonly<Record<string, unknown>>): void;
}

/** What a stage package exports. */
export interface StageDefinition {
  /** unique name, the `name` of a {@link StageConfig} that uses it */
  readonly name: string;
  /**
   * Creates the stage's parameters (under `stages.<name>.` in `ctx.params`) and hooks.
   * @throws ConfigError for invalid options
   */
  create(options: Readonly<Record<string, unknown>>, ctx: StageContext): Stage;
}
