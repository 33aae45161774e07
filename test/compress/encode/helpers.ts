// Models for the .nnz tests: weight sharing in the layout the share/cluster pass writes
// (Gather(codebook float [K], Cast(uint8 indices)) then Reshape), and a small model that uses every tensor coding.
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { encodeModel } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { prunableWeights } from '../../../src/compress/prune/index.js';

/**
 * Replaces each prunable weight by 2^bits linearly spaced shared values (index 0 the exact zero of pruned weights):
 * indices uint8 [size] -> Cast(int32) -> Gather(codebook) -> Reshape(weight dims). Not k-means: only the layout matters here.
 */
export function clusterForTest(source: Model, bits: number): Model {
  const model = source.clone();
  const g = model.graph;
  const K = 2 ** bits;
  for (const w of prunableWeights(model)) {
    const t = g.initializers.get(w.name)!;
    const values = t.toFloat32();
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (v !== 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const codebook = new Float32Array(K);
    for (let k = 1; k < K; k++) codebook[k] = lo + ((hi - lo) * (k - 1)) / Math.max(1, K - 2);
    const indices = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      if (values[i] === 0) continue;
      indices[i] = 1 + Math.round(((values[i]! - lo) / Math.max(hi - lo, 1e-12)) * (K - 2));
    }
    g.initializers.delete(w.name);
    const base = w.name.replace(/[^A-Za-z0-9_]/g, '_');
    const idxName = `${base}.indices`, bookName = `${base}.codebook`, shapeName = `${base}.shape`;
    g.initializers.set(idxName, new Tensor(idxName, DataType.UINT8, [values.length], indices));
    g.initializers.set(bookName, Tensor.fromFloat32(bookName, [K], codebook));
    g.initializers.set(shapeName, Tensor.fromInt64(shapeName, [t.dims.length], t.dims));
    const cast = new Node('Cast', [idxName], [`${base}.idx32`], `${base}_cast`, '', [{ name: 'to', type: 'INT', value: DataType.INT32 }]);
    const gather = new Node('Gather', [bookName, `${base}.idx32`], [`${base}.flat`], `${base}_gather`, '', [{ name: 'axis', type: 'INT', value: 0 }]);
    const reshape = new Node('Reshape', [`${base}.flat`, shapeName], [w.name], `${base}_reshape`);
    g.nodes.unshift(cast, gather, reshape);
  }
  return model;
}

/** A small model with cluster indices (sparse and dense), codebooks, a raw float bias and small inline tensors. */
export function smallModel(): Model {
  let s = 12345;
  const random = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 48]);
  const sparse = b.floats('w_sparse', [48, 40], Float32Array.from({ length: 48 * 40 }, () => (random() < 0.1 ? random() - 0.5 : 0)));
  const dense = b.floats('w_dense', [40, 16], Float32Array.from({ length: 40 * 16 }, () => random() - 0.5));
  const h = b.op('Relu', [b.op('MatMul', [x, sparse])]);
  const bias = b.floats('bias', [24], Float32Array.from({ length: 24 }, () => random() - 0.5));
  const y = b.op('Add', [b.op('MatMul', [h, dense]), b.op('Slice', [bias, b.int64s('starts', [0]), b.int64s('ends', [16])])]);
  b.output(y, DataType.FLOAT, [1, 16]);
  const model = modelOf(b.graph, { '': 17 });
  const clustered = clusterForTest(model, 3);
  assert.equal(clustered.graph.initializers.has('w_sparse.indices'), true);
  return clustered;
}

export function onnxBytes(model: Model): Uint8Array {
  return encodeModel(model).bytes;
}
