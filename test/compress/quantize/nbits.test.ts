import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { seededRandom } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import type { Runtime } from '../../../src/runtime/session.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { dequantizeMatMulNBits } from '../../../src/compress/quantize/nbits.js';
import { quantizeWeights } from '../../../src/compress/quantize/weight-only.js';

/**
 * MatMulNBits' weight as floats [K, N], unpacked here straight from the spec (B: [N, blocks, blob] with values packed
 * low bits first along K; zero points packed the same way per row, default 2^(bits-1)).
 */
function unpackWeight(model: Model, nodeIndex = 0): { K: number; N: number; weight: Float32Array } {
  const node = model.graph.nodes.filter((n) => n.opType === 'MatMulNBits')[nodeIndex]!;
  const [K, N, bits, blockSize] = ['K', 'N', 'bits', 'block_size'].map((a) => node.int(a)!) as [number, number, number, number];
  const B = model.graph.initializers.get(node.inputs[1]!)!.data as Uint8Array;
  const scales = model.graph.initializers.get(node.inputs[2]!)!.toFloat32();
  const zp = node.input(3) ? model.graph.initializers.get(node.input(3)!)!.data as Uint8Array : undefined;
  const blocks = Math.ceil(K / blockSize);
  const bitAt = (bytes: Uint8Array, bitOffset: number) => (bytes[bitOffset >> 3]! >> (bitOffset & 7)) & ((1 << bits) - 1);
  const weight = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize);
      const q = bitAt(B, (((n * blocks + b) * blockSize) + (k % blockSize)) * bits);
      const z = zp ? bitAt(zp, (n * Math.ceil((blocks * bits) / 8)) * 8 + b * bits) : 1 << (bits - 1);
      weight[k * N + n] = Math.fround((q - z) * scales[n * blocks + b]!);
    }
  }
  return { K, N, weight };
}

/** The float simulation: each MatMulNBits node replaced by a MatMul with its dequantized weight (plus its bias). */
function floatSimulation(q: Model): Model {
  const m = q.clone();
  const g = m.graph;
  const count = g.nodes.filter((n) => n.opType === 'MatMulNBits').length;
  for (let i = count - 1; i >= 0; i--) {
    const { K, N, weight } = unpackWeight(q, i);
    const node = g.nodes.filter((n) => n.opType === 'MatMulNBits')[i]!;
    const w = g.uniqueName(`${node.name}_simulated`);
    g.initializers.set(w, Tensor.fromFloat32(w, [K, N], weight));
    const at = g.nodes.indexOf(node);
    const bias = node.input(5);
    if (!bias) { g.nodes[at] = new Node('MatMul', [node.inputs[0]!, w], node.outputs, node.name); continue; }
    const product = g.uniqueName(`${node.name}_product`);
    g.nodes.splice(at, 1, new Node('MatMul', [node.inputs[0]!, w], [product], node.name), new Node('Add', [product, bias], node.outputs, `${node.name}_bias`));
  }
  g.removeDeadNodes();
  m.opsetImports.delete('com.microsoft');
  return m;
}

async function outputsOf(runtime: Runtime, model: Model, feeds: Record<string, Tensor>): Promise<Float32Array> {
  const session = await runtime.createSession(model, { threads: 1 });
  try {
    return Object.values(await session.run(feeds))[0]!.toFloat32();
  } finally {
    await session.release();
  }
}

function randomTensor(name: string, dims: number[], random: () => number, scale = 1): Tensor {
  return Tensor.fromFloat32(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (random() * 2 - 1) * scale));
}

interface Shape { K: number; N: number; block: number; bits: number; symmetric: boolean; op: 'MatMul' | 'Gemm' }

/** A one-layer model: MatMul with a [K, N] weight on a [2, 3, K] input, or Gemm (transB=1, alpha, beta, bias). */
function layer(s: Shape, seed: number): { model: Model; feeds: Record<string, Tensor> } {
  const random = seededRandom(seed);
  const b = new GraphBuilder();
  if (s.op === 'MatMul') {
    const x = b.input('x', DataType.FLOAT, [2, 3, s.K]);
    const w = b.initializer(randomTensor('w', [s.K, s.N], random, 0.5));
    b.output(b.op('MatMul', [x, w], {}, { name: 'layer', output: 'y' }), DataType.FLOAT);
    return { model: modelOf(b.graph), feeds: { x: randomTensor('x', [2, 3, s.K], random) } };
  }
  const x = b.input('x', DataType.FLOAT, [5, s.K]);
  const w = b.initializer(randomTensor('w', [s.N, s.K], random, 0.5));
  const c = b.initializer(randomTensor('c', [s.N], random));
  b.output(b.op('Gemm', [x, w, c], { transB: 1, alpha: floatAttr(1.5), beta: floatAttr(0.5) }, { name: 'layer', output: 'y' }), DataType.FLOAT);
  return { model: modelOf(b.graph), feeds: { x: randomTensor('x', [5, s.K], random) } };
}

test('MatMulNBits outputs equal a plain MatMul with the dequantized weights (node and web), K not a multiple of the block', async () => {
  const shapes: Shape[] = [
    { K: 70, N: 24, block: 32, bits: 4, symmetric: true, op: 'MatMul' },
    { K: 100, N: 17, block: 16, bits: 4, symmetric: false, op: 'MatMul' },
    { K: 64, N: 40, block: 64, bits: 8, symmetric: true, op: 'MatMul' },
    { K: 50, N: 12, block: 16, bits: 2, symmetric: false, op: 'MatMul' },
    { K: 300, N: 33, block: 128, bits: 4, symmetric: true, op: 'Gemm' },
    { K: 45, N: 9, block: 32, bits: 8, symmetric: false, op: 'Gemm' },
  ];
  for (const [i, s] of shapes.entries()) {
    const what = JSON.stringify(s);
    const { model, feeds } = layer(s, 100 + i);
    const { model: q, report } = await quantizeWeights(model, { format: 'nbits', bits: s.bits, symmetric: s.symmetric, granularity: { block: s.block } });
    const node = q.graph.nodes.find((n) => n.opType === 'MatMulNBits')!;
    assert.ok(node, `${what}: MatMulNBits written`);
    assert.equal(node.domain, 'com.microsoft');
    assert.equal(q.opset('com.microsoft'), 1);
    assert.deepEqual(['K', 'N', 'bits', 'block_size'].map((a) => node.int(a)), [s.K, s.N, s.bits, s.block]);
    const blocks = Math.ceil(s.K / s.block);
    assert.deepEqual([...q.graph.initializers.get(node.inputs[1]!)!.dims], [s.N, blocks, (s.block * s.bits) / 8]);
    assert.deepEqual([...q.graph.initializers.get(node.inputs[2]!)!.dims], [s.N * blocks]);
    assert.equal(!!node.input(3), !s.symmetric, `${what}: zero points only when asymmetric`);
    assert.equal(report.weights[0]!.format, 'nbits');
    const simulation = floatSimulation(q);
    const expected = await outputsOf(nodeRuntime, simulation, feeds);
    let scale = 1;
    for (const v of expected) scale = Math.max(scale, Math.abs(v));
    for (const runtime of [nodeRuntime, webRuntime]) {
      const actual = await outputsOf(runtime, q, feeds);
      let worst = 0;
      for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(actual[j]! - expected[j]!));
      assert.ok(worst <= 1e-5 * scale, `${what} in ${runtime.name}: max |MatMulNBits - simulation| = ${worst}`);
    }
    // The dequantized weights are the originals (times Gemm's alpha) within half a quantization step.
    const original = model.graph.initializers.get('w')!.toFloat32();
    const { weight } = unpackWeight(q);
    let err = 0;
    for (let k = 0; k < s.K; k++) {
      for (let n = 0; n < s.N; n++) {
        const w = s.op === 'MatMul' ? original[k * s.N + n]! : Math.fround(1.5 * original[n * s.K + k]!);
        err = Math.max(err, Math.abs(w - weight[k * s.N + n]!));
      }
    }
    assert.equal(report.weights[0]!.maxAbsError, err, `${what}: reported error`);
    const init = (i: number) => q.graph.initializers.get(node.inputs[i]!)!;
    const library = dequantizeMatMulNBits(init(1).data as Uint8Array, init(2).toFloat32(), node.input(3) ? init(3).data as Uint8Array : undefined, { K: s.K, N: s.N, bits: s.bits, blockSize: s.block });
    assert.deepEqual([...library], [...weight], `${what}: dequantizeMatMulNBits`);
  }
});

test('symmetric 4-bit packing by hand: q + 8 in 0..15, low nibble first, padding at the zero point, no zero_points', async () => {
  // K = 20 (block 16: two blocks, the second padded), N = 1; weights -7..7 and 0 times 0.25, then 4 more.
  const values = [-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 0, 2, -2, 1, -1];
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 20]);
  const w = b.floats('w', [20, 1], values.map((v) => v * 0.25));
  b.output(b.op('MatMul', [x, w], {}, { name: 'mm', output: 'y' }), DataType.FLOAT);
  const { model: q } = await quantizeWeights(modelOf(b.graph), { format: 'nbits', bits: 4, granularity: { block: 16 } });
  const node = q.graph.nodes[0]!;
  assert.equal(node.inputs.length, 3, 'A, B, scales: no zero points');
  const B = [...(q.graph.initializers.get(node.inputs[1]!)!.data as Uint8Array)];
  // Block 0: q + 8 = 1..15, 8 -> bytes 0x21 0x43 0x65 0x87 0xa9 0xcb 0xed 0x8f.
  assert.deepEqual(B.slice(0, 8), [0x21, 0x43, 0x65, 0x87, 0xa9, 0xcb, 0xed, 0x8f]);
  // Block 1: max |w| = 0.5 -> scale fround(0.5/7); weights 0.5, -0.5, 0.25, -0.25 -> q = 7, -7, and ±3 (0.25 / scale
  // is 3.4999998 in float32) -> stored 15, 1, 11, 5; the 12 padding values sit at the zero point 8.
  assert.deepEqual(B.slice(8), [15 | (1 << 4), 11 | (5 << 4), 0x88, 0x88, 0x88, 0x88, 0x88, 0x88]);
  assert.deepEqual([...q.graph.initializers.get(node.inputs[2]!)!.toFloat32()], [0.25, Math.fround(0.5 / 7)]);
  const feeds = { x: Tensor.fromFloat32('x', [1, 20], Array.from({ length: 20 }, (_, i) => (i < 16 ? 1 : 0))) };
  // x sums block 0: 0.25 · Σ(-7..7, 0) = 0.
  for (const runtime of [nodeRuntime, webRuntime]) assert.equal((await outputsOf(runtime, q, feeds))[0], 0);
});

test('Gemm forms MatMulNBits cannot express fall back to QDQ; a non-constant C becomes an Add; bad settings are refused', async () => {
  const random = seededRandom(7);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [40, 4]);
  const bias = b.input('bias', DataType.FLOAT, [4, 8]);
  const w1 = b.initializer(randomTensor('w1', [40, 8], random));
  const h = b.op('Gemm', [x, w1], { transA: 1 }, { name: 'transposed' });
  const w2 = b.initializer(randomTensor('w2', [8, 32], random));
  const w3 = b.initializer(randomTensor('w3', [32, 8], random));
  const h2 = b.op('Gemm', [h, w2], {}, { name: 'plain' });
  b.output(b.op('Gemm', [h2, w3, bias], { beta: floatAttr(2) }, { name: 'with_c', output: 'y' }), DataType.FLOAT);
  const model = modelOf(b.graph);
  const { model: q, report } = await quantizeWeights(model, { format: 'nbits', bits: 4, granularity: { block: 16 } });
  assert.deepEqual(report.weights.map((w) => [w.name, w.format]), [['w1', 'qdq'], ['w2', 'nbits'], ['w3', 'nbits']]);
  assert.match(report.weights[0]!.note!, /Gemm with transA=1 has no MatMulNBits form/);
  assert.deepEqual(q.graph.nodes.map((n) => n.opType), ['DequantizeLinear', 'Gemm', 'MatMulNBits', 'MatMulNBits', 'Mul', 'Add']);
  const feeds = { x: randomTensor('x', [40, 4], random), bias: randomTensor('bias', [4, 8], random) };
  const simulation = floatSimulation(q);
  // The QDQ weight stays in the simulation (DequantizeLinear runs the same in both).
  const expected = await outputsOf(nodeRuntime, simulation, feeds);
  const tolerance = 1e-5 * Math.max(1, ...expected.map(Math.abs));
  for (const runtime of [nodeRuntime, webRuntime]) {
    const actual = await outputsOf(runtime, q, feeds);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${runtime.name} output ${i}`);
  }
  await assert.rejects(quantizeWeights(model, { format: 'nbits', bits: 3 }), /format 'nbits' supports 2, 4, 8 bits \(onnxruntime's MatMulNBits\), not 3/);
  await assert.rejects(quantizeWeights(model, { format: 'nbits', bits: 4, granularity: 'channel' }), /format 'nbits' needs block granularity/);
});
