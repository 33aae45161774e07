// A realistic compress report for the chart, Markdown and HTML tests: LeNet-300-100 (three Gemm layers) through
// prune (92%) and cluster (5 bits), with per-layer figures and histograms computed from synthetic weights, per-class
// results, robustness curves and pruning sensitivity.
import { countDistinct, histogramOf } from '../../src/report/layers.js';
import type { LayerSummary, Report, ReportEntry } from '../../src/report/model.js';
import type { PerClassResult } from '../../src/eval/per-class.js';
import type { RobustnessResult } from '../../src/eval/robustness.js';
import { seededRandom } from '../../src/runtime/inputs.js';

export const LAYERS = [
  { weight: 'fc1.weight', node: 'fc1', dims: [300, 784] },
  { weight: 'fc2.weight', node: 'fc2', dims: [100, 300] },
  { weight: 'fc3.weight', node: 'fc3', dims: [10, 100] },
] as const;
export const CLASSES = 10;
export const NOISE = [0.1, 0.2, 0.3];
export const FGSM = [0.05, 0.1];
export const SPARSITIES = [0.5, 0.7, 0.9, 0.95];

function gaussian(random: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return out;
}

function prune(w: Float32Array, sparsity: number): Float32Array {
  const threshold = Float32Array.from(w, Math.abs).sort()[Math.floor(sparsity * w.length)]!;
  return w.map((v) => (Math.abs(v) < threshold ? 0 : v));
}

/** Non-zero weights replaced by the nearest of 31 evenly spaced levels (the zero keeps its own entry: 32 in all). */
function cluster(w: Float32Array): Float32Array {
  let min = Infinity, max = -Infinity;
  for (const v of w) if (v !== 0) { min = Math.min(min, v); max = Math.max(max, v); }
  const step = (max - min) / 30;
  return w.map((v) => (v === 0 ? 0 : Math.fround(min + Math.round((v - min) / step) * step)));
}

function summary(l: (typeof LAYERS)[number], values: Float32Array, storageBits: number, opType = 'Gemm'): LayerSummary {
  let nonzeros = 0;
  for (const v of values) if (v !== 0) nonzeros++;
  const distinctValues = countDistinct(values);
  return {
    weight: l.weight, node: l.node, opType, params: values.length, nonzeros, sparsity: 1 - nonzeros / values.length,
    storageBits, distinctValues, effectiveBits: Math.ceil(Math.log2(distinctValues)),
  };
}

function perClass(random: () => number, errorRate: number): PerClassResult {
  const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  const support = Array.from({ length: CLASSES }, (_, c) => 900 + ((c * 37) % 200));
  for (let c = 0; c < CLASSES; c++) {
    for (let i = 0; i < support[c]!; i++) {
      const wrong = random() < errorRate * (0.5 + c / CLASSES);
      confusion[c]![wrong ? (c + 1 + Math.floor(random() * (CLASSES - 1))) % CLASSES : c]!++;
    }
  }
  const scores = confusion.map((row, c) => {
    const tp = row[c]!;
    const predicted = confusion.reduce((n, r) => n + r[c]!, 0);
    const precision = predicted ? tp / predicted : 0, recall = tp / support[c]!;
    return { label: c, precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, support: support[c]! };
  });
  const samples = support.reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((n, r, c) => n + r[c]!, 0);
  return { confusion, perClass: scores, macroF1: scores.reduce((n, s) => n + s.f1, 0) / CLASSES, accuracy: correct / samples, samples };
}

function robustness(clean: number, brittleness: number): RobustnessResult {
  return {
    clean,
    noise: NOISE.map((s) => ({ strength: s, accuracy: clean * Math.exp(-brittleness * s * s * 8) })),
    fgsm: FGSM.map((e) => ({ strength: e, accuracy: clean * Math.exp(-brittleness * e * 20) })),
    samples: 10000,
  };
}

/** The fixture report (deterministic). */
export function fixtureReport(): Report {
  const random = seededRandom(7);
  const original = LAYERS.map((l) => gaussian(random, l.dims[0] * l.dims[1], Math.sqrt(2 / l.dims[1])));
  const pruned = original.map((w) => prune(w, 0.92));
  const clustered = pruned.map(cluster);
  const stages: { name: string; seconds?: number; weights: Float32Array[]; bits: number; accuracy: number; onnx: number; gzip: number; nnz: number; p50: number; errors: number; brittle: number }[] = [
    { name: 'original', weights: original, bits: 32, accuracy: 0.9812, onnx: 1066148, gzip: 986012, nnz: 980322, p50: 0.412, errors: 0.019, brittle: 1 },
    { name: '1: prune', seconds: 41.7, weights: pruned, bits: 32, accuracy: 0.9807, onnx: 1066148, gzip: 158321, nnz: 61210, p50: 0.405, errors: 0.02, brittle: 1.2 },
    { name: '2: cluster', seconds: 12.3, weights: clustered, bits: 8, accuracy: 0.9801, onnx: 268214, gzip: 52210, nnz: 25880, p50: 0.47, errors: 0.021, brittle: 1.3 },
  ];
  const entries: ReportEntry[] = stages.map((s) => {
    const layers = LAYERS.map((l, i) => summary(l, s.weights[i]!, s.bits));
    const params = layers.reduce((n, l) => n + l.params, 0) + 410;
    const nonzeroParams = layers.reduce((n, l) => n + l.nonzeros, 0) + 410;
    return {
      name: s.name, ...(s.seconds ? { seconds: s.seconds } : {}),
      metrics: {
        accuracy: s.accuracy, bytes: { onnx: s.onnx, gzip: s.gzip, nnz: s.nnz }, params, nonzeroParams, macs: 266200,
        latency: { p50Ms: s.p50, p95Ms: s.p50 * 1.3 }, peakMemoryBytes: 182 * 2 ** 20,
      },
      layers,
      histogram: histogramOf(s.weights, 60),
      perClass: perClass(random, s.errors),
      robustness: robustness(s.accuracy, s.brittle),
    };
  });
  return {
    kind: 'compress',
    title: 'nnzip compress: lenet-300-100.onnx',
    created: '2025-01-01T12:00:00.000Z',
    recipe: 'recipes/deep-compression-lenet-300-100.json',
    entries,
    sensitivity: {
      metric: 'accuracy',
      sparsities: SPARSITIES,
      baseline: 0.9812,
      layers: LAYERS.map((l, i) => ({
        weight: l.weight, node: l.node, params: l.dims[0] * l.dims[1],
        metrics: SPARSITIES.map((s) => 0.9812 - (i + 1) * 0.02 * s ** (4 - i)),
      })),
    },
    search: {
      objective: 'size', costTitle: 'bytes (.nnz)', maxDrop: 0.3, baselineAccuracy: 0.9812,
      points: SEARCH_POINTS.map(([cost, accuracy, phase, onFront, chosen], i) => ({ id: `t${i}`, cost, accuracy, phase, onFront, chosen })),
    },
  };
}

/** Candidates of a search: [cost, accuracy, phase, on the front, chosen]; three on the front, one final chosen. */
export const SEARCH_POINTS: [number, number, 'trial' | 'final', boolean, boolean][] = [
  [90000, 0.981, 'trial', true, false], [60000, 0.979, 'trial', true, false], [65000, 0.975, 'trial', false, false],
  [30000, 0.97, 'trial', true, false], [40000, 0.96, 'trial', false, false], [58000, 0.9805, 'final', false, true],
];
