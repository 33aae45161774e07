// Small conv nets for the structured-pruning tests, with seeded weights and named initializers.
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { modelStats } from '../../../src/core/stats.js';
import { Tensor } from '../../../src/core/tensor.js';
import { seededRandom } from '../../../src/runtime/inputs.js';

export class NetBuilder {
  readonly b = new GraphBuilder();
  private readonly rand = seededRandom(7);

  random(name: string, dims: number[], low = -1, high = 1): string {
    const size = dims.reduce((a, c) => a * c, 1);
    return this.b.floats(name, dims, Array.from({ length: size }, () => low + (high - low) * this.rand()));
  }

  conv(name: string, x: string, cin: number, cout: number, k: number, options: { bias?: boolean; group?: number } = {}): string {
    const group = options.group ?? 1;
    const inputs = [x, this.random(`${name}.w`, [cout, cin / group, k, k])];
    if (options.bias) inputs.push(this.random(`${name}.b`, [cout]));
    return this.b.op('Conv', inputs, { kernel_shape: [k, k], pads: Array(4).fill((k - 1) / 2), group }, { name });
  }

  bn(name: string, x: string, c: number): string {
    return this.b.op('BatchNormalization', [x, this.random(`${name}.scale`, [c], 0.5, 1.5), this.random(`${name}.bias`, [c]),
      this.random(`${name}.mean`, [c], -0.2, 0.2), this.random(`${name}.var`, [c], 0.5, 2)], { epsilon: floatAttr(1e-5) }, { name });
  }

  gemm(name: string, x: string, features: number, units: number): string {
    return this.b.op('Gemm', [x, this.random(`${name}.w`, [units, features]), this.random(`${name}.b`, [units])], { transB: 1 }, { name });
  }

  finish(output: string): Model {
    this.b.output(output);
    return modelOf(this.b.graph, { '': 17 });
  }
}

/** Sets the given channels (indices along an axis) of an initializer to zero. */
export function zeroChannels(model: Model, name: string, channels: number[], axis = 0): void {
  const t = model.graph.initializers.get(name);
  if (!t) throw new Error(`no initializer '${name}'`);
  const data = Float32Array.from(t.toFloat32());
  const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.length; i++) if (channels.includes(Math.floor(i / inner) % t.dims[axis]!)) data[i] = 0;
  model.graph.initializers.set(name, new Tensor(name, DataType.FLOAT, t.dims, data));
}

/**
 * MACs the pruned model should have: each Conv/Gemm's MACs scale with its weight size (output spatial sizes do not
 * change), matched by node name.
 */
export function predictedMacs(before: Model, after: Model): number {
  const layersBefore = new Map(modelStats(before, { gzipLimit: 0 }).layers.map((l) => [l.name, l]));
  let macs = 0;
  for (const node of after.graph.nodes) {
    const l = layersBefore.get(node.label);
    if (!l?.macs) continue;
    const w = (m: Model) => m.graph.initializers.get(node.inputs[1]!)!.size;
    macs += l.macs * w(after) / w(before);
  }
  return macs;
}

/** Copies channel `from` of an initializer (along an axis) over channel `to`, times `scale`. */
export function copyChannel(model: Model, name: string, from: number, to: number, scale = 1, axis = 0): void {
  const t = model.graph.initializers.get(name);
  if (!t) throw new Error(`no initializer '${name}'`);
  const data = Float32Array.from(t.toFloat32());
  const size = t.dims[axis]!;
  const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let o = 0; o < data.length / (size * inner); o++) {
    for (let i = 0; i < inner; i++) data[(o * size + to) * inner + i] = scale * data[(o * size + from) * inner + i]!;
  }
  model.graph.initializers.set(name, new Tensor(name, DataType.FLOAT, t.dims, data));
}

/** Replaces an initializer's values (same shape). */
export function setValues(model: Model, name: string, values: number[]): void {
  const t = model.graph.initializers.get(name);
  if (!t || t.size !== values.length) throw new Error(`initializer '${name}' missing or not of ${values.length} values`);
  model.graph.initializers.set(name, new Tensor(name, DataType.FLOAT, t.dims, Float32Array.from(values)));
}
