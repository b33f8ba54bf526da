/**
 * Training progress: a live bar (examples/s, loss, ETA) when stderr is a terminal, plain log
 * lines otherwise (CI logs, pipes), nothing when silenced.
 */
import { SingleBar } from 'cli-progress';

/** How training progress is shown: 'auto' (a bar on a TTY, else lines), a bar, log lines, or nothing. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Where training stands, reported after every step. */
export interface ProgressUpdate {
  /** the current epoch, 0-based */
  readonly epoch: number;
  /** epochs configured */
  readonly epochs: number;
  /** rows done in this epoch */
  readonly rows: number;
  /** rows per epoch, when known */
  readonly rowsPerEpoch: number | undefined;
  /** mean loss of the epoch's steps so far */
  readonly loss: number;
  /** training throughput of the epoch so far */
  readonly examplesPerSec: number;
}

/** Shows training progress; made by {@link createProgress}. */
export interface ProgressReporter {
  /** Shows the latest state (a bar redraw, or a log line at most every ~10 s). */
  update(u: ProgressUpdate): void;
  /** a whole line (epoch summaries), printed without breaking the bar */
  line(text: string): void;
  /** Ends the bar, if one is shown. */
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
