/**
 * `tt train --diagnostics DIR`: what the model's stages learned, as files a person can open.
 * - each debias stage: `<stage>.json` (the position curve and the users' propensity quantiles),
 *   `<stage>-position-curve.svg` and `<stage>-user-propensity.svg`;
 * - the distill stage: `distill.json`, the teacher agreement on the held-out rows.
 * Every file is written atomically (a temporary sibling, then a rename).
 */
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FileSystemError, type InteractionDataset, type TwoTowerModel } from '@tt/core';
import { DebiasStage, debiasDiagnostics, renderSvgChart } from '@tt/debias';
import { Distill, teacherAgreement } from '@tt/distill';
import { writeFileAtomic } from '@tt/mips';

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Checks before training that `dir` can hold the diagnostics: a directory, or a path whose first
 * existing ancestor is a directory.
 * @throws FileSystemError naming the path
 */
export function checkDiagnosticsDir(dir: string): void {
  const target = resolve(dir);
  for (let p = target; ; p = dirname(p)) {
    let s;
    try {
      s = statSync(p, { throwIfNoEntry: false });
    } catch (e) {
      throw FileSystemError.from(e, target, 'write'); // ENOTDIR: an ancestor is a file
    }
    if (s) {
      if (!s.isDirectory()) throw new FileSystemError(target, 'write', p === target ? 'exists and is not a directory' : `cannot be created: ${p} is a file, not a directory`, { systemCode: 'ENOTDIR' });
      return;
    }
    if (dirname(p) === p) return;
  }
}

/** Writes the diagnostics of `model`'s stages under `dir`; returns the paths written (none for a model without such stages). */
export function writeDiagnostics(dir: string, model: TwoTowerModel, dataset: InteractionDataset): string[] {
  const root = resolve(dir);
  const written: string[] = [];
  const write = (name: string, text: string) => {
    const path = join(root, name);
    writeFileAtomic(path, text);
    written.push(path);
  };
  for (const stage of model.stages) {
    if (stage instanceof DebiasStage) {
      const d = debiasDiagnostics(model, { stage: stage.name });
      write(`${stage.name}.json`, json(d));
      if (d.relativePositionCurve) {
        write(`${stage.name}-position-curve.svg`, renderSvgChart(d.relativePositionCurve, {
          title: 'learned position effect, relative to the top position', xLabel: 'position', yLabel: 'relative effect',
        }));
      }
      if (d.userPropensity) {
        const p = d.userPropensity;
        write(`${stage.name}-user-propensity.svg`, renderSvgChart([p.min, p.p05, p.p25, p.p50, p.p75, p.p95, p.max], {
          title: `user propensity over ${p.users} users (min, 5%, 25%, 50%, 75%, 95%, max)`, xLabel: 'quantile', yLabel: 'propensity',
        }));
      }
    } else if (stage instanceof Distill) {
      write('distill.json', json({ stage: stage.name, split: 'test', ...teacherAgreement(model, dataset) }));
    }
  }
  return written;
}
