/**
 * @tt/cli: the `tt` command. Programmatic entry points, for scripts and tests.
 *
 * @packageDocumentation
 */
export { buildProgram } from './program.js';
export { train, type TrainCliOptions } from './commands/train.js';
export { evaluate } from './commands/evaluate.js';
export { retrieve, readUserIds } from './commands/retrieve.js';
export { demo, type DemoOptions, type DemoStageRow, type SeedRun } from './commands/demo.js';
export { benchTrain, BENCH_MODEL, BENCH_TRAINING, type BenchTrainOptions, type HistoryFill } from './commands/bench.js';
export { loadData, DATA_HELP } from './data-spec.js';
export { stageDefinitions, stagesFromFlags, type StageFlags } from './stages.js';
