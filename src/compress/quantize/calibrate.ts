// Calibration: run the float model over sample inputs with chosen intermediate tensors exposed as extra graph outputs
// (one session, every tensor in each run), collect per tensor its min/max, a histogram and optionally per-channel
// means, then turn the statistics into a quantization range [min, max] with one of four calibrators behind one
// interface, as onnxruntime's calibrate.py does: minmax, percentile, entropy (TensorRT's KL-divergence threshold
// search) and mse (the range minimizing the quantization error of the histogram).
import { DataType, dataTypeName } from '../../core/dtype.js';
import { Dim, Model } from '../../core/ir.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { feedableInputs } from '../../runtime/inputs.js';
import { Runtime } from '../../runtime/session.js';
import {
  type IntegerFormat, QuantizationError, affineParams, integerRange,
} from './arithmetic.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

/** Batches of model inputs (one feed per graph input per batch). */
export type CalibrationFeeds = Iterable<Record<string, Tensor>> | AsyncIterable<Record<string, Tensor>>;

export const DEFAULT_BINS = 2048;

/**
 * Running statistics of one tensor over calibration batches: min, max, count, and a histogram of `bins` equal bins
 * over [-range, range]. When a batch exceeds the range, the range doubles (as often as needed) and neighbouring bins
 * merge, so the bin count stays fixed and no count moves across an edge (exact for power-of-two bin counts up to
 * 2^(bits of bins - 1) doublings). Optionally the mean of each channel (axis 1).
 */
export class TensorStatistics {
  min = Infinity;
  max = -Infinity;
  count = 0;
  /** Half-width of the histogram's range; 0 until a non-zero value arrives. */
  range = 0;
  readonly histogram?: Float64Array;
  /** Zeros seen while the range was still 0, added to the zero bin once it exists. */
  private pendingZeros = 0;
  private channelSums?: Float64Array;
  private channelCount = 0;

  constructor(readonly name: string, options: { histogram?: boolean; bins?: number; channelMeans?: boolean } = {}) {
    const bins = options.bins ?? DEFAULT_BINS;
    if (options.histogram ?? true) {
      if (!Number.isInteger(bins) || bins < 2 || bins % 2 !== 0) throw new QuantizationError(`histogram bins must be an even number of at least 2, got ${bins}`);
      this.histogram = new Float64Array(bins);
    }
    if (options.channelMeans) this.channelSums = new Float64Array(0);
  }

  get bins(): number {
    return this.histogram?.length ?? 0;
  }

  /** Lower edge of bin i (edge(bins) is the range's upper end). */
  edge(i: number): number {
    return -this.range + (2 * this.range * i) / this.bins;
  }

  /** Per-channel means (axis 1), when asked for in the constructor and seen at least once. */
  get channelMeans(): Float64Array | undefined {
    if (!this.channelSums || !this.channelCount) return undefined;
    return this.channelSums.map((s) => s / this.channelCount);
  }

  /** Adds one batch of values; `dims` is needed for channel means. */
  add(values: Float32Array, dims: readonly number[] = [values.length]): void {
    let lo = Infinity, hi = -Infinity, nonFinite = -1;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      // NaN fails both comparisons above and would pass unseen: x - x is NaN only for NaN and ±Inf.
      if (v - v !== 0 && nonFinite < 0) nonFinite = i;
    }
    if (nonFinite >= 0) {
      throw new QuantizationError(`tensor '${this.name}' holds ${Number.isNaN(values[nonFinite]) ? 'NaN' : 'an infinite value'}: it cannot be given a range`);
    }
    if (!values.length) return;
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    this.count += values.length;
    if (this.histogram) this.addToHistogram(values, Math.max(-lo, hi));
    if (this.channelSums) this.addChannelSums(values, dims);
  }

  private addToHistogram(values: Float32Array, absMax: number): void {
    const hist = this.histogram!;
    const n = hist.length;
    if (absMax > this.range) this.grow(absMax);
    if (this.range === 0) { this.pendingZeros += values.length; return; }
    const a = this.range, scale = n / (2 * a);
    for (let i = 0; i < values.length; i++) {
      const k = Math.floor((values[i]! + a) * scale);
      hist[k < 0 ? 0 : k >= n ? n - 1 : k]++;
    }
  }

  /** Widens the range to cover absMax: the first time exactly, later by doubling and merging bins. */
  private grow(absMax: number): void {
    const hist = this.histogram!;
    const n = hist.length;
    if (this.range === 0) {
      this.range = absMax;
      hist[n / 2] += this.pendingZeros;
      this.pendingZeros = 0;
      return;
    }
    let factor = 1;
    while (this.range * factor < absMax) factor *= 2;
    const old = Float64Array.from(hist);
    hist.fill(0);
    // Old bin i spans [-a + i w, -a + (i+1) w); in the new grid it lands in bin floor((i + (factor-1) n/2) / factor).
    const offset = ((factor - 1) * n) / 2;
    for (let i = 0; i < n; i++) if (old[i]) hist[Math.min(n - 1, Math.floor((i + 0.5 + offset) / factor))] += old[i]!;
    this.range *= factor;
  }

  private addChannelSums(values: Float32Array, dims: readonly number[]): void {
    const channels = dims.length >= 2 ? dims[1]! : 1;
    if (this.channelSums!.length !== channels) {
      if (this.channelCount) throw new QuantizationError(`tensor '${this.name}' changed its channel count between calibration batches (${this.channelSums!.length} then ${channels})`);
      this.channelSums = new Float64Array(channels);
    }
    const inner = dims.slice(2).reduce((a, b) => a * b, 1);
    const outer = values.length / (channels * inner);
    const sums = this.channelSums!;
    for (let o = 0, i = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let k = 0; k < inner; k++) s += values[i++]!;
        sums[c] += s;
      }
    }
    this.channelCount += outer * inner;
  }
}

export interface CollectOptions {
  runtime: Runtime;
  /** Float tensors (graph inputs or node outputs) to collect statistics of. */
  tensors: readonly string[];
  /** Collect histograms (default true; minmax does not need them). */
  histograms?: boolean;
  /** Histogram bins (default 2048). */
  bins?: number;
  /** Tensors to collect per-channel means of (axis 1), e.g. the inputs of layers for bias correction. */
  channelMeans?: readonly string[];
  threads?: number;
}

export interface CollectedStatistics {
  tensors: Map<string, TensorStatistics>;
  batches: number;
  /** Samples seen (sum of the first dimension of the first input over batches). */
  samples: number;
}

const fmt = (dims: readonly Dim[]) => `[${dims.map((d) => (d === null ? '?' : d)).join(',')}]`;

/** Checks one calibration batch against the model's inputs: names, element types and declared dimensions. */
export function checkCalibrationFeed(model: Model, feed: Record<string, Tensor>): void {
  const inputs = feedableInputs(model);
  for (const name of Object.keys(feed)) {
    if (!inputs.some((v) => v.name === name)) throw new QuantizationError(`calibration feed '${name}' is not an input of the model (inputs: ${inputs.map((v) => v.name).join(', ')})`);
  }
  for (const v of inputs) {
    const t = feed[v.name];
    if (!t) throw new QuantizationError(`calibration data has no values for model input '${v.name}'`);
    if (v.type?.kind !== 'tensor') continue;
    if (t.dataType !== v.type.elemType) throw new QuantizationError(`calibration input '${v.name}' is ${dataTypeName(t.dataType)}, the model expects ${dataTypeName(v.type.elemType)}`);
    const shape = v.type.shape;
    if (!shape) continue;
    const fits = shape.length === t.dims.length && shape.every((d, i) => typeof d !== 'number' || d === t.dims[i]);
    if (!fits) throw new QuantizationError(`calibration input '${v.name}' has shape ${fmt(t.dims)}, the model expects ${fmt(shape)}`);
  }
}

/** The model with the given tensors added as graph outputs (float32 checked), for one session that returns them all. */
function withOutputs(model: Model, names: readonly string[]): Model {
  const out = model.clone();
  const facts = inferShapes(out, { strict: false }).values;
  const existing = new Set(out.graph.outputs.map((o) => o.name));
  const known = out.graph.valueNames();
  for (const name of names) {
    if (!known.has(name)) throw new QuantizationError(`cannot calibrate tensor '${name}': the model has no such value`);
    const declared = out.graph.typeOf(name);
    const type = facts.get(name)?.elemType ?? (declared?.kind === 'tensor' ? declared.elemType : undefined);
    if (type !== undefined && type !== DataType.FLOAT) throw new QuantizationError(`cannot calibrate tensor '${name}': it is ${dataTypeName(type)}, not float32`);
    if (!existing.has(name)) {
      out.graph.outputs.push({ name, type: { kind: 'tensor', elemType: DataType.FLOAT } });
      existing.add(name);
    }
  }
  return out;
}

/** Runs the model over every batch once, collecting statistics of the requested tensors. */
export async function collectStatistics(model: Model, feeds: CalibrationFeeds, options: CollectOptions): Promise<CollectedStatistics> {
  const names = [...new Set([...options.tensors, ...(options.channelMeans ?? [])])];
  const means = new Set(options.channelMeans ?? []);
  const ranged = new Set(options.tensors);
  const tensors = new Map(names.map((n) => [n, new TensorStatistics(n, {
    histogram: ranged.has(n) && (options.histograms ?? true), bins: options.bins, channelMeans: means.has(n),
  })]));
  const session = await options.runtime.createSession(withOutputs(model, names), { threads: options.threads });
  const first = feedableInputs(model)[0]?.name;
  let batches = 0, samples = 0;
  try {
    for await (const feed of feeds) {
      checkCalibrationFeed(model, feed);
      const result = await session.run(feed, names);
      try {
        for (const name of names) {
          const t = result[name]!;
          tensors.get(name)!.add(t.toFloat32(), t.dims);
        }
      } catch (e) {
        // A NaN activation stops calibration: say which batch showed it, so the input can be found.
        if (e instanceof QuantizationError) e.message = `calibration batch ${batches + 1} (samples ${samples + 1}-${samples + (first ? feed[first]!.dims[0] ?? 1 : 1)}): ${e.message}`;
        throw e;
      }
      batches++;
      samples += first ? feed[first]!.dims[0] ?? 1 : 1;
    }
  } finally {
    await session.release();
  }
  if (!batches) throw new QuantizationError('calibration data is empty: give at least one batch');
  return { tensors, batches, samples };
}

/** Chooses a quantization range for a tensor from its statistics. */
export interface Calibrator {
  readonly method: CalibrationMethod;
  /** Whether it reads histograms (minmax does not). */
  readonly needsHistogram: boolean;
  range(stats: TensorStatistics): [number, number];
}

export interface CalibratorOptions {
  /** Percentile calibration: the share of values kept inside the range, in percent (default 99.99). */
  percentile?: number;
  /**
   * The integer format the range will be quantized to (default uint8, asymmetric): entropy uses its number of levels,
   * mse quantizes the histogram with it.
   */
  format?: IntegerFormat & { symmetric?: boolean };
}

const DEFAULT_FORMAT: IntegerFormat & { symmetric?: boolean } = { bits: 8, signed: false };

function emptyRange(stats: TensorStatistics): [number, number] | undefined {
  if (!stats.count) return [0, 0];
  if (!stats.histogram || stats.range === 0 || stats.min === stats.max) return [stats.min, stats.max];
  return undefined;
}

export const minMaxCalibrator = (): Calibrator => ({
  method: 'minmax',
  needsHistogram: false,
  range: (stats) => (stats.count ? [stats.min, stats.max] : [0, 0]),
});

/**
 * The value below which `fraction` of the histogram's mass lies, interpolating linearly inside the bin where the
 * cumulative count crosses it.
 */
function histogramQuantile(stats: TensorStatistics, fraction: number): number {
  const hist = stats.histogram!;
  let total = 0;
  for (const c of hist) total += c;
  const target = fraction * total;
  let cumulative = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (c > 0 && cumulative + c >= target) return stats.edge(i) + ((target - cumulative) / c) * (stats.edge(i + 1) - stats.edge(i));
    cumulative += c;
  }
  return stats.edge(hist.length);
}

/**
 * Keeps `percentile`% of the values: one-signed data loses its top (100 - p)% on the side away from zero, data of
 * both signs (100 - p)/2 % on each side. Clipped to [min, max].
 */
export function percentileCalibrator(percentile = 99.99): Calibrator {
  if (!(percentile > 0 && percentile <= 100)) throw new QuantizationError(`percentile ${percentile} must be in (0, 100]`);
  const cut = (100 - percentile) / 100;
  return {
    method: 'percentile',
    needsHistogram: true,
    range(stats) {
      const trivial = emptyRange(stats);
      if (trivial) return trivial;
      let lo: number, hi: number;
      if (stats.min >= 0) { lo = stats.min; hi = histogramQuantile(stats, 1 - cut); }
      else if (stats.max <= 0) { lo = histogramQuantile(stats, cut); hi = stats.max; }
      else { lo = histogramQuantile(stats, cut / 2); hi = histogramQuantile(stats, 1 - cut / 2); }
      return [Math.max(stats.min, lo), Math.min(stats.max, hi)];
    },
  };
}

/**
 * Candidate ranges for the histogram searches: windows of bins grown from zero, one-sided when the data has one
 * sign, symmetric otherwise; each with the number of quantization levels the window gets.
 */
function* windows(stats: TensorStatistics, format: IntegerFormat & { symmetric?: boolean }, minWidth: (levels: number) => number) {
  const n = stats.bins, zero = n / 2;
  const { qmin, qmax } = integerRange(format);
  const levels = qmax - qmin + 1;
  const side = stats.min >= 0 ? 1 : stats.max <= 0 ? -1 : 0;
  // A one-sided window gets every level from an asymmetric format, half of them from a symmetric one.
  const windowLevels = side !== 0 && format.symmetric ? Math.ceil(levels / 2) : levels;
  // Window i spans i bins (one-sided) or 2i bins (symmetric); the narrowest has at least minWidth bins.
  const width = minWidth(windowLevels);
  const first = Math.max(1, Math.min(zero, side === 0 ? Math.ceil(width / 2) : width));
  for (let i = first; i <= zero; i++) {
    const start = side === 1 ? zero : zero - i;
    const end = side === -1 ? zero : zero + i;
    yield { start, end, levels: windowLevels };
  }
}

function clipToData(stats: TensorStatistics, lo: number, hi: number): [number, number] {
  return [Math.max(stats.min, lo), Math.min(stats.max, hi)];
}

/**
 * Moves a little mass onto empty bins (onnxruntime's smooth_distribution on raw counts: eps = 1e-4 onto each empty
 * bin, taken evenly from the others), so KL stays finite where q misses mass p has; undefined for an all-zero vector.
 */
function smoothed(d: Float64Array): Float64Array | undefined {
  let zeros = 0;
  for (const v of d) if (v === 0) zeros++;
  const nonzeros = d.length - zeros;
  if (!nonzeros) return undefined;
  const eps = 1e-4, eps1 = (eps * zeros) / nonzeros;
  return d.map((v) => (v === 0 ? eps : Math.max(v - eps1, v / 2)));
}

/** KL(p || q) of two count vectors, each normalized after smoothing. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  const ps = smoothed(p), qs = smoothed(q);
  if (!ps || !qs) return Infinity;
  let sp = 0, sq = 0;
  for (let i = 0; i < ps.length; i++) { sp += ps[i]!; sq += qs[i]!; }
  let kl = 0;
  for (let i = 0; i < ps.length; i++) {
    const a = ps[i]! / sp;
    kl += a * Math.log(a / (qs[i]! / sq));
  }
  return kl;
}

/**
 * TensorRT's entropy calibration: for each window of bins (at least as many bins as quantization levels), the
 * reference distribution p is the window with the outside mass folded into its edge bins, q is the window merged
 * into `levels` groups and spread back evenly over each group's non-empty bins; the window with the smallest
 * KL(p || q) gives the range (clipped to [min, max]).
 */
export function entropyCalibrator(options: { format?: IntegerFormat & { symmetric?: boolean } } = {}): Calibrator {
  const format = options.format ?? DEFAULT_FORMAT;
  return {
    method: 'entropy',
    needsHistogram: true,
    range(stats) {
      const trivial = emptyRange(stats);
      if (trivial) return trivial;
      const hist = stats.histogram!;
      let best = Infinity, bestRange: [number, number] = [stats.min, stats.max];
      for (const { start, end, levels } of windows(stats, format, (levels) => levels)) {
        const width = end - start;
        const p = hist.slice(start, end);
        let below = 0, above = 0;
        for (let i = 0; i < start; i++) below += hist[i]!;
        for (let i = end; i < hist.length; i++) above += hist[i]!;
        p[0] += below;
        p[width - 1] += above;
        const q = new Float64Array(width);
        const groups = Math.min(levels, width);
        for (let g = 0; g < groups; g++) {
          const a = Math.floor((g * width) / groups), b = Math.floor(((g + 1) * width) / groups);
          let sum = 0, nonzero = 0;
          for (let j = a; j < b; j++) { sum += hist[start + j]!; if (p[j] !== 0) nonzero++; }
          if (nonzero) for (let j = a; j < b; j++) if (p[j] !== 0) q[j] = sum / nonzero;
        }
        const kl = klDivergence(p, q);
        if (kl < best) { best = kl; bestRange = [stats.edge(start), stats.edge(end)]; }
      }
      return clipToData(stats, bestRange[0], bestRange[1]);
    },
  };
}

/**
 * An antiderivative of the squared quantization error err(x)^2 of a grid with step `scale` clamped to [lo, hi]
 * (grid points s*k: the zero point is an integer). Inside the range err is the sawtooth x - s*round(x/s), whose square
 * integrates to s^3/12 per step; outside it grows as (x - hi)^2 or (x - lo)^2.
 */
function squaredErrorIntegral(x: number, scale: number, lo: number, hi: number): number {
  const inside = Math.min(hi, Math.max(lo, x));
  const k = Math.round(inside / scale), r = inside - k * scale;
  let v = (k * scale ** 3) / 12 + r ** 3 / 3;
  if (x > hi) v += (x - hi) ** 3 / 3;
  if (x < lo) v += (x - lo) ** 3 / 3;
  return v;
}

/**
 * The range whose quantization (with the target format) has the least expected squared error over the histogram,
 * clipping included, with values taken as uniform within each bin (so the error of the rounding inside a bin is
 * integrated, not read at the bin's centre). Windows from levels/8 bins up to the whole histogram are searched, as
 * pytorch-quantization's mse calibrator does. Clipped to [min, max].
 */
export function mseCalibrator(options: { format?: IntegerFormat & { symmetric?: boolean } } = {}): Calibrator {
  const format = options.format ?? DEFAULT_FORMAT;
  const { qmin, qmax } = integerRange(format);
  return {
    method: 'mse',
    needsHistogram: true,
    range(stats) {
      const trivial = emptyRange(stats);
      if (trivial) return trivial;
      const hist = stats.histogram!;
      const edges = Float64Array.from({ length: hist.length + 1 }, (_, i) => stats.edge(i));
      const filled = [...hist.keys()].filter((i) => hist[i]! > 0);
      let best = Infinity, bestRange: [number, number] = [stats.min, stats.max];
      for (const { start, end } of windows(stats, format, (levels) => Math.ceil(levels / 8))) {
        const [lo, hi] = clipToData(stats, stats.edge(start), stats.edge(end));
        const { scale, zeroPoint } = affineParams(lo, hi, format);
        const gridLo = scale * (qmin - zeroPoint), gridHi = scale * (qmax - zeroPoint);
        let error = 0;
        for (const i of filled) {
          const a = edges[i]!, b = edges[i + 1]!;
          error += (hist[i]! * (squaredErrorIntegral(b, scale, gridLo, gridHi) - squaredErrorIntegral(a, scale, gridLo, gridHi))) / (b - a);
        }
        if (error < best) { best = error; bestRange = [lo, hi]; }
      }
      return bestRange;
    },
  };
}

/** The calibrator for a method. */
export function createCalibrator(method: CalibrationMethod, options: CalibratorOptions = {}): Calibrator {
  switch (method) {
    case 'minmax': return minMaxCalibrator();
    case 'percentile': return percentileCalibrator(options.percentile);
    case 'entropy': return entropyCalibrator({ format: options.format });
    case 'mse': return mseCalibrator({ format: options.format });
    default: throw new QuantizationError(`calibration method '${String(method)}' is unknown: use ${CALIBRATION_METHODS.join(', ')}`);
  }
}

export interface CalibrateOptions extends Omit<CollectOptions, 'histograms'>, CalibratorOptions {
  /** Default 'minmax'. */
  method?: CalibrationMethod;
}

export interface CalibrationResult {
  /** Range [min, max] per tensor. */
  ranges: Map<string, [number, number]>;
  statistics: CollectedStatistics;
}

/** Collects statistics of `tensors` over the feeds and gives each a range with the chosen calibrator. */
export async function calibrate(model: Model, feeds: CalibrationFeeds, options: CalibrateOptions): Promise<CalibrationResult> {
  const calibrator = createCalibrator(options.method ?? 'minmax', options);
  const statistics = await collectStatistics(model, feeds, { ...options, histograms: calibrator.needsHistogram });
  const ranges = new Map<string, [number, number]>();
  for (const name of options.tensors) ranges.set(name, calibrator.range(statistics.tensors.get(name)!));
  return { ranges, statistics };
}
