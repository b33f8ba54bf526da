import { initBackend } from '../runtime/backend.js';
import { MismatchError, ValueError } from '../errors.js';
import { syntheticWorld } from '../data/synthetic.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { evaluateModel, evaluateModelFunnel, evaluateScores } from './model-eval.js';

describe('evaluateModelFunnel', () => {
  const world = syntheticWorld({ seed: 1, numUsers: 60, numItems: 40, impressions: 1500, validation: false });
  let model: TwoTowerModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
    model = TwoTowerModel.create(resolveConfig(world.schema, { dim: 8, hidden: 8 }), world);
  });
  afterAll(() => model.dispose());

  it('throws a typed error naming dataset.truth for a dataset without ground truth', async () => {
    const logged = { ...world, name: 'csv:log.csv', truth: undefined };
    await expect(evaluateModelFunnel(model, logged)).rejects.toMatchObject({ code: 'E_VALUE', field: 'dataset.truth' });
    await expect(evaluateModelFunnel(model, logged)).rejects.toThrow(ValueError);
    const m = await evaluateModelFunnel(model, world);
    expect(m.users).toBeGreaterThan(0);
  });

  it('refuses a model of another vocabulary and a split the dataset lacks', async () => {
    const other = syntheticWorld({ seed: 1, numUsers: 60, numItems: 41, impressions: 1500, validation: false });
    await expect(evaluateModelFunnel(model, other)).rejects.toThrow(MismatchError);
    await expect(evaluateModel(model, other)).rejects.toThrow(MismatchError);
    await expect(evaluateScores(world, () => new Float32Array(0), 'validation')).rejects.toMatchObject({ code: 'E_VALUE', field: 'dataset.validation' });
  });
});
