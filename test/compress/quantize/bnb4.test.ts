// MatMulBnb4 (NF4/FP4, absmax blocks): packing by hand, outputs against a float simulation in onnxruntime-node and
// onnxruntime-web, and the fixtures end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { loadModel } from '../../../src/node/io.js';
import {
  Bnb4Type, FP4_LEVELS, NF4_LEVELS, bnb4Code, dequantizeBnb4Array, quantizeBnb4, quantizeBnb4Array,
} from '../../../src/compress/quantize/bnb4.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { maxAbs, maxDiff, runInBothRuntimes } from '../../helpers/compare.js';

async function runBoth(model: Model, feeds: Record<string, Tensor>): Promise<Float32Array[]> {
  return (await runInBothRuntimes(model, feeds)).map((o) => Object.values(o)[0]!.toFloat32());
}



test('NF4 and FP4 codes, absmax and nibble order by hand', () => {
  // NF4: level 15 is 1, 0 is -1, 7 is 0; 0.5 lies below the midpoint 0.5017 of levels 12 (0.4407) and 13 (0.5626);
  // 0.1 lies below 0.1203 (levels 8 and 9); -0.15 lies below -0.1379 (levels 5 and 6).
  assert.deepEqual([1, -1, 0, 0.5, 0.1, -0.15].map((x) => bnb4Code(x, 'nf4')), [15, 0, 7, 12, 8, 5]);
  assert.equal(NF4_LEVELS[12], Math.fround(0.44070982933044434));
  // FP4: sign in bit 3; magnitudes 0.5 -> code 5, 0.25 -> code 7, 1 -> code 3, 0.9 -> 1 (above 0.8333).
  assert.deepEqual([0.5, -0.25, 1, 0.9, 0].map((x) => bnb4Code(x, 'fp4')), [5, 15, 3, 3, 0]);
  assert.equal(FP4_LEVELS[13], -0.5);
  // Blocks of 16 over the flattened values: block 0 has absmax 2, block 1 absmax 0.5; first code in the high nibble.
  const data = new Float32Array(32);
  data.set([2, -2, 0, 1, 0.2, -0.3]);
  data[16] = -0.5;
  data[17] = 0.25;
  const q = quantizeBnb4Array(data, 16, 'nf4');
  assert.deepEqual([...q.absmax], [2, 0.5]);
  assert.deepEqual([...q.packed.slice(0, 3)], [(15 << 4) | 0, (7 << 4) | 12, (8 << 4) | 5]);
  // 0.25 / 0.5 = 0.5 -> code 12; the rest of block 1 is zero -> code 7.
  assert.equal(q.packed[8], (0 << 4) | 12);
  assert.equal(q.packed[9], 0x77);
  const back = dequantizeBnb4Array(q, 32, 16, 'nf4');
  assert.deepEqual([...back.slice(0, 6)], [2, -2, 0, NF4_LEVELS[12]! * 2, NF4_LEVELS[8]! * 2, NF4_LEVELS[5]! * 2].map(Math.fround));
  // An odd count pads the last low nibble with the code of 0.
  assert.equal(quantizeBnb4Array(Float32Array.from({ length: 17 }, () => 1), 16, 'nf4').packed[8], (15 << 4) | 7);
});

/** The weight [K, N] a MatMulBnb4 multiplies by, from the packed codes the pass wrote. */
function effectiveKN(model: Model, node: string, type: Bnb4Type): { w: Float32Array; K: number; N: number } {
  const n = model.graph.nodes.find((x) => x.opType === 'MatMulBnb4' && x.name.startsWith(node))!;
  const K = n.int('K')!, N = n.int('N')!, blockSize = n.int('block_size')!;
  const packed = model.graph.initializers.get(n.inputs[1]!)!.numeric() as Uint8Array;
  const absmax = model.graph.initializers.get(n.inputs[2]!)!.toFloat32();
  const nk = dequantizeBnb4Array({ packed, absmax }, K * N, blockSize, type);
  const w = new Float32Array(K * N);
  for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) w[k * N + i] = nk[i * K + k]!;
  return { w, K, N };
}

test('MatMul and Gemm (alpha, beta, bias, odd sizes) match the float simulation in onnxruntime-node and -web', async () => {
  const random = seededRandom(9);
  for (const { K, N, op, blockSize } of [
    { K: 96, N: 10, op: 'MatMul', blockSize: 64 }, { K: 33, N: 3, op: 'MatMul', blockSize: 16 }, { K: 80, N: 12, op: 'Gemm', blockSize: 64 },
  ]) {
    const M = 4;
    const w = Float32Array.from({ length: K * N }, () => (random() - 0.5) * 2);
    const bias = Float32Array.from({ length: N }, () => random() - 0.5);
    const x = Float32Array.from({ length: M * K }, () => random() * 2 - 1);
    const b = new GraphBuilder();
    const xi = b.input('x', DataType.FLOAT, [M, K]);
    if (op === 'Gemm') b.output(b.op('Gemm', [xi, b.floats('w', [N, K], w), b.floats('c', [N], bias)], { transB: 1, alpha: 0.5, beta: floatAttr(2) }, { name: 'fc', output: 'y' }), DataType.FLOAT);
    else b.output(b.op('MatMul', [xi, b.floats('w', [K, N], w)], {}, { name: 'fc', output: 'y' }), DataType.FLOAT);
    const model = modelOf(b.graph, { '': 13 });
    for (const type of ['nf4', 'fp4'] as const) {
      const { model: q, report } = quantizeBnb4(model, { quantType: type, blockSize });
      assert.equal(report.weights.length, 1);
      assert.equal(report.weights[0]!.bytesAfter, Math.ceil(K * N / 2) + Math.ceil(K * N / blockSize) * 4 + (op === 'Gemm' ? N * 4 : 0));
      // The stored codes decode to the weight the pass intended (alpha folded in for the Gemm) within its report.
      const { w: wq } = effectiveKN(q, 'fc', type);
      const intended = op === 'Gemm' ? Float32Array.from({ length: K * N }, (_, i) => 0.5 * w[(i % N) * K + Math.floor(i / N)]!) : w;
      assert.ok(maxDiff(wq, intended) <= report.weights[0]!.maxAbsError + 1e-7);
      const expected = new Float64Array(M * N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = op === 'Gemm' ? 2 * bias[j]! : 0;
        for (let k = 0; k < K; k++) s += x[i * K + k]! * wq[k * N + j]!;
        expected[i * N + j] = s;
      }
      // The kernel dequantizes to float32 and runs a float32 MatMul: float32 rounding over K products.
      const tolerance = 1e-5 * maxAbs(expected);
      for (const y of await runBoth(q, { x: Tensor.fromFloat32('x', [M, K], x) })) {
        assert.ok(maxDiff(y, expected) <= tolerance, `${op} K=${K} N=${N} ${type}: ${maxDiff(y, expected)} > ${tolerance}`);
      }
    }
  }
});

test('mlp.onnx and resnet_small.onnx: MatMul/Gemm weights in NF4, running in both runtimes', async () => {
  for (const [file, count] of [['mlp.onnx', 3], ['resnet_small.onnx', 1]] as const) {
    const model = await loadModel(fixture(file));
    const { model: q, report } = quantizeBnb4(model);
    assert.equal(report.weights.length, count);
    assert.equal(q.opset('com.microsoft'), 1);
    assert.ok(report.bytesAfter < report.bytesBefore / 5, `${file}: ${report.bytesAfter} of ${report.bytesBefore}`);
    const feeds = randomInputs(model, { batch: 2, seed: 8 });
    const [reference] = await runBoth(model, feeds);
    // 4-bit weights of these small random-init fixtures: outputs within 20% of the output range (measured 8-14%).
    for (const y of await runBoth(q, feeds)) assert.ok(maxDiff(y, reference!) <= 0.2 * maxAbs(reference!), `${file}: ${maxDiff(y, reference!)}`);
  }
});

test('bad input: block sizes, types, ops, patterns, quantized models', async () => {
  const model = await loadModel(fixture('mlp.onnx'));
  assert.throws(() => quantizeBnb4(model, { blockSize: 48 }), /block size must be a power of two of at least 16, not 48/);
  assert.throws(() => quantizeBnb4(model, { quantType: 'int4' as 'nf4' }), /type 'int4' is not supported/);
  assert.throws(() => quantizeBnb4(model, { ops: ['Conv' as 'MatMul'] }), /not 'Conv'/);
  assert.throws(() => quantizeBnb4(model, { exclude: ['nothing*'] }), /matches no/);
  assert.throws(() => quantizeBnb4(quantizeBnb4(model).model), /already quantized/);
  const excluded = quantizeBnb4(model, { exclude: ['fc2.weight'] });
  assert.deepEqual(excluded.report.skipped, [{ node: '/fc2/Gemm', reason: "excluded by 'fc2.weight'" }]);
});
