/**
 * Fuzz test of the CSV loaders (and the sequence-file loader): seeded random truncations, byte flips, cell values and line edits
 * of valid interaction and feature files. Every case must end in a dataset whose batches pass
 * validation, or in a typed error (TtError); never in an untyped one (TypeError, RangeError...).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../nn/init.js';
import { TtError } from '../errors.js';
import { inMemorySource } from './batches.js';
import { loadInteractionCsv } from './csv.js';
import { streamingCsvSource } from './csv-stream.js';
import { inspectDataset } from './inspect.js';
import { loadSequenceFile } from './sequence.js';
import { validateBatch } from './validate.js';

const CELLS = [
  '', ' ', '0', '1', '-1', '0.5', '2.5', '1e30', '1e39', '-1e39', '3.4028235e38', 'NaN', 'Infinity', '-0', '1e-45', '4294967296', '9007199254740993',
  'abc', '"', '""', '"a,b"', '"x\ny"', ',', '\n', '\r', '\t', '\u0000', 'ü', '😀', '2024-01-01', '2024-13-45', 'null', '[]', '{}', 'label_click',
];

function validLog(rng: Rng): string {
  const rows = ['user_id,item_id,timestamp,position,label_click,label_watch,ranker_click,ranker_watch'];
  for (let r = 0; r < 40; r++) {
    const u = rng.int(8);
    rows.push(`u${u},${rng.int(12)},${1000 + rng.int(50)},${rng.int(4)},${rng.int(2)},${(rng.uniform() * 3).toFixed(2)},${rng.uniform().toFixed(3)},${rng.uniform() < 0.2 ? '' : rng.uniform().toFixed(3)}`);
  }
  return `${rows.join('\n')}\n`;
}

function validFeatures(rng: Rng, id: string, n: number): string {
  return `${id},f1,f2\n${Array.from({ length: n }, (_, i) => `${id === 'user_id' ? `u${i}` : i},${rng.normal().toFixed(3)},${rng.normal().toFixed(3)}`).join('\n')}\n`;
}

/** One random edit of `text`. */
function mutate(text: string, rng: Rng): string {
  const kind = rng.int(6);
  if (kind === 0) return text.slice(0, rng.int(text.length + 1)); // truncation
  if (kind === 1) {
    // byte flips
    const bytes = Buffer.from(text);
    for (let k = 0, n = 1 + rng.int(4); k < n; k++) bytes[rng.int(bytes.length)] = rng.int(256);
    return bytes.toString('latin1');
  }
  const lines = text.split('\n');
  if (kind === 2 || kind === 3) {
    // random cell values (kind 3: in the header too)
    for (let k = 0, n = 1 + rng.int(3); k < n; k++) {
      const li = kind === 3 ? rng.int(lines.length) : 1 + rng.int(Math.max(1, lines.length - 1));
      const cells = (lines[li] ?? '').split(',');
      cells[rng.int(cells.length)] = CELLS[rng.int(CELLS.length)]!;
      lines[li] = cells.join(',');
    }
    return lines.join('\n');
  }
  if (kind === 4) {
    // delete or duplicate lines
    const li = rng.int(lines.length);
    if (rng.uniform() < 0.5) lines.splice(li, 1);
    else lines.splice(li, 0, lines[rng.int(lines.length)]!);
    return lines.join('\n');
  }
  // a cell added or removed from a row
  const li = rng.int(lines.length);
  lines[li] = rng.uniform() < 0.5 ? `${lines[li]},extra` : (lines[li] ?? '').split(',').slice(1).join(',');
  return lines.join('\n');
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-csv-fuzz-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `load` and, when it gives a dataset, every batch of one epoch through validation; returns 'ok' or the error. */
async function outcome(run: () => Promise<void>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    if (e instanceof TtError) return e.code;
    throw new Error(`untyped error: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
  }
}

describe('CSV loaders under fuzzing', () => {
  const CASES = Number(process.env.TT_FUZZ_CASES ?? 300);
  it(`${CASES} seeded edits of valid files end in a valid dataset or a typed error`, async () => {
    const rng = new Rng(Number(process.env.TT_FUZZ_SEED ?? 2024));
    const outcomes = new Map<string, number>();
    for (let c = 0; c < CASES; c++) {
      const train = join(dir, `train-${c}.csv`);
      const test = join(dir, `test-${c}.csv`);
      const items = join(dir, `items-${c}.csv`);
      const target = rng.int(5); // which file gets the edit
      const write = (path: string, text: string, which: number) => writeFileSync(path, target === which ? mutate(text, rng) : text, 'latin1');
      write(train, validLog(rng), 0);
      write(test, validLog(rng), 1);
      write(items, validFeatures(rng, 'item_id', 12), 2);
      const withTest = rng.uniform() < 0.5;
      const result = await outcome(async () => {
        if (target === 4) {
          // the sequence loader ("user item" lines)
          const seq = join(dir, `seq-${c}.txt`);
          writeFileSync(seq, mutate(Array.from({ length: 40 }, () => `${rng.int(8)} ${rng.int(12)}`).join('\n'), rng), 'latin1');
          const d = await loadSequenceFile(seq, { validation: true, seed: c });
          inspectDataset(d);
          for await (const b of inMemorySource(d, { batchSize: 16, seed: c }).batches(0)) validateBatch(b, d.schema);
          return;
        }
        if (target === 3) {
          // the streaming loader over an edited file
          writeFileSync(train, mutate(validLog(rng), rng), 'latin1');
          const source = await streamingCsvSource(train, { batchSize: 16, historyLength: 2, shuffleBuffer: 8, itemFeatures: items });
          for await (const b of source.batches(0)) validateBatch(b, source.schema);
          return;
        }
        const d = await loadInteractionCsv({ train, test: withTest ? test : undefined, itemFeatures: items, validation: true, seed: c });
        inspectDataset(d);
        for await (const b of inMemorySource(d, { batchSize: 16, seed: c, historyLength: 2 }).batches(0)) validateBatch(b, d.schema);
      });
      outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
    }
    if (process.env.TT_FUZZ_SEED) console.log(Object.fromEntries(outcomes));
    // the edits reach both ends: valid datasets and several kinds of typed errors
    expect(outcomes.get('ok')).toBeGreaterThan(20);
    expect([...outcomes.keys()].filter((k) => k !== 'ok').length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
