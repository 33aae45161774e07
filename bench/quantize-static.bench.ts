// Static int8 quantization must make models faster, not only smaller: onnxruntime-node p50 latency of the fp32 model
// against its static int8 QDQ version (2 threads) for an MLP with 1024-wide layers at batch 64 and for resnet-20
// (1x28x28 input) at batch 32, plus which integer kernels onnxruntime fused the QDQ graph into (read from the
// optimized model it saves). Latency depends only on the shapes and the placement, so fresh weights and random
// calibration inputs serve here; accuracy is tested in test/compress/quantize/static.test.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../src/core/codec.js';
import { Model } from '../src/core/ir.js';
import { StaticQuantizeOptions, quantizeStatic } from '../src/compress/quantize/static.js';
import { buildArch } from '../src/nn/zoo.js';
import { randomInputs } from '../src/runtime/inputs.js';
import { nodeRuntime } from '../src/runtime/node.js';
import { compareLatency } from './latency-compare.js';
import type { BenchResult, BenchRow, Benchmark } from './types.js';

const THREADS = 2;
const ROUNDS = 3;
const RUNS = 150;

/** fp32 and int8 p50 latency, alternating over rounds (each one's best median). */
async function compare(fp32: Model, int8: Model, batch: number, rounds = ROUNDS): Promise<{ fp32: number; int8: number }> {
  const [a, b] = await compareLatency([fp32, int8], { batch, threads: THREADS, runs: RUNS, rounds });
  return { fp32: a!, int8: b! };
}

/** The ops onnxruntime runs after its graph optimizations (QDQ fusion included), as 'Op xN' sorted by count. */
async function fusedKernels(model: Model): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nnzip-bench-'));
  try {
    const file = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(encodeModel(model).bytes, {
      optimizedModelFilePath: file, graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, logSeverityLevel: 3,
    });
    await session.release();
    const counts = new Map<string, number>();
    for (const n of decodeModel(readFileSync(file)).graph.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
    return [...counts].sort((x, y) => y[1] - x[1]).map(([op, n]) => `${op} x${n}`).join(', ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function quantized(model: Model, options: Partial<StaticQuantizeOptions> = {}): Promise<Model> {
  const calibration = [0, 1, 2, 3].map((seed) => randomInputs(model, { batch: 16, seed: 100 + seed }));
  return (await quantizeStatic(model, calibration, { runtime: nodeRuntime, ...options })).model;
}

const TARGET = 1.5;

const benchmark: Benchmark = {
  name: 'quantize-static',
  description: 'fp32 vs static int8 (QDQ, uint8 activations, per-channel int8 weights, minmax calibration) onnxruntime-node '
    + 'p50 latency, 2 threads: mlp:1024-1024-1024-1024-10 at batch 64 and resnet-20 (1x28x28) at batch 32; and the '
    + 'integer kernels onnxruntime fused the QDQ graphs into. Variants of resnet-20 (int8 activations, per-tensor and '
    + '7-bit weights) for comparison.',
  async run(): Promise<BenchResult> {
    const mlp = buildArch('mlp:1024-1024-1024-1024-10', { seed: 1 });
    const resnet = buildArch('resnet-20', { inputShape: [1, 28, 28], classes: 10, seed: 1 });
    const mlpInt8 = await quantized(mlp);
    const resnetInt8 = await quantized(resnet);
    const m = await compare(mlp, mlpInt8, 64);
    const r = await compare(resnet, resnetInt8, 32);
    const ratio = (x: { fp32: number; int8: number }) => x.fp32 / x.int8;
    const rows: BenchRow[] = [
      { metric: 'MLP 1024 wide, batch 64: p50 fp32', value: m.fp32, unit: 'ms' },
      { metric: 'MLP 1024 wide, batch 64: p50 int8', value: m.int8, unit: 'ms' },
      { metric: 'MLP 1024 wide, batch 64: speed-up', value: ratio(m), unit: 'x', target: { goal: `>= ${TARGET}x`, pass: ratio(m) >= TARGET } },
      { metric: 'resnet-20, batch 32: p50 fp32', value: r.fp32, unit: 'ms' },
      { metric: 'resnet-20, batch 32: p50 int8', value: r.int8, unit: 'ms' },
      { metric: 'resnet-20, batch 32: speed-up', value: ratio(r), unit: 'x', target: { goal: `>= ${TARGET}x`, pass: ratio(r) >= TARGET } },
      { metric: 'file size ratio fp32/int8, MLP', value: encodeModel(mlp).bytes.byteLength / encodeModel(mlpInt8).bytes.byteLength, unit: 'x' },
      { metric: 'file size ratio fp32/int8, resnet-20', value: encodeModel(resnet).bytes.byteLength / encodeModel(resnetInt8).bytes.byteLength, unit: 'x' },
    ];
    // Variants, one alternating round each: what the placement's choices cost or buy.
    const variants: [string, Partial<StaticQuantizeOptions>][] = [
      ['int8 activations', { activations: 'int8' }],
      ['per-tensor weights', { perChannel: false }],
      ['7-bit weights (reduceRange)', { reduceRange: true }],
    ];
    for (const [label, options] of variants) {
      const v = await compare(resnet, await quantized(resnet, options), 32, 1);
      rows.push({ metric: `resnet-20 variant, ${label}: speed-up`, value: ratio(v), unit: 'x' });
    }
    return {
      title: `Static int8 vs fp32: onnxruntime-node p50 latency, ${THREADS} threads`,
      rows,
      notes: [
        `Each model: ${RUNS} timed runs after 15 warm-up runs, median; best median of ${ROUNDS} alternating fp32/int8 rounds (variants: 1 round).`,
        `MLP kernels after fusion: ${await fusedKernels(mlpInt8)}.`,
        `resnet-20 kernels after fusion: ${await fusedKernels(resnetInt8)}.`,
        `resnet-20 with int8 activations: ${await fusedKernels(await quantized(resnet, { activations: 'int8' }))} `
          + '(onnxruntime fuses int8-activation QDQ only partly on x86: its QDQ transformer allows int8 activations on ARM only).',
        'QDQ placement: DQ(x), DQ(w), DQ(int32 bias) -> Conv/Gemm -> [Relu] -> Q, so the Relu folds into the requantization '
          + '(zero point 0); residual Add and GlobalAveragePool become QLinearAdd/QLinearGlobalAveragePool; the logits Gemm '
          + 'becomes QGemm with a float output; BatchNorm is folded into the convs first.',
      ],
    };
  },
};

export default benchmark;
