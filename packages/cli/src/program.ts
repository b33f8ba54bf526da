/**
 * The `tt` command line (commander): parses flags into the options of each command.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DATA_HELP } from './data-spec.js';
import { baseline } from './commands/baseline.js';
import { benchTrain } from './commands/bench.js';
import { demo } from './commands/demo.js';
import { evaluate } from './commands/evaluate.js';
import { exportCheckpoint } from './commands/export.js';
import { importTorch } from './commands/import.js';
import { retrieve } from './commands/retrieve.js';
import { train } from './commands/train.js';

function int(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}
function num(name: string) {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x)) throw new InvalidArgumentError(`${name} must be a number`);
    return x;
  };
}
function seedList(v: string): number[] {
  const seeds = v.split(',').map((x) => x.trim());
  if (seeds.length === 0 || !seeds.every((x) => /^\d+$/.test(x))) throw new InvalidArgumentError('--seeds must be comma-separated non-negative integers');
  return seeds.map(Number);
}
/** The options that choose stages and set their hyper-parameters (train and bench train). */
function withStageOptions(cmd: Command): Command {
  return cmd
    .option('--stages <list>', 'stages to add to the base model, comma-separated')
    .option('--history-len <n>', 'history items per user (history stage)', int('--history-len'))
    .option('--history-layers <n>', 'self-attention layers (history stage)', int('--history-layers'))
    .option('--ni <n>', 'MIPS candidates the light ranker re-ranks per request (light-ranker stage)', int('--ni'))
    .option('--nu <n>', 'user embeddings of the light ranker (light-ranker stage)', int('--nu'))
    .option('--ranker-item-dim <n>', 'width of the light ranker\'s own item embedding, 0 for none (light-ranker stage)', int('--ranker-item-dim'))
    .option('--retrieval-weight <x>', 'beta of the light ranker\'s key log(value) + beta * s / temperature (light-ranker stage)', num('--retrieval-weight'))
    .option('--kd-alpha <x>', 'weight of the logged ranker scores against the labels, 0..1 (distill stage)', num('--kd-alpha'))
    .option('--kd-temperature <x>', 'temperature of the soft-label loss (distill stage)', num('--kd-temperature'))
    .option('--listwise <x>', 'weight of listwise distillation into the retrieval scores, 0 = off (distill stage)', num('--listwise'));
}
const backendOption = () => new Option('--backend <name>', 'compute backend (default: best available; env TT_BACKEND)').choices(['tensorflow', 'wasm', 'cpu']);

/** The `tt` program: every command with its flags, ready for `parseAsync(process.argv)`. */
export function buildProgram(): Command {
  const program = new Command('tt')
    .description('Two-tower retrieval: train, evaluate, retrieve, benchmark; `tt demo` runs the whole funnel.')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  const trainCmd = program.command('train')
    .description('train on a dataset, evaluate (loo-full, with popularity beside it), save a checkpoint')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--checkpoint <dir>', 'where to save', 'tt-checkpoint')
    .option('--diagnostics <dir>', 'write what the stages learned: debias curves (JSON + SVG), distill teacher agreement')
    .option('--epochs <n>', 'maximum epochs (early stopping on validation recall@20)', int('--epochs'))
    .option('--batch-size <n>', 'rows per step', int('--batch-size'))
    .option('--lr <x>', 'learning rate', num('--lr'))
    .option('--dim <n>', 'embedding dimension', int('--dim'))
    .option('--temperature <x>', 'softmax temperature', num('--temperature'))
    .option('--mixed-negatives <n>', 'extra uniform negatives per batch', int('--mixed-negatives'))
    .option('--no-logq', 'turn off the logQ sampling-bias correction')
    .option('--patience <n>', 'early-stopping patience in epochs', int('--patience'))
    .option('--seed <n>', 'seed of initialisation and shuffling', int('--seed'));
  withStageOptions(trainCmd)
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await train(o);
    });

  program.command('baseline')
    .description('popularity, item-kNN and EASE under the protocol of `tt train` (hyper-parameters chosen on the validation split)')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--methods <list>', 'comma-separated: popularity, item-knn, ease (default all)')
    .option('--lambda <x>', 'EASE regularisation (default: chosen on validation)', num('--lambda'))
    .option('--neighbors <n>', 'item-kNN neighbours per item (default: chosen on validation)', int('--neighbors'))
    .addOption(new Option('--rows <which>', 'training rows that form the user-item matrix: every row, or the positive ones').choices(['rows', 'positives']))
    .option('--ease-max-items <n>', 'largest catalogue EASE takes on (its dense matrix: 4 N^2 bytes; default 30000)', int('--ease-max-items'))
    .option('--seed <n>', 'seed of a random validation holdout', int('--seed'))
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await baseline(o);
    });

  program.command('eval')
    .description('evaluate a checkpoint on a dataset (loo-full)')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await evaluate(o);
    });

  program.command('retrieve')
    .description('top K items per user id (one per line, or JSON lines with user_id); prints JSON lines')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory')
    .requiredOption('--users <file>', 'user ids')
    .option('--k <n>', 'items per user', int('--k'), 10)
    .option('--include-seen', 'do not exclude the items a user saw in training')
    .addOption(backendOption())
    .action(async (o) => {
      await retrieve(o);
    });

  program.command('export')
    .description('a checkpoint\'s item ids + embeddings and its users (ids, tower inputs, query vectors) for vector engines')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory')
    .requiredOption('--format <format>', 'npy | parquet | lancedb:<uri> (a directory, s3://..., db://...)')
    .option('--out <dir>', 'output directory of npy and parquet (default tt-export)')
    .option('--table <name>', 'LanceDB table (default items)')
    .option('--ann <kind>', 'LanceDB ANN index to build: ivf_pq, hnsw_pq, hnsw_sq, ivf_flat or none (default none)')
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await exportCheckpoint(o);
    });

  program.command('import')
    .description('a two-tower trained in PyTorch (safetensors of its state_dict) into a checkpoint, config and catalogue from --like')
    .requiredOption('--weights <file>', 'safetensors of the PyTorch module\'s state_dict (tools/pytorch/tt_torch.py names)')
    .requiredOption('--like <dir>', 'the checkpoint whose config and catalogue the weights belong to')
    .requiredOption('--checkpoint <dir>', 'where to write the new checkpoint')
    .option('--partial', 'parameters the file lacks keep the --like checkpoint\'s values')
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await importTorch(o);
    });

  program.command('demo')
    .description('the full funnel on the built-in synthetic world over seeds: train, evaluate, report, save, retrieve')
    .option('--checkpoint <dir>', 'keep the checkpoint (first seed, last row) here (default: a temporary directory)')
    .option('--epochs <n>', 'epochs per row, a fixed budget without early stopping (default 4)', int('--epochs'))
    .option('--seeds <list>', 'seeds of the world and the models, comma-separated (default 0,1,2)', seedList)
    .option('--seed <n>', 'one seed only (same as --seeds N)', int('--seed'))
    .option('--jobs <n>', 'seeds trained at the same time, in child processes (default: all of them)', int('--jobs'))
    .option('--report <file>', 'the HTML report (default tt-demo-report.html)')
    .option('--no-report', 'write no report')
    .addOption(new Option('--rows-only', 'one seed, rows as JSON, no serving (what the child processes run)').hideHelp())
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await demo(o);
    });

  const bench = program.command('bench').description('benchmarks');
  const benchTrainCmd = bench.command('train')
    .description('training throughput on a reference-shaped synthetic set (after a warm-up)')
    .option('--steps <n>', 'timed steps (default: one epoch)', int('--steps'))
    .option('--warmup <n>', 'untimed steps first', int('--warmup'))
    .option('--user-rows <n>', 'user-id table rows (e.g. 1000000)', int('--user-rows'))
    .option('--batch-size <n>', 'rows per step', int('--batch-size'))
    .addOption(new Option('--histories <kind>', "history stage: 'data', each row's earlier positives; 'full', every row --history-len random items (the PyTorch reference's fixed histories)").choices(['data', 'full']));
  withStageOptions(benchTrainCmd)
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await benchTrain(o);
    });
  return program;
}
