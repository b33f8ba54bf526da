/**
 * @tt/cli: the `tt` command. Programmatic entry points, for scripts and tests.
 *
 * @packageDocumentation
 */
export { buildProgram } from './program.js';
export { train, type TrainCliOptions } from './commands/train.js';
export { evaluate, type EvalCliOptions } from './commands/evaluate.js';
export { inspect, formatReport } from './commands/inspect.js';
export { retrieve, readUserIds, readUserRequests } from './commands/retrieve.js';
export { serve, type ServeCliOptions } from './commands/serve.js';
export { createServer, type ServeOptions, type ServingInfo, type TtServer } from './serve/server.js';
export { createMetrics, LATENCY_BUCKETS, type ServerMetrics } from './serve/metrics.js';
export { requestFromJson, answerToJson, REQUEST_FIELDS, type RequestJson, type AnswerJson } from './serve/requests.js';
export { demo, type DemoOptions, type DemoStageRow, type DemoUnit } from './commands/demo.js';
export { baseline, type BaselineCliOptions } from './commands/baseline.js';
export { benchStages, STAGE_ROWS, type BenchStagesOptions, type StageRow, type StageRun } from './commands/bench-stages.js';
export { exportWorld, listWorlds } from './commands/world.js';
export { benchTrain, BENCH_MODEL, BENCH_TRAINING, type BenchTrainOptions, type HistoryFill } from './commands/bench.js';
export { loadData, DATA_HELP, TRUTH_HELP, type LoadDataOptions } from './data-spec.js';
export { stageDefinitions, stagesFromFlags, type StageFlags } from './stages.js';
