import { demoReport, niceTicks, renderBars, type DemoSummary, type RowSummary } from './report.js';

const row = (name: string, mean: number, curves?: RowSummary['curves']): RowSummary => ({
  world: 'best-first', name, effects: [], curves, monitor: 'recall@20',
  metrics: { 'recall@20': { mean, sd: 0.01 }, 'alignment@10/100': { mean: mean / 2, sd: 0 }, 'value@10': { mean: mean * 3, sd: 0.02 } },
});

describe('niceTicks', () => {
  it.each([
    [0.43, [0, 0.1, 0.2, 0.3, 0.4, 0.5]],
    [1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [7.3, [0, 2, 4, 6, 8]],
    [0.031, [0, 0.01, 0.02, 0.03, 0.04]],
    [0, [0]],
  ])('covers [0, %s] with round steps', (max, ticks) => {
    expect(niceTicks(max)).toEqual(ticks);
  });
});

describe('the demo report', () => {
  it('bar charts carry a value axis with its tick values', () => {
    const svg = renderBars([row('base', 0.21), row('history', 0.26)], 'recall@20', 'recall@20');
    for (const t of ['0', '0.1', '0.2', '0.3']) expect(svg).toContain(`text-anchor="middle">${t}</text>`);
  });

  it('a one-epoch run draws each training curve as a marked point with its value', () => {
    const summary: DemoSummary = {
      backend: 'wasm', seconds: 10, seeds: [0], jobs: 1, epochs: 2, examplesPerSec: 1000, scale: 1,
      worlds: [{ name: 'best-first', description: 'the policy lays out its best guess first' }],
      rows: [row('base', 0.2, { loss: [4.2051], monitor: [0.1234] }), row('history', 0.25, { loss: [4.1], monitor: [0.15] })],
    };
    const html = demoReport(summary);
    expect(html).not.toContain('<polyline');
    expect(html.match(/<circle [^>]*r="5"/g)).toHaveLength(4);
    for (const v of ['4.21', '4.10', '0.123', '0.150']) expect(html).toContain(`>${v}</text>`);
  });
});
