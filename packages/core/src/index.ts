/**
 * @tt/core: two-tower retrieval for TypeScript.
 *
 * - runtime: backend choice (tfjs-node, else patched wasm, else cpu), stopGradient
 * - data: the batch schema and its validation, datasets and loaders, the synthetic world
 * - model: towers, weighted in-batch softmax, extension points for stage packages
 * - train: trainer, optimizers (dense Adam, row-sparse Adam/Adagrad), schedules, progress
 * - eval: loo-full retrieval metrics, funnel metrics
 * - io / serve: checkpoints (safetensors), retrieval through a @tt/mips index
 *
 * @packageDocumentation
 */
export * from './errors.js';
/** tfjs-core with every gradient registered: stage packages do their math through this one engine. */
export * as tf from './runtime/tf.js';
export { initBackend, describeBackend, type BackendInfo, type BackendName, type InitBackendOptions } from './runtime/backend.js';
export { stopGradient } from './runtime/stop-gradient.js';
export { storageView, takeValues } from './runtime/storage.js';
export { denseLayer } from './runtime/fused-ops.js';
export { WasmKernelModule, type WasmKernelModuleOptions } from './runtime/wasm-kernels.js';

export type { Batch, BatchSource, DatasetSchema, GroundTruth, InteractionDataset, InteractionLog, ItemId, SourceFacts } from './data/types.js';
export { inspectDataset, type DatasetReport, type Spread3 } from './data/inspect.js';
export { validateBatch } from './data/validate.js';
export {
  inMemorySource, historiesOf, positivesByUser, sampleHistory, seenItemsByUser, gatherRows, requestStarts, requestGroups,
  type HistoryOrder, type InMemorySourceOptions, type RequestGroups, type UserPositives,
} from './data/batches.js';
export { loadMovieLens, type MovieLensOptions } from './data/movielens.js';
export {
  loadInteractionCsv, type InteractionCsvOptions, type CsvDataset,
} from './data/csv.js';
export { streamingCsvSource, type StreamingCsvOptions, type StreamingCsvSource } from './data/csv-stream.js';
export type { StreamingOptions, StreamingSource } from './data/stream.js';
export {
  loadInteractionParquet, streamingParquetSource, parquetFiles, type InteractionParquetOptions,
} from './data/parquet.js';
export { loadSequenceFile, type SequenceFileOptions } from './data/sequence.js';
export { splitDataset, type SplitOptions, type DatasetSplit, type ValidationHoldout } from './data/split.js';
export { syntheticWorld, type SyntheticWorldOptions } from './data/synthetic.js';
export { WORLD_SUITE, HELD_OUT_WORLD, HELD_OUT_WORLDS, worldByName, type NamedWorld } from './data/world-suite.js';
export { truthFromTable, type TruthTable } from './data/truth.js';

export { Embedding, RowGradients } from './nn/embedding.js';
export { Dense, Mlp, type Activation } from './nn/dense.js';
export { ParameterStore, type NamedValues } from './nn/params.js';
export { Rng } from './nn/init.js';
export { bceWithLogits, maskedMean } from './nn/losses.js';
export { weightedPositionSum } from './nn/pooling.js';

export { resolveConfig, MODEL_DEFAULTS, type TwoTowerConfig, type TwoTowerOptions, type StageConfig } from './model/config.js';
export { TwoTowerModel, type ModelData, type LossTerms, type ModelTrainingState } from './model/two-tower.js';
export type {
  AuxiliaryHead, BatchLoss, BatchTensors, Candidates, ExampleWeighting, LossArgs, ModelShapes, ReRanker, Stage, StageContext, StageDefinition,
  StageTrainingState, UserInput, UserInputEncoder,
} from './model/stages.js';
export { FrequencyEstimator } from './model/frequency.js';
export { StageOptions, type NumberRule } from './model/stage-options.js';

export { Trainer, type TrainerOptions, type TrainResult, type EpochRecord } from './train/trainer.js';
export type { TrainerState, TrainerProgress, RefitProgress, FinishedRun } from './train/trainer-state.js';
export { DenseAdam, SparseRowOptimizer, type AdamOptions, type SparseOptimizerKind } from './train/optimizers.js';
export { learningRateAt, type ScheduleConfig } from './train/schedule.js';
export { createProgress, type ProgressMode, type ProgressReporter, type ProgressUpdate } from './train/progress.js';
export { fitTwoTower, checkFitOptions, validationMetricNames, FIT_DEFAULTS, type FitOptions, type TemperatureTrial } from './train/fit.js';

export { topKExcluding } from './eval/topk.js';
export { fitItemKnn, fitEase, fitBprMf, type BaselineScorer, type ItemKnnOptions, type EaseOptions, type BprMfOptions, type InteractionRows } from './eval/baselines.js';
export { pearson, spearman } from './eval/correlation.js';
export { evaluateRetrieval, popularityScores, testPositives, type RetrievalMetrics, type EvaluateRetrievalArgs } from './eval/retrieval.js';
export { evaluateFunnel, funnelReferences, type FunnelMetrics, type FunnelReferences, type EvaluateFunnelArgs } from './eval/funnel.js';
export { CatalogueScorer, evaluateModel, evaluateScores, evaluateModelFunnel, evaluateRankerAgreement, latestHistories, trainingItems, trainingLog } from './eval/model-eval.js';

export {
  encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors, type SafetensorsEntry, type SafetensorsDtype, type SafetensorsFile, type DecodeOptions,
} from './io/safetensors.js';
export { saveCheckpoint, loadCheckpoint, checkCheckpointTarget, type LoadedCheckpoint, type SaveCheckpointOptions, type TrainingRecord } from './io/checkpoint.js';
export {
  Retriever, buildItemIndex, SERVING_PATHS, type RetrieverOptions, type RetrievalResult, type RetrieveOptions, type ServingData, type ServingPath, type UserRequest,
  type ServedResult,
} from './serve/retriever.js';
