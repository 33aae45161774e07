// Shared by the low-rank tests: seeded matrices, running a model and its factorized version in onnxruntime, and
// putting a weight back together from the factors the pass wrote (independently of the pass's own arithmetic).
import assert from 'node:assert/strict';
import { Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { runOnce } from '../../helpers/run.js';

/** Uniform values in [-scale, scale). */
export function randomValues(count: number, seed: number, scale = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: count }, () => (rand() * 2 - 1) * scale);
}

/** a [m, k] · b [k, n] in float64, returned as float32. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float32Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * k + p]! * b[p * n + j]!;
  return Float32Array.from(out);
}

/** A seeded weight of exactly the given rank: [m, r]·[r, n]. */
export function lowRankWeight(m: number, n: number, rank: number, seed: number): Float32Array {
  return matmul(randomValues(m * rank, seed, 0.5), randomValues(rank * n, seed + 1, 0.5), m, rank, n);
}

/** Largest |a - b| relative to the largest |b|. */
export function relativeDifference(a: Tensor, b: Tensor): number {
  assert.deepEqual([...a.dims], [...b.dims]);
  const x = a.toFloat32(), y = b.toFloat32();
  let diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) { diff = Math.max(diff, Math.abs(x[i]! - y[i]!)); scale = Math.max(scale, Math.abs(y[i]!)); }
  return diff / Math.max(scale, 1e-30);
}

/** Runs both models on the same seeded inputs; returns the largest relative difference over their outputs. */
export async function outputDifference(a: Model, b: Model, batch = 3, seed = 5): Promise<number> {
  const feeds = randomInputs(a, { dims: { batch }, seed }); // symbolic 'batch' dims, wherever they are
  const [x, y] = [await runOnce(a, feeds), await runOnce(b, feeds)];
  return Math.max(...a.graph.outputs.map((o) => relativeDifference(x[o.name]!, y[o.name]!)));
}

export function nodeNamed(model: Model, name: string): Node {
  const n = model.graph.nodes.find((x) => x.name === name);
  assert.ok(n, `no node '${name}'`);
  return n;
}

export function initializer(model: Model, name: string): Tensor {
  const t = model.graph.initializers.get(name);
  assert.ok(t, `no initializer '${name}'`);
  return t;
}

/** The original model with one weight replaced (same name). */
export function withWeight(model: Model, name: string, dims: readonly number[], data: Float32Array): Model {
  const m = model.clone();
  m.graph.initializers.set(name, Tensor.fromFloat32(name, dims, data));
  return m;
}
