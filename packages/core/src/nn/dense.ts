/**
 * Dense layers and MLPs over named variables in a {@link ParameterStore}.
 */
import * as tf from '../runtime/tf.js';
import { glorotUniform } from './init.js';
import type { ParameterStore } from './params.js';

export type Activation = 'linear' | 'relu';

/** `y = act(x W + b)`, one fused kernel. */
export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(store: ParameterStore, name: string, readonly inputDim: number, readonly outputDim: number, readonly activation: Activation = 'linear') {
    this.w = store.addDense(`${name}.w`, [inputDim, outputDim], glorotUniform(store.rng, inputDim, outputDim));
    this.b = store.addDense(`${name}.b`, [outputDim], new Float32Array(outputDim));
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.fused.matMul({ a: x, b: this.w, bias: this.b, activation: this.activation }) as tf.Tensor2D;
  }
}

/** `in -> hidden (ReLU) -> ... -> out (linear)`. */
export class Mlp {
  readonly layers: Dense[] = [];
  constructor(store: ParameterStore, name: string, dims: readonly number[]) {
    for (let i = 0; i + 1 < dims.length; i++) {
      this.layers.push(new Dense(store, `${name}.${i}`, dims[i]!, dims[i + 1]!, i + 2 < dims.length ? 'relu' : 'linear'));
    }
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    let h = x;
    for (const layer of this.layers) h = layer.apply(h);
    return h;
  }
}
