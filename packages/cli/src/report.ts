/**
 * The HTML report of `tt demo`: one standalone file (inline SVG, no script, no network) with the
 * per-stage table, one bar chart per funnel metric (mean over seeds, whiskers one sd), and the
 * training curves of every row (mean over seeds).
 */
import { renderSvgChart } from '@tt/debias';
import type { DemoMetric } from './stages.js';

/** Mean and sample standard deviation (0 for one value). */
export interface Spread {
  readonly mean: number;
  readonly sd: number;
}

export function meanAndSpread(xs: readonly number[]): Spread {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/** A stage's change on one metric against its comparison row, paired by seed. */
export interface Effect extends Spread {
  readonly metric: DemoMetric;
  readonly against: string;
  readonly perSeed: readonly number[];
}

/** One row of the demo on one world, over all seeds. */
export interface RowSummary {
  /** the suite world it trained on */
  readonly world: string;
  readonly name: string;
  readonly metrics: Readonly<Record<DemoMetric, Spread>>;
  readonly effects: readonly Effect[];
  /** mean training seconds per seed */
  readonly seconds?: number;
  /** mean epochs trained per seed */
  readonly epochs?: number;
  /** the validation metric early stopping watched */
  readonly monitor?: string;
  /** per epoch, mean over the seeds that reached it */
  readonly curves?: { readonly loss: readonly number[]; readonly monitor: readonly number[] };
}

export interface DemoSummary {
  readonly backend: string;
  readonly seconds: number;
  readonly seeds: readonly number[];
  readonly jobs: number;
  /** epochs trained in all */
  readonly epochs: number;
  readonly examplesPerSec: number;
  readonly rows: readonly RowSummary[];
  /** the suite worlds, in order */
  readonly worlds: readonly { readonly name: string; readonly description: string }[];
  /** the `--epochs` cap, when one was given (else `tt train`'s) */
  readonly maxEpochs?: number;
  /** the worlds' size factor */
  readonly scale: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Round tick values from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten, about
 * `count` of them (0 alone when `max` is not positive).
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * pow).find((x) => x >= raw * (1 - 1e-12))!;
  const ticks = [0];
  while (ticks[ticks.length - 1]! < max * (1 - 1e-12)) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

/** Horizontal bars (one per row) of `metric`, whiskers at mean ± sd, a value axis with round ticks below. */
export function renderBars(rows: readonly RowSummary[], metric: DemoMetric, title: string): string {
  const W = 560;
  const bar = 18;
  const gap = 8;
  const m = { left: 170, right: 70, top: 30, bottom: 36 };
  const H = m.top + m.bottom + rows.length * (bar + gap);
  const ticks = niceTicks(Math.max(0, ...rows.map((r) => r.metrics[metric].mean + r.metrics[metric].sd)));
  const hi = Math.max(1e-9, ticks[ticks.length - 1]!);
  const sx = (v: number) => m.left + (Math.max(0, v) / hi) * (W - m.left - m.right);
  const axisY = H - m.bottom + 4;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`, `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`];
  // the value axis: round ticks with their values, light grid lines up through the bars
  out.push(`<line x1="${m.left}" y1="${axisY}" x2="${sx(hi).toFixed(1)}" y2="${axisY}" stroke="#333"/>`);
  for (const t of ticks) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top - 4}" x2="${x}" y2="${axisY}" stroke="#eee"/>`);
    out.push(`<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${axisY + 15}" text-anchor="middle">${Number(t.toPrecision(6))}</text>`);
  }
  rows.forEach((r, i) => {
    const y = m.top + i * (bar + gap);
    const { mean, sd } = r.metrics[metric];
    out.push(`<text x="${m.left - 6}" y="${y + bar / 2}" text-anchor="end" dominant-baseline="middle">${esc(r.name)}</text>`);
    out.push(`<rect x="${m.left}" y="${y}" width="${(sx(mean) - m.left).toFixed(1)}" height="${bar}" fill="${PALETTE[i % PALETTE.length]}"/>`);
    if (sd > 0) {
      const [a, b] = [sx(mean - sd), sx(mean + sd)].map((x) => x.toFixed(1));
      out.push(`<line x1="${a}" y1="${y + bar / 2}" x2="${b}" y2="${y + bar / 2}" stroke="#222"/>`);
      for (const x of [a, b]) out.push(`<line x1="${x}" y1="${y + 4}" x2="${x}" y2="${y + bar - 4}" stroke="#222"/>`);
    }
    out.push(`<text x="${(sx(mean + sd) + 6).toFixed(1)}" y="${y + bar / 2}" dominant-baseline="middle">${mean.toFixed(3)}</text>`);
  });
  out.push(`<line x1="${m.left}" y1="${m.top - 4}" x2="${m.left}" y2="${axisY}" stroke="#333"/>`, '</svg>');
  return out.join('\n');
}

/** `mean ± sd` over `n` seeds (the mean alone for one seed). */
export function formatSpread(x: Spread, n: number, digits = 4): string {
  return n > 1 ? `${x.mean.toFixed(digits)} ± ${x.sd.toFixed(digits)}` : x.mean.toFixed(digits);
}

/** A change with its sign. */
export function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
}

/** The whole report as one HTML document. */
export function demoReport(s: DemoSummary): string {
  const n = s.seeds.length;
  const metrics: readonly [DemoMetric, string][] = [
    ['alignment@10/100', 'alignment@10/100: share of the true top 10 in retrieval\'s top 100'],
    ['value@10', 'value@10: true value of the final top 10 over the ideal top 10\'s'],
    ['recall@20', 'recall@20 of the held-out logged clicks'],
  ];
  const section = (world: { name: string; description: string }) => {
    const rows = s.rows.filter((r) => r.world === world.name);
    const trained = rows.filter((r) => r.curves);
    const curves = (key: 'loss' | 'monitor', title: string, yLabel: string) => renderSvgChart(
      trained.map((r) => ({ label: key === 'monitor' ? `${r.name} (${r.monitor})` : r.name, values: r.curves![key] })),
      { title, xLabel: 'epoch', yLabel, width: 640, height: 320, xStart: 1 },
    );
    const rowsHtml = rows.map((r) => `<tr><td>${esc(r.name)}</td>${metrics.map(([m]) => `<td>${formatSpread(r.metrics[m], n)}</td>`).join('')}<td>${
      r.effects.map((e) => `${esc(e.metric)} ${signed(e.mean, 4)}${n > 1 ? ` ± ${e.sd.toFixed(4)} (${e.perSeed.map((x) => signed(x, 3)).join(' / ')})` : ''}`).join('<br>')
    }${r.effects.length ? ` <span class="muted">vs base</span>` : ''}</td><td>${r.monitor ? esc(r.monitor) : ''}</td><td>${r.epochs !== undefined ? r.epochs.toFixed(1) : ''}</td><td>${r.seconds !== undefined ? r.seconds.toFixed(0) : ''}</td></tr>`).join('\n');
    return `<h2>${esc(world.name)}</h2>
<p>${esc(world.description)}</p>
<table><thead><tr><th>row</th>${metrics.map(([m]) => `<th>${esc(m)}</th>`).join('')}<th>effect on the metric it exists for, paired by seed</th><th>early stopping on</th><th>epochs</th><th>s per seed</th></tr></thead>
<tbody>
${rowsHtml}
</tbody></table>
<div class="charts">
${metrics.map(([m, title]) => renderBars(rows, m, title)).join('\n')}
</div>
<div class="charts">
${curves('loss', 'training loss per epoch', 'loss')}
${curves('monitor', 'the validation metric early stopping watched', 'value')}
</div>`;
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tt demo: the full funnel</title>
<style>body{font-family:sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}.muted{color:#777}</style></head><body>
<h1>tt demo: the full funnel</h1>
<p>${s.worlds.length} worlds of the synthetic suite (<code>tt world list</code>; <code>tt bench stages</code> runs all of them)${s.scale !== 1 ? ` at ${s.scale} of their size` : ''};
every row trained as <code>tt train --data world:&lt;name&gt; --stages ...</code> trains it${s.maxEpochs ? `, at most ${s.maxEpochs} epochs` : ''} (early stopping on the metric the row's stages watch);
${n} seed${n > 1 ? `s (${s.seeds.join(', ')}), mean ± sd` : ''}; ${esc(s.backend)} backend; ${s.seconds.toFixed(0)} s in all, ${s.jobs} at a time.</p>
${s.worlds.map(section).join('\n')}
</body></html>
`;
}
