import { benchTrain } from './commands/bench.js';

/** Why `@tensorflow/tfjs-node` does not load here, or undefined when it does. */
function tfjsNodeMissing(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-node');
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

const missing = tfjsNodeMissing();
const reason = missing ? ` [skipped: @tensorflow/tfjs-node does not load here (${missing}); it downloads libtensorflow at install, which needs network access]` : '';
if (missing) console.warn(`tt bench train on tfjs-node:${reason}`);

describe('tt bench train on tfjs-node', () => {
  // a file of its own: the backend is chosen once per process, and here nothing chose it yet
  (missing ? it.skip : it)(`selects tfjs-node where it is installed and reports it${reason}`, async () => {
    const saved = process.env['TT_BACKEND'];
    delete process.env['TT_BACKEND'];
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const out = await benchTrain({ steps: 2, warmup: 1, batchSize: 64 });
      expect(out).toMatchObject({ backend: 'tensorflow', examplesPerSec: expect.any(Number) });
      const history = await benchTrain({ steps: 1, warmup: 1, batchSize: 32, stages: 'history', historyLen: 5, historyFill: 'full' });
      expect(history).toMatchObject({ backend: 'tensorflow', historyFill: 'full', meanValidHistory: 5 });
    } finally {
      err.mockRestore();
      if (saved !== undefined) process.env['TT_BACKEND'] = saved;
    }
  }, 300_000);
});
