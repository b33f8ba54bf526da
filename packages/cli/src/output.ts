/**
 * Output conventions: human-readable text on stderr/stdout, and with `--json` one JSON object
 * as the last stdout line (what scripts and CI read).
 */

/** Numbers rounded for JSON: 4 significant decimals are plenty for metrics and speeds. */
export function rounded<T>(x: T): T {
  return JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v))) as T;
}

export function printJson(x: unknown): void {
  process.stdout.write(`${JSON.stringify(rounded(x))}\n`);
}

/** A plain aligned table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(4)) : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Peak resident memory of this process, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
