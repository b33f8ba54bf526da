/**
 * The `tt` command line (commander): parses flags into the options of each command.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '@tt/core';
import { DATA_HELP, TRUTH_HELP } from './data-spec.js';
import { baseline } from './commands/baseline.js';
import { benchTrain } from './commands/bench.js';
import { benchStages } from './commands/bench-stages.js';
import { demo } from './commands/demo.js';
import { evaluate } from './commands/evaluate.js';
import { exportCheckpoint } from './commands/export.js';
import { importTorch } from './commands/import.js';
import { inspect } from './commands/inspect.js';
import { retrieve } from './commands/retrieve.js';
import { serve } from './commands/serve.js';
import { OUTPUT_FLAGS, train } from './commands/train.js';
import { exportWorld, listWorlds } from './commands/world.js';
import { EXIT_CODES_HELP, Interrupted } from './exit-codes.js';

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
function positive(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}
function port(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('--port must be an integer in [0, 65535]');
  return Number(v);
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
  // exitOverride first, so every command inherits it: usage errors reach the caller (exit 2), not process.exit(1)
  const program = new Command('tt')
    .exitOverride()
    .description('Two-tower retrieval: train, evaluate, retrieve, benchmark; `tt demo` runs the whole funnel.')
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  const trainCmd = program.command('train')
    .description('train on a dataset, evaluate (loo-full, with popularity beside it), save a checkpoint')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--checkpoint <dir>', 'where to save: a new or empty directory, or a tt checkpoint to replace', 'tt-checkpoint')
    .option('--force', 'save even into a directory that holds other files (they are deleted)')
    .option('--diagnostics <dir>', 'write what the stages learned: debias curves (JSON + SVG), distill teacher agreement')
    .option('--epochs <n>', 'maximum epochs (early stopping on the validation monitor); with the light ranker also of its refit on the final towers', int('--epochs'))
    .option('--batch-size <n>', 'rows per step', int('--batch-size'))
    .option('--lr <x>', 'learning rate', num('--lr'))
    .option('--dim <n>', 'embedding dimension (default 64; 128 for a catalogue of more than 10,000 items)', int('--dim'))
    .option('--temperature <x>', 'softmax temperature (default 0.1; a log without timestamps: 0.1 or 0.2, chosen on validation)', num('--temperature'))
    .option('--mixed-negatives <n>', 'extra uniform negatives per batch', int('--mixed-negatives'))
    .option('--no-logq', 'turn off the logQ sampling-bias correction')
    .option('--user-id-dropout <x>', 'share of training rows trained without their user-id vector, so new users (cold start) are served better; 0..1 (used instead of --user-id-dropout-rows when set)', num('--user-id-dropout'))
    .option('--user-id-dropout-rows <c>', 'drop a user\'s id vector with probability c / (c + the user\'s training items: positives, plus the ranker-scored rows with reward-align or distill), instead of one share for all; default 20 (0: off)', num('--user-id-dropout-rows'))
    .option('--patience <n>', 'early-stopping patience in epochs', int('--patience'))
    .option('--monitor <metric>', "the validation metric early stopping watches (default: what the model's stages are for; recall@20 for the base model)")
    .option('--no-restore-best', 'keep the last epoch\'s weights instead of the best validation epoch\'s (and skip the light ranker\'s refit on the final towers)')
    .option('--refit', 'after early stopping, train a fresh model on the training and validation rows for the epochs it chose, and keep that one (the default: a second run of the kept epochs)')
    .option('--no-refit', 'keep the early-stopped model, which never trained on the validation rows (one training run instead of two)')
    .option('--value-weights <list>', 'w of value = labels . w, one per label column, comma-separated (default all ones; a world keeps its own)', (v: string) => v.split(',').map((x) => Number(x.trim() === '' ? NaN : x)))
    .option('--user-features <file>', 'CSV user_id + numeric columns (with --data csv:)')
    .option('--item-features <file>', 'CSV item_id + numeric columns (with --data csv:)')
    .option('--truth <file.npy>', TRUTH_HELP)
    .option('--seed <n>', 'seed of initialisation and shuffling', int('--seed'));
  withStageOptions(trainCmd)
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .option('--resume <dir>', 'continue the interrupted run saved in <dir> (Ctrl-C saves one), with the options it was started with; saves into <dir> unless --checkpoint')
    .action(async (o, cmd: Command) => {
      if (o.resume) {
        const given = Object.keys(o).filter((k) => cmd.getOptionValueSource(k) === 'cli' && !(OUTPUT_FLAGS as readonly string[]).includes(k));
        if (given.length) throw new ConfigError('--resume', `continues a run with the options it was started with; drop ${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
        if (cmd.getOptionValueSource('checkpoint') !== 'cli') o.checkpoint = o.resume;
      }
      const out = await train(o);
      if (out['interrupted']) throw new Interrupted();
    });

  program.command('baseline')
    .description('popularity, item-kNN, EASE and BPR-MF under the protocol of `tt train` (hyper-parameters chosen on the validation split)')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--methods <list>', 'comma-separated: popularity, item-knn, ease, bpr-mf (default all)')
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

  program.command('data').description('look at a dataset before training')
    .command('inspect')
    .description('rows, users, items, label rates, rows per user and item, duplicates, time order; unknown and unreachable test rows')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--seed <n>', 'seed of the synthetic world and of a random validation holdout', int('--seed'))
    .option('--json', 'print the report as JSON on the last line')
    .action(async (o) => {
      await inspect(o);
    });

  program.command('eval')
    .description('evaluate a checkpoint on a dataset (loo-full)')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory')
    .option('--data <spec>', DATA_HELP, 'synthetic')
    .option('--user-features <file>', 'CSV user_id + numeric columns (with --data csv:)')
    .option('--item-features <file>', 'CSV item_id + numeric columns (with --data csv:)')
    .option('--truth <file.npy>', TRUTH_HELP)
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

  program.command('serve')
    .description('serve a checkpoint over HTTP: POST /retrieve (by user id, features or history; cold start), /retrieve/batch, GET /health, /metrics; SIGHUP or POST /admin/reload swaps in a new checkpoint')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory')
    .option('--port <n>', 'TCP port (0: any free port)', port, 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface; there is no authentication)', '127.0.0.1')
    .option('--body-limit <bytes>', 'largest request body (larger: 413)', positive('--body-limit'), 1024 * 1024)
    .option('--max-batch <n>', 'most requests in one POST /retrieve/batch', positive('--max-batch'), 1000)
    .addOption(backendOption())
    .action(async (o) => {
      await serve(o);
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
    .description('the full funnel on three worlds of the synthetic suite over seeds: train every stage as tt train does, evaluate, report, save, retrieve')
    .option('--checkpoint <dir>', 'keep the checkpoint (first world and seed, last row) here (default: a temporary directory)')
    .option('--epochs <n>', "most epochs a row trains (default tt train's); early stopping as tt train", int('--epochs'))
    .option('--seeds <list>', 'seeds of the worlds and the models, comma-separated (default 0; tt bench stages runs three)', seedList)
    .option('--seed <n>', 'one seed only (same as --seeds N)', int('--seed'))
    .option('--jobs <n>', 'world x seed units trained at the same time, in child processes (default 2)', int('--jobs'))
    .option('--scale <x>', "each world's users and impressions times x, in (0, 1], the catalogue kept (default 0.3)", num('--scale'))
    .option('--report <file>', 'the HTML report (default tt-demo-report.html)')
    .option('--no-report', 'write no report')
    .addOption(new Option('--rows-only', 'one world and seed, rows as JSON, no serving (what the child processes run)').hideHelp())
    .addOption(new Option('--world <name>', 'the world of --rows-only').hideHelp())
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await demo(o);
    });

  const world = program.command('world').description('the synthetic world suite: list it, or export a world as CSV files with its truth');
  world.command('list')
    .description('the worlds of the suite and the held-out ones')
    .option('--json', 'print a JSON summary as the last line')
    .action((o) => {
      listWorlds(o);
    });
  world.command('export')
    .description('write a world as train/test CSV, feature files, truth.npy (true value per user and item) and world.json')
    .argument('<name>', 'a world of `tt world list`')
    .argument('<dir>', 'a new or empty directory (or an earlier export)')
    .option('--seed <n>', 'seed of the world', int('--seed'))
    .option('--json', 'print a JSON summary as the last line')
    .action(async (name: string, dir: string, o) => {
      await exportWorld(name, dir, o);
    });

  const bench = program.command('bench').description('benchmarks');
  const benchTrainCmd = bench.command('train')
    .description('training throughput on a reference-shaped synthetic set (after a warm-up)')
    .option('--steps <n>', 'timed steps (default: one epoch)', int('--steps'))
    .option('--warmup <n>', 'untimed steps first', int('--warmup'))
    .option('--user-rows <n>', 'user-id table rows (e.g. 1000000)', int('--user-rows'))
    .option('--batch-size <n>', 'rows per step', int('--batch-size'))
    .addOption(new Option('--history-fill <kind>', "history stage: 'data', each row's earlier positives; 'full', every row --history-len random items (the PyTorch reference's fixed histories); 'both' (default) times both").choices(['data', 'full', 'both']))
    .addOption(new Option('--histories <kind>', 'the former name of --history-fill').choices(['data', 'full']).hideHelp());
  withStageOptions(benchTrainCmd)
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await benchTrain(o);
    });
  bench.command('stages')
    .description('every funnel stage on every world of the suite, trained as `tt train` trains it, over seeds: funnel metrics and each stage\'s effect paired by seed')
    .option('--worlds <list>', 'comma-separated worlds (`tt world list`: the suite\'s and the held-out ones, e.g. `held-out,held-out-2`), or `suite` (default)')
    .option('--rows <list>', 'comma-separated rows: base, base-agreement (base stopped on ranker-agreement), debias, light-ranker, distill, reward-align (default all)')
    .option('--seeds <list>', 'seeds of the worlds and the models, comma-separated (default 0,1,2)', seedList)
    .option('--jobs <n>', 'world x seed units trained at the same time, in child processes (default 2)', int('--jobs'))
    .option('--out <file>', 'append every run as a JSON line')
    .option('--scale <x>', "each world's users and impressions times x, in (0, 1], the catalogue kept (a quick look; default 1)", num('--scale'))
    .option('--no-refit', 'train every row as `tt train --no-refit` does: the early-stopped model, not a fresh one on the training and validation rows (the default) for the epochs it kept')
    .addOption(new Option('--unit <world:seed>', 'one world and seed in this process (what the child processes run)').hideHelp())
    .addOption(backendOption())
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      await benchStages(o);
    });
  return program;
}
