import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile, type ColumnSource } from 'hyparquet-writer';
import { CorruptFileError, EmptyError, FileSystemError, OutOfRangeError, ValueError } from '../errors.js';
import { loadInteractionCsv } from './csv.js';
import { streamingCsvSource } from './csv-stream.js';
import { loadInteractionParquet, parquetFiles, streamingParquetSource } from './parquet.js';
import { validateBatch } from './validate.js';
import { errorOf, collect } from '../model/test-fixtures.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-parquet-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A generated log of `n` rows (rows r0..r1 of it): 41 users, 29 items, time order. */
function logRows(r0: number, r1: number) {
  const rows = [];
  for (let r = r0; r < r1; r++) {
    rows.push({
      user: `u${(r * 7) % 41}`, item: (r * 5) % 29, timestamp: 1000 + r, position: r % 4,
      click: r % 3 === 0 ? 1 : 0, watch: r % 5, ranker: r % 7 === 0 ? null : (r % 10) / 10,
    });
  }
  return rows;
}
type Row = ReturnType<typeof logRows>[number];

function writeParquet(path: string, rows: readonly Row[], rowGroupSize = 1000, drop: readonly string[] = []): string {
  const columns: ColumnSource[] = [
    { name: 'user_id', data: rows.map((r) => r.user), type: 'STRING', nullable: false },
    { name: 'item_id', data: BigInt64Array.from(rows, (r) => BigInt(r.item)), type: 'INT64', nullable: false },
    { name: 'timestamp', data: rows.map((r) => new Date(r.timestamp * 1000)), type: 'TIMESTAMP', nullable: false },
    { name: 'position', data: Int32Array.from(rows, (r) => r.position), type: 'INT32', nullable: false },
    { name: 'label_click', data: rows.map((r) => r.click === 1), type: 'BOOLEAN', nullable: false },
    { name: 'label_watch', data: Float64Array.from(rows, (r) => r.watch), type: 'DOUBLE', nullable: false },
    { name: 'ranker_click', data: rows.map((r) => r.ranker), type: 'DOUBLE', nullable: true },
    { name: 'ranker_watch', data: rows.map(() => 0.5), type: 'DOUBLE', nullable: false },
    { name: 'note', data: rows.map(() => 'x'), type: 'STRING', nullable: false },
  ];
  parquetWriteFile({ filename: path, columnData: columns.filter((c) => !drop.includes(c.name)), rowGroupSize });
  return path;
}

function writeCsv(path: string, rows: readonly Row[]): string {
  const lines = ['user_id,item_id,timestamp,position,label_click,label_watch,ranker_click,ranker_watch,note'];
  for (const r of rows) lines.push(`${r.user},${r.item},${r.timestamp},${r.position},${r.click},${r.watch},${r.ranker ?? ''},0.5,x`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('loadInteractionParquet', () => {
  it('reads typed columns into the same dataset as the CSV of the same rows', async () => {
    const rows = logRows(0, 600);
    const csv = await loadInteractionCsv({ train: writeCsv(join(dir, 'log.csv'), rows), validation: true });
    const pq = await loadInteractionParquet({ train: writeParquet(join(dir, 'log.parquet'), rows, 128), validation: true });
    expect(pq.name).toBe('parquet:log.parquet');
    expect(pq.schema).toEqual(csv.schema);
    expect(pq.userIds).toEqual(csv.userIds);
    expect(pq.itemIds).toEqual(csv.itemIds); // INT64 ids are integers, as CSV digits are
    for (const part of ['train', 'validation', 'test'] as const) expect(pq[part]).toEqual(csv[part]);
    expect(pq.warnings).toEqual(csv.warnings.map((w) => w.replace('log.csv', 'log.parquet')));
    expect(Number.isNaN(pq.train.rankerScores![0])).toBe(true); // null: not scored
  });

  it('reads a directory of part files and a glob as one log, in path order', async () => {
    const rows = logRows(0, 600);
    const parts = join(dir, 'export');
    mkdirSync(join(parts, 'tail'), { recursive: true });
    writeParquet(join(parts, 'part-00000.parquet'), rows.slice(0, 250), 100);
    writeParquet(join(parts, 'part-00001.parquet'), rows.slice(250, 400), 64);
    writeParquet(join(parts, 'tail', 'part-00000.parquet'), rows.slice(400), 1000);
    writeFileSync(join(parts, '_SUCCESS'), '');
    writeFileSync(join(parts, '.part-00000.parquet.crc'), 'crc');
    const whole = await loadInteractionParquet({ train: writeParquet(join(dir, 'all.parquet'), rows) });
    const fromDir = await loadInteractionParquet({ train: parts });
    expect(parquetFiles(parts).map((p) => p.slice(parts.length + 1))).toEqual(['part-00000.parquet', 'part-00001.parquet', 'tail/part-00000.parquet']);
    expect(fromDir.userIds).toEqual(whole.userIds);
    expect(fromDir.train).toEqual(whole.train);
    expect(fromDir.test).toEqual(whole.test);
    const glob = await loadInteractionParquet({ train: join(parts, 'part-*.parquet'), test: join(parts, '**/t?il/*.parquet') });
    expect(glob.train.size).toBe(400);
    expect(parquetFiles(join(parts, '**/*.parquet'))).toHaveLength(3);
  });

  it('names the missing column, the bad value and the unreadable file', async () => {
    const rows = logRows(0, 50);
    const noUser = await errorOf(loadInteractionParquet({ train: writeParquet(join(dir, 'a.parquet'), rows, 1000, ['user_id']) }));
    expect(noUser).toBeInstanceOf(ValueError);
    expect(noUser.field).toBe('user_id');
    const bad = rows.map((r, i) => (i === 7 ? { ...r, ranker: 1.5 } : r));
    const outOfRange = await errorOf(loadInteractionParquet({ train: writeParquet(join(dir, 'b.parquet'), bad) }));
    expect(outOfRange).toBeInstanceOf(OutOfRangeError);
    expect(outOfRange.field).toBe('ranker_click');
    expect(outOfRange.message).toContain('row 8');
    writeFileSync(join(dir, 'c.parquet'), 'user_id,item_id\n1,2\n');
    const notParquet = await errorOf(loadInteractionParquet({ train: join(dir, 'c.parquet') }));
    expect(notParquet).toBeInstanceOf(CorruptFileError);
    expect(notParquet.field).toBe(join(dir, 'c.parquet'));
    expect(await errorOf(loadInteractionParquet({ train: join(dir, 'none.parquet') }))).toBeInstanceOf(FileSystemError);
    mkdirSync(join(dir, 'empty'));
    expect(await errorOf(loadInteractionParquet({ train: join(dir, 'empty') }))).toBeInstanceOf(EmptyError);
    // a later part file without a label column the first one has
    mkdirSync(join(dir, 'parts'));
    writeParquet(join(dir, 'parts', 'p0.parquet'), rows);
    writeParquet(join(dir, 'parts', 'p1.parquet'), rows, 1000, ['label_watch']);
    const partMissing = await errorOf(loadInteractionParquet({ train: join(dir, 'parts') }));
    expect(partMissing).toBeInstanceOf(ValueError);
    expect(partMissing.field).toBe('label_watch');
  });
});

describe('streamingParquetSource', () => {
  it('streams the batches the CSV streaming source makes of the same rows', async () => {
    const rows = logRows(0, 700);
    const options = { batchSize: 64, seed: 3, shuffleBuffer: 150, historyLength: 3 };
    const fromCsv = await streamingCsvSource(writeCsv(join(dir, 'log.csv'), rows), options);
    mkdirSync(join(dir, 'parts'));
    writeParquet(join(dir, 'parts', 'part-0.parquet'), rows.slice(0, 300), 77);
    writeParquet(join(dir, 'parts', 'part-1.parquet'), rows.slice(300), 128);
    const fromParquet = await streamingParquetSource(join(dir, 'parts'), options);
    expect(fromParquet.schema).toEqual(fromCsv.schema);
    expect(fromParquet.rowsPerEpoch).toBe(700);
    expect(fromParquet.warnings).toEqual([`${join(dir, 'parts')}: ignored columns note`]);
    for (const epoch of [0, 1]) {
      const a = await collect(fromParquet.batches(epoch));
      const b = await collect(fromCsv.batches(epoch));
      for (const batch of a) validateBatch(batch, fromParquet.schema);
      expect(a).toEqual(b);
    }
  });

  it('checks every row on opening', async () => {
    const rows = logRows(0, 30).map((r, i) => (i === 20 ? { ...r, user: '' } : r));
    const e = await errorOf(streamingParquetSource(writeParquet(join(dir, 'x.parquet'), rows), { batchSize: 8 }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.field).toBe('user_id');
  });
});
