/**
 * What the debiasing stages learned, as JSON: the position curve and the distribution of the
 * users' propensity estimates; plus a small hand-written SVG line chart of a curve.
 */
import { takeValues, tf, type TwoTowerModel } from '@tt/core';
import { DebiasStage } from './stages.js';
import type { ItemExposureSummary } from './item-exposure.js';

/** The distribution of the users' propensity estimates (raw, before the floor). */
export interface PropensityQuantiles {
  /** users summarised */
  readonly users: number;
  /** smallest estimate */
  readonly min: number;
  /** 5th percentile */
  readonly p05: number;
  /** 25th percentile */
  readonly p25: number;
  /** median */
  readonly p50: number;
  /** 75th percentile */
  readonly p75: number;
  /** 95th percentile */
  readonly p95: number;
  /** largest estimate */
  readonly max: number;
  /** mean estimate */
  readonly mean: number;
  /** share of users whose estimate is at or below the floor */
  readonly atFloor: number;
}

/** What {@link debiasDiagnostics} reports about one debias stage. */
export interface DebiasDiagnostics {
  /** the stage read */
  readonly stage: string;
  /** what the stage estimates */
  readonly kind: 'position' | 'user' | 'both';
  /** the stage's lower bound of the estimate in the division */
  readonly floor: number;
  /** learned estimate per position bucket (raw, before the floor); absent for `debias-user` */
  readonly positionCurve?: number[];
  /** the curve divided by its first entry (1 at the top position) */
  readonly relativePositionCurve?: number[];
  /** per-user estimates (combined kind: at `referencePosition`); absent for `debias-position` */
  readonly userPropensity?: PropensityQuantiles;
  /** rows whose position fell outside the table so far (this process) */
  readonly clampedRows: number;
  /** how much the layout depended on the item in the impressions trained on (`correction: 'item'`, this process) */
  readonly itemExposure?: ItemExposureSummary;
  /** what the stage says about the log (see `Stage.notes`) */
  readonly notes: readonly string[];
}

/** Options of {@link debiasDiagnostics}. */
export interface DiagnosticsOptions {
  /** users to summarise (default: every user of the model's vocabulary) */
  readonly users?: Int32Array;
  /** which debias stage, when the model has several (default: the first) */
  readonly stage?: string;
  /** the position the combined estimator is read at for user propensities (default 0) */
  readonly referencePosition?: number;
}

function isDebiasStage(s: unknown): s is DebiasStage {
  return s instanceof DebiasStage || (typeof s === 'object' && s !== null && (s as { debias?: unknown }).debias === true);
}

function quantile(sorted: Float32Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const x = p * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * The learned position curve and user-propensity distribution of `model`'s debias stage.
 * @throws Error when the model has no debias stage
 */
export function debiasDiagnostics(model: TwoTowerModel, options: DiagnosticsOptions = {}): DebiasDiagnostics {
  const stages = model.stages.filter(isDebiasStage);
  const stage = options.stage ? stages.find((s) => s.name === options.stage) : stages[0];
  if (!stage) throw new Error(`model has no debias stage${options.stage ? ` named "${options.stage}"` : ''} (stages: ${model.stages.map((s) => s.name).join(', ') || 'none'})`);
  let positionCurve: number[] | undefined;
  let relativePositionCurve: number[] | undefined;
  if (stage.exam?.positionTable) {
    // examination estimator: the exposure probability at each position (user term 0)
    const exam = stage.exam;
    const curve = tf.tidy(() => tf.sigmoid(tf.add(tf.reshape(exam.positionTable!.table, [-1]), exam.exposureBias)));
    positionCurve = Array.from(takeValues(curve), round);
    relativePositionCurve = positionCurve.map((x) => round(x / Math.max(positionCurve![0]!, 1e-12)));
  } else if (stage.positionTable) {
    positionCurve = Array.from(stage.positionTable.table.dataSync(), round);
    const top = Math.max(positionCurve[0]!, stage.floor);
    relativePositionCurve = positionCurve.map((x) => round(Math.max(x, stage.floor) / top));
  }
  let userPropensity: PropensityQuantiles | undefined;
  if (stage.estimator || stage.exam?.userTerm) {
    const users = options.users ?? Int32Array.from({ length: model.data.userIds.length }, (_, i) => i);
    const H = model.historyLength;
    const wProj = model.params.dense.get('user.projection.w');
    const bProj = model.params.dense.get('user.projection.b');
    if (!wProj || !bProj) throw new Error('model has no user.projection parameters');
    const values = new Float32Array(users.length);
    const chunk = 4096;
    for (let start = 0; start < users.length; start += chunk) {
      const part = users.subarray(start, Math.min(users.length, start + chunk));
      const history = H > 0 ? new Int32Array(part.length * H).fill(-1) : undefined;
      const est = tf.tidy(() => {
        const x = model.userTowerInput(model.userInputOf(part, history, H), false);
        const q = tf.add(tf.matMul(x, wProj), bProj) as tf.Tensor2D;
        const pos = stage.kind === 'both' ? new Int32Array(part.length).fill(options.referencePosition ?? 0) : undefined;
        // the examination model: the exposure probability at the reference position
        return stage.exam ? stage.examinationOf(q, pos) : stage.estimate(q, pos, undefined).est;
      });
      values.set(takeValues(est), start);
    }
    const sorted = values.slice().sort();
    let sum = 0;
    let atFloor = 0;
    for (const v of values) {
      sum += v;
      if (v <= stage.floor) atFloor++;
    }
    userPropensity = {
      users: values.length, min: round(sorted[0] ?? Number.NaN), p05: round(quantile(sorted, 0.05)), p25: round(quantile(sorted, 0.25)),
      p50: round(quantile(sorted, 0.5)), p75: round(quantile(sorted, 0.75)), p95: round(quantile(sorted, 0.95)),
      max: round(sorted[sorted.length - 1] ?? Number.NaN), mean: round(sum / Math.max(values.length, 1)), atFloor: round(atFloor / Math.max(values.length, 1)),
    };
  }
  return { stage: stage.name, kind: stage.kind, floor: stage.floor, positionCurve, relativePositionCurve, userPropensity, clampedRows: stage.clampedRows,
    itemExposure: stage.itemExposureSummary(), notes: stage.notes() };
}

/** One line of a chart, with an optional band (e.g. bootstrap intervals) around it. */
export interface ChartSeries {
  /** legend text */
  readonly label: string;
  /** y values at x = 0, 1, ...; non-finite values are skipped */
  readonly values: readonly number[];
  /** lower edge of the band, aligned with `values` (drawn when `upper` is given too) */
  readonly lower?: readonly number[];
  /** upper edge of the band, aligned with `values` */
  readonly upper?: readonly number[];
}

/** Options of {@link renderSvgChart}. */
export interface ChartOptions {
  /** pixels (default 480) */
  readonly width?: number;
  /** pixels (default 300) */
  readonly height?: number;
  /** text above the plot (none by default) */
  readonly title?: string;
  /** x-axis caption (none by default) */
  readonly xLabel?: string;
  /** y-axis caption, and the legend of a single curve (default 'estimate') */
  readonly yLabel?: string;
  /** label of the first x value (default 0: positions are 0-based) */
  readonly xStart?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : a >= 0.01 ? x.toFixed(3) : x.toExponential(1);
}

/**
 * A small SVG line chart of `curve` (one series) or several series, with axes, ticks, a legend and
 * optional bands. A standalone SVG document (no dependency); non-finite values are skipped.
 */
export function renderSvgChart(curve: readonly number[] | readonly ChartSeries[], options: ChartOptions = {}): string {
  const series: readonly ChartSeries[] = curve.length > 0 && typeof curve[0] === 'number'
    ? [{ label: options.yLabel ?? 'estimate', values: curve as readonly number[] }]
    : (curve as readonly ChartSeries[]);
  const W = options.width ?? 480;
  const H = options.height ?? 300;
  // several series: the legend sits right of the plot, as wide as its longest label (~6.2 px a character at 11 px)
  const legendWidth = series.length > 1 ? 30 + 6.2 * Math.max(0, ...series.map((s) => s.label.length)) : 0;
  const m = { left: 56, right: 16 + legendWidth, top: options.title ? 32 : 16, bottom: 44 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const all: number[] = [];
  for (const s of series) for (const arr of [s.values, s.lower ?? [], s.upper ?? []]) for (const v of arr) if (Number.isFinite(v)) all.push(v);
  let lo = Math.min(0, ...all);
  let hi = all.length ? Math.max(...all) : 1;
  if (hi <= lo) hi = lo + 1;
  hi += (hi - lo) * 0.05;
  const x0 = options.xStart ?? 0;
  const sx = (i: number) => m.left + (n === 1 ? pw / 2 : (i / (n - 1)) * pw);
  const sy = (v: number) => m.top + ph - ((v - lo) / (hi - lo)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  if (options.title) out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(options.title)}</text>`);
  // axes and ticks
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.left - 4}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) {
    const x = sx(i).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 4}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${i + x0}</text>`);
  }
  if (options.xLabel) out.push(`<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  if (options.yLabel) out.push(`<text transform="translate(12 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  const legendX = m.left + pw + 12;
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    if (s.lower && s.upper) {
      const up: string[] = [];
      const down: string[] = [];
      s.values.forEach((_, i) => {
        const a = s.upper![i];
        const b = s.lower![i];
        if (Number.isFinite(a) && Number.isFinite(b)) {
          up.push(`${sx(i).toFixed(1)},${sy(a!).toFixed(1)}`);
          down.unshift(`${sx(i).toFixed(1)},${sy(b!).toFixed(1)}`);
        }
      });
      if (up.length) out.push(`<polygon points="${[...up, ...down].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const finite = s.values.flatMap((v, i) => (Number.isFinite(v) ? [{ v, x: sx(i).toFixed(1), y: sy(v).toFixed(1) }] : []));
    if (finite.length > 1) out.push(`<polyline points="${finite.map((p) => `${p.x},${p.y}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (finite.length === 1) {
      // one value (e.g. a one-epoch run): no line to draw, so a marked point with its value beside it
      const { v, x, y } = finite[0]!;
      out.push(`<circle cx="${x}" cy="${y}" r="5" fill="${color}" stroke="#222" stroke-width="1"/>`);
      out.push(`<text x="${(Number(x) + 9).toFixed(1)}" y="${(Number(y) - 9 - 12 * k).toFixed(1)}" fill="${color}">${fmt(v)}</text>`);
    } else for (const p of finite) out.push(`<circle cx="${p.x}" cy="${p.y}" r="2.5" fill="${color}"/>`);
    if (series.length > 1) {
      const ly = m.top + 4 + k * 14;
      out.push(`<line x1="${legendX.toFixed(1)}" y1="${ly}" x2="${(legendX + 18).toFixed(1)}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${(legendX + 22).toFixed(1)}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

