/**
 * Dense layers and MLPs over named variables in a {@link ParameterStore}.
 */
import type * as tf from '../runtime/tf.js';
import { denseLayer } from '../runtime/fused-ops.js';
import { glorotUniform } from './init.js';
import type { ParameterStore } from './params.js';

/** The activation a {@link Dense} layer fuses into its matrix product. */
export type Activation = 'linear' | 'relu';

/** `y = act(x W + b)`, one fused kernel. */
export class Dense {
  /** `[inputDim, outputDim]` weights, stored as `<name>.w` (Glorot-uniform initialised) */
  readonly w: tf.Variable;
  /** `[outputDim]` bias, stored as `<name>.b` (zero initialised) */
  readonly b: tf.Variable;
  constructor(
    store: ParameterStore,
    name: string,
    /** width of the input rows */
    readonly inputDim: number,
    /** width of the output rows */
    readonly outputDim: number,
    /** applied after the bias */
    readonly activation: Activation = 'linear',
  ) {
    this.w = store.addDense(`${name}.w`, [inputDim, outputDim], glorotUniform(store.rng, inputDim, outputDim));
    this.b = store.addDense(`${name}.b`, [outputDim], new Float32Array(outputDim));
  }
  /** `[n, outputDim]` of `x [n, inputDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return denseLayer(x, this.w as tf.Tensor2D, this.b as tf.Tensor1D, this.activation);
  }
}

/** `in -> hidden (ReLU) -> ... -> out (linear)`. */
export class Mlp {
  /** the layers, input first; `dims.length - 1` of them */
  readonly layers: Dense[] = [];
  constructor(store: ParameterStore, name: string, dims: readonly number[]) {
    for (let i = 0; i + 1 < dims.length; i++) {
      this.layers.push(new Dense(store, `${name}.${i}`, dims[i]!, dims[i + 1]!, i + 2 < dims.length ? 'relu' : 'linear'));
    }
  }
  /** `[n, out]` of `x [n, in]`, through every layer. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    let h = x;
    for (const layer of this.layers) h = layer.apply(h);
    return h;
  }
}
