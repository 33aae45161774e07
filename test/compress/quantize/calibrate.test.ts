import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Tensor } from '../../../src/core/tensor.js';
import { affineParams, dequantizeValue, integerRange, quantizeValue } from '../../../src/compress/quantize/arithmetic.js';
import {
  TensorStatistics, calibrate, collectStatistics, createCalibrator, entropyCalibrator, mseCalibrator, percentileCalibrator,
} from '../../../src/compress/quantize/calibrate.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { seededRandom } from '../../../src/runtime/inputs.js';

function gaussian(n: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())), t = 2 * Math.PI * rand();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

const minOf = (a: Float32Array) => a.reduce((m, v) => Math.min(m, v), Infinity);
const maxOf = (a: Float32Array) => a.reduce((m, v) => Math.max(m, v), -Infinity);

function statsOf(values: Float32Array, batches = 1): TensorStatistics {
  const s = new TensorStatistics('t');
  const size = Math.ceil(values.length / batches);
  for (let i = 0; i < values.length; i += size) s.add(values.subarray(i, i + size));
  return s;
}

/** Mean squared error of uint8 asymmetric quantization of `values` with the range [lo, hi]. */
function quantizationMse(values: Float32Array, [lo, hi]: [number, number]): number {
  const format = { bits: 8, signed: false };
  const { scale, zeroPoint } = affineParams(lo, hi, format);
  const { qmin, qmax } = integerRange(format);
  let sum = 0;
  for (const v of values) { const d = v - dequantizeValue(quantizeValue(v, scale, zeroPoint, qmin, qmax), scale, zeroPoint); sum += d * d; }
  return sum / values.length;
}

test('histogram growth: doubling the range and merging bins gives the histogram a single pass over the final range gives', () => {
  const small = gaussian(20000, 1).map((v) => v * 0.3);
  const wide = gaussian(20000, 2).map((v) => v * 5);
  const grown = new TensorStatistics('t', { bins: 256 });
  grown.add(small);
  const firstRange = grown.range;
  grown.add(wide);
  // The range doubled until it covered the wide batch.
  const factor = grown.range / firstRange;
  assert.equal(2 ** Math.round(Math.log2(factor)), factor);
  const wideMax = Math.max(-minOf(wide), maxOf(wide));
  assert.ok(grown.range >= wideMax && grown.range / 2 < wideMax);
  // Reference: both batches binned directly over [-range, range].
  const reference = new Float64Array(256);
  const scale = 256 / (2 * grown.range);
  for (const v of [...small, ...wide]) reference[Math.min(255, Math.floor((v + grown.range) * scale))]++;
  // Identical but for values within float rounding of a bin edge (binned on the first, finer grid).
  let moved = 0;
  for (let i = 0; i < 256; i++) moved += Math.abs(grown.histogram![i]! - reference[i]!);
  assert.ok(moved <= 4, `${moved / 2} values changed bins`);
  assert.equal(grown.count, 40000);
  assert.equal(grown.min, Math.min(minOf(small), minOf(wide)));
  assert.equal(grown.max, Math.max(maxOf(small), maxOf(wide)));
});

test('zeros seen before any non-zero value land in the zero bin', () => {
  const s = new TensorStatistics('t', { bins: 8 });
  s.add(new Float32Array(5));
  assert.equal(s.range, 0);
  s.add(Float32Array.from([1, -1, 0.1]));
  assert.deepEqual([...s.histogram!], [1, 0, 0, 0, 6, 0, 0, 1]);
});

test('minmax over a model: min and max of graph inputs and intermediate tensors exactly, in one session; channel means', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 3]);
  const relu = b.op('Relu', [x], {}, { name: 'relu' });
  const doubled = b.op('Mul', [x, b.floats('two', [], [2])], {}, { name: 'double' });
  const sum = b.op('Add', [relu, doubled], {}, { name: 'add', output: 'out' });
  b.output(sum, DataType.FLOAT);
  const model = modelOf(b.graph);
  const feeds = [
    { x: Tensor.fromFloat32('x', [2, 3], [1, -2, 3, 0.5, 4, -1]) },
    { x: Tensor.fromFloat32('x', [1, 3], [-7, 2, 0]) },
  ];
  const { ranges, statistics } = await calibrate(model, feeds, { runtime: nodeRuntime, tensors: ['x', relu, doubled, 'out'], channelMeans: ['x'] });
  assert.deepEqual(ranges.get('x'), [-7, 4]);
  assert.deepEqual(ranges.get(relu), [0, 4]);
  assert.deepEqual(ranges.get(doubled), [-14, 8]);
  // out = relu(x) + 2x: values 3, -4, 9, 1.5, 12, -2, -14, 6, 0.
  assert.deepEqual(ranges.get('out'), [-14, 12]);
  assert.equal(statistics.batches, 2);
  assert.equal(statistics.samples, 3);
  assert.deepEqual([...statistics.tensors.get('x')!.channelMeans!], [(1 + 0.5 - 7) / 3, (-2 + 4 + 2) / 3, (3 - 1 + 0) / 3]);
  // The input model is unchanged (outputs were added to a copy).
  assert.deepEqual(model.graph.outputs.map((o) => o.name), ['out']);
});

test('calibration feeds of the wrong shape, type or name: one-line errors naming the input and the shapes', async () => {
  const b = new GraphBuilder();
  const x = b.input('pixels', DataType.FLOAT, ['batch', 1, 28, 28]);
  b.output(b.op('Relu', [x]), DataType.FLOAT);
  const model = modelOf(b.graph);
  const run = (feed: Record<string, Tensor>) => collectStatistics(model, [feed], { runtime: nodeRuntime, tensors: ['pixels'] });
  await assert.rejects(run({ pixels: Tensor.zeros('pixels', DataType.FLOAT, [4, 1, 32, 32]) }),
    (e: Error) => e.name === 'QuantizationError' && e.message === "calibration input 'pixels' has shape [4,1,32,32], the model expects [batch,1,28,28]");
  await assert.rejects(run({ pixels: Tensor.zeros('pixels', DataType.FLOAT, [4, 784]) }), /calibration input 'pixels' has shape \[4,784\], the model expects \[batch,1,28,28\]/);
  await assert.rejects(run({ pixels: Tensor.zeros('pixels', DataType.DOUBLE, [4, 1, 28, 28]) }), /calibration input 'pixels' is float64, the model expects float32/);
  await assert.rejects(run({ image: Tensor.zeros('image', DataType.FLOAT, [4, 1, 28, 28]) }), /calibration feed 'image' is not an input of the model \(inputs: pixels\)/);
  await assert.rejects(collectStatistics(model, [], { runtime: nodeRuntime, tensors: ['pixels'] }), /calibration data is empty/);
  await assert.rejects(collectStatistics(model, [], { runtime: nodeRuntime, tensors: ['nope'] }), /cannot calibrate tensor 'nope': the model has no such value/);
});

test('percentile on known distributions: uniform and Gaussian quantiles', () => {
  // 200001 evenly spaced values on [-1, 1]: the central 99% is [-0.99, 0.99].
  const uniform = Float32Array.from({ length: 200001 }, (_, i) => -1 + i / 100000);
  const [lo, hi] = percentileCalibrator(99).range(statsOf(uniform, 3));
  const binWidth = 2 / 2048;
  assert.ok(Math.abs(lo + 0.99) < binWidth && Math.abs(hi - 0.99) < binWidth, `[${lo}, ${hi}]`);
  // Non-negative data loses its top 1%: [0, 1) -> [0, 0.99].
  const positive = Float32Array.from({ length: 100000 }, (_, i) => i / 100000);
  const [plo, phi] = percentileCalibrator(99).range(statsOf(positive));
  assert.equal(plo, 0);
  assert.ok(Math.abs(phi - 0.99) < 1 / 1024, `${phi}`);
  // Standard normal: 99.73% lies within 3 sigma (2.9997...); 95.45% within 2 sigma.
  const normal = gaussian(1_000_000, 7);
  const [g3lo, g3hi] = percentileCalibrator(99.73).range(statsOf(normal, 4));
  assert.ok(Math.abs(g3hi - 3) < 0.05 && Math.abs(g3lo + 3) < 0.05, `[${g3lo}, ${g3hi}]`);
  const [g2lo, g2hi] = percentileCalibrator(95.45).range(statsOf(normal, 4));
  assert.ok(Math.abs(g2hi - 2) < 0.02 && Math.abs(g2lo + 2) < 0.02, `[${g2lo}, ${g2hi}]`);
  // 100% is minmax.
  const all = percentileCalibrator(100).range(statsOf(normal));
  assert.deepEqual(all, [minOf(normal), maxOf(normal)]);
});

test('entropy and mse clip a few huge outliers: a range far inside minmax and a lower quantization error on the bulk', () => {
  const bulk = gaussian(1_000_000, 3);
  const data = new Float32Array(bulk.length + 2);
  data.set(bulk);
  data[bulk.length] = 100;
  data[bulk.length + 1] = -100;
  const stats = statsOf(data, 4);
  const minmax = createCalibrator('minmax').range(stats);
  assert.deepEqual(minmax, [-100, 100]);
  const minmaxError = quantizationMse(bulk, minmax);
  // With a step of 200/255 = 0.78 most of N(0, 1) rounds to 0 or ±0.78: an error of about step^2/12 = 0.05.
  assert.ok(Math.abs(minmaxError - 0.0513) < 0.003, `minmax bulk error ${minmaxError}`);
  for (const calibrator of [entropyCalibrator(), mseCalibrator()]) {
    const range = calibrator.range(stats);
    const error = quantizationMse(bulk, range);
    assert.ok(range[1] < 35 && range[0] > -35, `${calibrator.method}: [${range}] is not far inside [-100, 100]`);
    assert.ok(range[1] > 4 && range[0] < -4, `${calibrator.method}: [${range}] clips the bulk itself`);
    assert.ok(error < minmaxError / 5, `${calibrator.method}: bulk error ${error} vs minmax ${minmaxError}`);
  }
  // Entropy settles on the narrowest window with 256 levels: 256 bins, one level per bin, ±range/8 (the histogram's
  // range is the first batch's max|x| doubled until it covered the outliers).
  const entropy = entropyCalibrator().range(stats);
  assert.ok(stats.range > 100 && stats.range < 200);
  assert.deepEqual(entropy, [-stats.range / 8, stats.range / 8]);
  // MSE trades the two outliers' clipping error against the bulk's rounding error: with n = 1e6 samples of unit variance
  // and outliers at ±A = 100, n (2R/255)^2 / 12 + 2 (A - R)^2 is smallest at R = 2A / (2 + n / 195075) = 28.1.
  const mse = mseCalibrator().range(stats);
  assert.ok(Math.abs(mse[1] - 28.1) < 1 && Math.abs(mse[0] + 28.1) < 1, `mse [${mse}]`);
});

test('one-sided data (post-ReLU): ranges [0, T]; mse has the least total quantization error of all the calibrators', () => {
  const relu = gaussian(400_000, 5).map((v) => Math.max(0, v));
  relu[0] = 60;
  const stats = statsOf(relu, 2);
  const methods = ['minmax', 'percentile', 'entropy', 'mse'] as const;
  const ranges = Object.fromEntries(methods.map((m) => [m, createCalibrator(m).range(stats)]));
  const errors = Object.fromEntries(methods.map((m) => [m, quantizationMse(relu, ranges[m]!)]));
  for (const m of methods) assert.equal(ranges[m]![0], 0, m);
  assert.equal(ranges.minmax![1], 60);
  // Percentile 99.99 keeps all but the top 40 values: 3.7 sigma of a half normal (the 99.98% two-sided quantile).
  assert.ok(Math.abs(ranges.percentile![1] - 3.72) < 0.05, `percentile ${ranges.percentile}`);
  // Entropy and percentile sacrifice the outlier for the bulk's resolution.
  assert.ok(ranges.entropy![1] < 20, `entropy ${ranges.entropy}`);
  assert.ok(quantizationMse(relu.subarray(1), ranges.entropy!) < quantizationMse(relu.subarray(1), ranges.minmax!) / 10);
  // One outlier of 60 among 400k values costs (60 - T)^2 / 400k: mse keeps most of it and beats every other range on
  // the total error (within the histogram's resolution).
  for (const m of methods) assert.ok(errors.mse! <= errors[m]! * 1.01, `mse ${errors.mse} vs ${m} ${errors[m]} (${JSON.stringify(ranges)})`);
  assert.ok(errors.mse! < errors.minmax! * 0.8 && errors.mse! < errors.entropy! / 2, JSON.stringify(errors));
});

test('a NaN activation stops calibration naming the batch, its samples and the tensor', async () => {
  // log(x) of a negative input is NaN: the second batch holds one.
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 2]);
  b.output(b.op('Log', [x], {}, { name: 'log' }), DataType.FLOAT, ['batch', 2]);
  const model = modelOf(b.graph, { '': 21 });
  const logOutput = model.graph.outputs[0]!.name;
  const batch = (values: number[]) => ({ x: Tensor.fromFloat32('x', [values.length / 2, 2], values) });
  await assert.rejects(
    collectStatistics(model, [batch([1, 2, 3, 4]), batch([1, 2, 3, 4, -1, 2])], { runtime: nodeRuntime, tensors: [logOutput] }),
    new RegExp(`calibration batch 2 \\(samples 3-5\\): tensor '${logOutput}' holds NaN: it cannot be given a range`),
  );
});
