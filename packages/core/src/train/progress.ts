/**
 * Training progress: a live bar (examples/s, loss, ETA) when stderr is a terminal, plain log
 * lines otherwise (CI logs, pipes), nothing when silenced.
 */
import { SingleBar } from 'cli-progress';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface ProgressUpdate {
  readonly epoch: number;
  readonly epochs: number;
  /** rows done in this epoch */
  readonly rows: number;
  /** rows per epoch, when known */
  readonly rowsPerEpoch: number | undefined;
  readonly loss: number;
  readonly examplesPerSec: number;
}

export interface ProgressReporter {
  update(u: ProgressUpdate): void;
  /** a whole line (epoch summaries), printed without breaking the bar */
  line(text: string): void;
  stop(): void;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(4));

/** The reporter for `mode` ('auto': a bar on a TTY, else lines). */
export function createProgress(mode: ProgressMode, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): ProgressReporter {
  const useBar = mode === 'bar' || (mode === 'auto' && process.stderr.isTTY === true);
  if (mode === 'none') return { update() {}, line() {}, stop() {} };
  if (!useBar) return linesReporter(write);
  const bar = new SingleBar({
    format: 'epoch {epoch}/{epochs} [{bar}] {percentage}% | {speed} ex/s | loss {loss} | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  });
  let started = false;
  let currentEpoch = -1;
  return {
    update(u) {
      const total = u.rowsPerEpoch ?? Math.max(u.rows, 1);
      const payload = { epoch: u.epoch + 1, epochs: u.epochs, speed: fmt(u.examplesPerSec), loss: fmt(u.loss) };
      if (!started || currentEpoch !== u.epoch) {
        if (started) bar.stop();
        bar.start(total, u.rows, payload);
        started = true;
        currentEpoch = u.epoch;
      } else bar.update(u.rows, payload);
    },
    line(text) {
      if (started) {
        bar.stop();
        started = false;
      }
      write(text);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/** One line every ~10 s (and the epoch summaries). */
function linesReporter(write: (line: string) => void): ProgressReporter {
  let last = 0;
  return {
    update(u) {
      const now = Date.now();
      if (now - last < 10_000) return;
      last = now;
      const pct = u.rowsPerEpoch ? ` (${((100 * u.rows) / u.rowsPerEpoch).toFixed(0)}%)` : '';
      write(`[tt] epoch ${u.epoch + 1}/${u.epochs}: ${u.rows} rows${pct}, ${fmt(u.examplesPerSec)} ex/s, loss ${fmt(u.loss)}`);
    },
    line: write,
    stop() {},
  };
}
