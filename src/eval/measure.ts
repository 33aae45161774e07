// One model's metrics for compression reports: accuracy, fidelity to the original, sizes (ONNX, gzip, .nnz),
// parameters, non-zeros, MACs, onnxruntime latency and (through a host callback) peak memory; and the comparison of
// two such measurements (x smaller, x fewer MACs, speed-up, accuracy change). Isomorphic: no Node-only modules.
import { gzipSync } from 'fflate';
import { encodeModel } from '../core/codec.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { modelStats } from '../core/stats.js';
import { packModel, type PackOptions } from '../compress/encode/index.js';
import { DataLoader } from '../data/loader.js';
import { randomInputs } from '../runtime/inputs.js';
import { Runtime } from '../runtime/session.js';
import { evaluateClassifier } from './classification.js';
import { FidelityReference } from './fidelity.js';

export interface LatencyOptions {
  /** Size of every input's first dimension where the model does not fix it. */
  batch: number;
  /** Timed runs. */
  runs: number;
  /** Untimed runs first. */
  warmup: number;
  /** Seed of the random inputs (default 0). */
  seed?: number;
}

export interface MeasureOptions {
  runtime: Runtime;
  threads?: number;
  /** Labelled data: gives `accuracy` (top-1, as evaluateClassifier). */
  testLoader?: DataLoader;
  /** The original model's outputs on fixed inputs: gives `fidelity` (no labels needed). */
  reference?: FidelityReference;
  /** Gives `latency`: onnxruntime p50/p95 of session.run on seeded random inputs. */
  latency?: LatencyOptions;
  /**
   * Options of the .nnz packing that gives `bytes.nnz` (computed with packModel by default); false skips it, a
   * function replaces it (returns the packed size in bytes).
   */
  nnz?: PackOptions | false | ((model: Model) => number);
  /**
   * The host's memory reading in bytes (onnxruntime exposes no memory figure through its JavaScript API, so the
   * isomorphic layer cannot measure it). The Node CLI passes a callback reading Node's memoryUsage().rss. It is read before the
   * session is created, after creation and after every run; `peakMemoryBytes` is the largest reading. The runs are the
   * latency runs, or one run at batch 1 when no latency is asked for.
   */
  memory?: () => number;
}

export interface FidelityMetrics {
  /** Null when the output is not [N, classes] (see FidelityResult). */
  top1Agreement: number | null;
  meanCosine: number;
  /** Infinity when the outputs are identical. */
  sqnrDb: number;
}

export interface ModelMetrics {
  accuracy?: number;
  fidelity?: FidelityMetrics;
  bytes: {
    /** The serialized ONNX model (encodeModel). */
    onnx: number;
    /** Those bytes after gzip (fflate, level 6). */
    gzip: number;
    /** The .nnz container (packModel). */
    nnz?: number;
  };
  params: number;
  nonzeroParams: number;
  /** Multiply-accumulates per sample (symbolic dimensions count as 1; see modelStats). */
  macs: number;
  latency?: { p50Ms: number; p95Ms: number };
  /** The largest reading of options.memory around the session's creation and runs. */
  peakMemoryBytes?: number;
}

/** The q-quantile of ascending values, by linear interpolation (as `nnzip bench`). */
export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function checkCount(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new NnzipError(`measure: ${what} must be an integer of at least ${min}, got ${value}`);
}

/** Times session.run on seeded random inputs; reads the memory callback around creation and every run. */
async function timeRuns(model: Model, options: MeasureOptions, latency: LatencyOptions): Promise<{ times: number[]; peakMemory?: number }> {
  checkCount(latency.batch, 'the latency batch', 1);
  checkCount(latency.runs, 'the number of latency runs', 1);
  checkCount(latency.warmup, 'the number of warm-up runs', 0);
  const feeds = randomInputs(model, { seed: latency.seed ?? 0, batch: latency.batch });
  let peak: number | undefined;
  const sample = () => {
    if (options.memory) peak = Math.max(peak ?? -Infinity, options.memory());
  };
  sample();
  const session = await options.runtime.createSession(model, { threads: options.threads });
  sample();
  const times: number[] = [];
  try {
    for (let i = 0; i < latency.warmup; i++) {
      await session.run(feeds);
      sample();
    }
    for (let i = 0; i < latency.runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
      sample(); // after the timing, so reading memory does not count as latency
    }
  } finally {
    await session.release();
  }
  return { times, peakMemory: peak };
}

function nnzSize(model: Model, nnz: MeasureOptions['nnz']): number | undefined {
  if (nnz === false) return undefined;
  if (typeof nnz === 'function') return nnz(model);
  return packModel(model, nnz ?? {}).bytes.byteLength;
}

/** Measures a model; only the metrics whose options are given are run (sizes, params and MACs always). */
export async function measureModel(model: Model, options: MeasureOptions): Promise<ModelMetrics> {
  const onnx = encodeModel(model).bytes;
  // modelStats gzips too; a gzip limit of 0 makes it size the model from its layout instead, so gzip runs once.
  const stats = modelStats(model, { gzipLimit: 0 });
  const metrics: ModelMetrics = {
    bytes: { onnx: onnx.byteLength, gzip: gzipSync(onnx, { level: 6 }).byteLength },
    params: stats.params,
    nonzeroParams: stats.nonzeroParams,
    macs: stats.macs,
  };
  const nnz = nnzSize(model, options.nnz);
  if (nnz !== undefined) metrics.bytes.nnz = nnz;
  if (options.testLoader) {
    metrics.accuracy = (await evaluateClassifier(options.runtime, model, options.testLoader, { threads: options.threads })).accuracy;
  }
  if (options.reference) {
    const f = await options.reference.compare(model);
    metrics.fidelity = { top1Agreement: f.top1Agreement, meanCosine: f.meanCosine, sqnrDb: f.sqnrDb };
  }
  if (options.latency || options.memory) {
    const { times, peakMemory } = await timeRuns(model, options, options.latency ?? { batch: 1, runs: 1, warmup: 0 });
    if (options.latency) {
      const sorted = [...times].sort((a, b) => a - b);
      metrics.latency = { p50Ms: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95) };
    }
    if (peakMemory !== undefined) metrics.peakMemoryBytes = peakMemory;
  }
  return metrics;
}

/** One metric before and after: `ratio` = before / after (x smaller, x fewer, speed-up), `delta` = after - before. */
export interface MetricChange {
  before: number;
  after: number;
  ratio: number;
  delta: number;
}

/** Each field is present when both measurements have it. */
export interface MetricsComparison {
  bytes: { onnx: MetricChange; gzip: MetricChange; nnz?: MetricChange };
  params: MetricChange;
  nonzeroParams: MetricChange;
  macs: MetricChange;
  accuracy?: MetricChange;
  fidelity?: { top1Agreement?: MetricChange; meanCosine: MetricChange; sqnrDb: MetricChange };
  latency?: { p50Ms: MetricChange; p95Ms: MetricChange };
  peakMemoryBytes?: MetricChange;
}

/** before / after is Infinity when after is 0 (and NaN when both are); after - before follows IEEE (Infinity - Infinity is NaN). */
export function metricChange(before: number, after: number): MetricChange {
  return { before, after, ratio: before / after, delta: after - before };
}

function changeOf(before: number | null | undefined, after: number | null | undefined): MetricChange | undefined {
  return before === undefined || before === null || after === undefined || after === null ? undefined : metricChange(before, after);
}

/** How `after` (the compressed model) compares with `before` (typically the original), for reports. */
export function compareMetrics(before: ModelMetrics, after: ModelMetrics): MetricsComparison {
  const out: MetricsComparison = {
    bytes: { onnx: metricChange(before.bytes.onnx, after.bytes.onnx), gzip: metricChange(before.bytes.gzip, after.bytes.gzip) },
    params: metricChange(before.params, after.params),
    nonzeroParams: metricChange(before.nonzeroParams, after.nonzeroParams),
    macs: metricChange(before.macs, after.macs),
  };
  const nnz = changeOf(before.bytes.nnz, after.bytes.nnz);
  if (nnz) out.bytes.nnz = nnz;
  const accuracy = changeOf(before.accuracy, after.accuracy);
  if (accuracy) out.accuracy = accuracy;
  if (before.fidelity && after.fidelity) {
    out.fidelity = {
      meanCosine: metricChange(before.fidelity.meanCosine, after.fidelity.meanCosine),
      sqnrDb: metricChange(before.fidelity.sqnrDb, after.fidelity.sqnrDb),
    };
    const top1 = changeOf(before.fidelity.top1Agreement, after.fidelity.top1Agreement);
    if (top1) out.fidelity.top1Agreement = top1;
  }
  if (before.latency && after.latency) {
    out.latency = {
      p50Ms: metricChange(before.latency.p50Ms, after.latency.p50Ms),
      p95Ms: metricChange(before.latency.p95Ms, after.latency.p95Ms),
    };
  }
  const memory = changeOf(before.peakMemoryBytes, after.peakMemoryBytes);
  if (memory) out.peakMemoryBytes = memory;
  return out;
}
