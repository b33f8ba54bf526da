/**
 * `tt data inspect`: what a dataset looks like before training on it, and whether its test split
 * can measure anything (the same checks `tt train` prints as warnings before it trains).
 */
import { initBackend, inspectDataset, type DatasetReport, type Spread3 } from '@tt/core';
import { loadData } from '../data-spec.js';
import { printJson } from '../output.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const spread = (s: Spread3) => `min ${s.min}, median ${s.median}, max ${s.max}`;

/** The report as text, one fact per line. */
export function formatReport(r: DatasetReport): string {
  const t = r.training;
  const e = r.test;
  const lines = [
    r.name,
    `training: ${t.rows} rows, ${t.users} users (vocabulary ${t.vocabularyUsers}), ${t.items} items (catalogue ${t.catalogueItems}), ${pct(t.positiveRate)} of rows positive`,
    `  label rate (share of rows with label > 0): ${Object.entries(t.labelRates).map(([task, v]) => `${task} ${pct(v)}`).join(', ')}`,
    `  rows per user: ${spread(t.rowsPerUser)}; rows per item: ${spread(t.rowsPerItem)}`,
    `  duplicate (user, item) rows: ${t.duplicateRows}; rows out of time order in the file: ${t.outOfOrderTimestamps ?? 'n/a (no timestamps read)'}`,
    `test: ${e.rows} rows, ${e.users} users; unknown to training: ${e.unknownUsers} users, ${e.unknownItems} items; rows dropped from the test file: ${e.droppedRows}`,
    `  unreachable under full ranking (the user has the item in training): ${e.unreachableRows} rows (${pct(e.unreachableShare)}); median items left to rank per test user: ${e.medianCandidates}`,
  ];
  lines.push(r.warnings.length ? `warnings:\n${r.warnings.map((w) => `  - ${w}`).join('\n')}` : 'warnings: none');
  return lines.join('\n');
}

/** `tt data inspect`: loads `data` as `tt train` does and prints the report; returns it. */
export async function inspect(o: { data: string; seed?: number; json?: boolean }): Promise<DatasetReport> {
  await initBackend({ log: false });
  const dataset = await loadData(o.data, { seed: o.seed });
  const report = inspectDataset(dataset);
  process.stdout.write(`${formatReport(report)}\n`);
  if (o.json) printJson(report);
  return report;
}
