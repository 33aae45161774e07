// Mixed precision: a bit width per layer, chosen from a per-layer sensitivity sweep under a size budget. Each weight is
// quantized alone at each candidate width and the model measured (accuracy or fidelity); then, starting from the
// widest candidate everywhere, the layer whose next narrower width costs the least metric per byte saved is narrowed,
// again and again, until the predicted size fits the budget (a greedy multiple-choice knapsack, as HAWQ-style
// allocators do).
import { encodeModel } from '../../core/codec.js';
import { Model } from '../../core/ir.js';
import { QuantizationError } from './arithmetic.js';
import { WeightQuantizationOptions, quantizeWeights } from './weight-only.js';

export interface MixedPrecisionOptions {
  /** Bit widths to choose from (default 2, 3, 4, 8). */
  candidates?: number[];
  /** Largest model size in bytes (the encoded ONNX file). */
  sizeBudget: number;
  /** Settings shared by every layer (granularity, symmetric, format, exclude, ...); bits come from the allocation. */
  base?: Omit<WeightQuantizationOptions, 'bits' | 'bitsByWeight'>;
  /** Called after each sensitivity measurement. */
  onProgress?: (done: number, total: number) => void;
}

export interface LayerPrecision {
  weight: string;
  node: string;
  /** Metric with only this weight quantized, per candidate width (same order as `candidates`). */
  metrics: number[];
  /** Bytes this weight takes at each candidate width. */
  bytes: number[];
  bitsChosen: number;
}

export interface MixedPrecisionReport {
  candidates: number[];
  baseline: number;
  sizeBudget: number;
  predictedBytes: number;
  bytes: number;
  layers: LayerPrecision[];
}

/** Bytes of a model as the ONNX file nnzip writes. */
function modelBytes(model: Model): number {
  return encodeModel(model).bytes.byteLength;
}

/**
 * Chooses and applies per-layer bit widths. `measure` scores a model (higher is better: accuracy or fidelity).
 * Throws when even the narrowest candidate everywhere misses the budget.
 */
export async function quantizeMixedPrecision(
  model: Model, measure: (m: Model) => Promise<number>, options: MixedPrecisionOptions,
): Promise<{ model: Model; report: MixedPrecisionReport }> {
  const candidates = [...new Set(options.candidates ?? [2, 3, 4, 8])].sort((a, b) => a - b);
  if (!candidates.length) throw new QuantizationError('mixed precision needs at least one candidate bit width');
  if (!(options.sizeBudget > 0)) throw new QuantizationError(`the size budget must be a positive number of bytes, got ${options.sizeBudget}`);
  const base = options.base ?? {};

  // Bytes per weight and width, from one whole-model quantization per width (the reports list every weight).
  const whole = new Map<number, Awaited<ReturnType<typeof quantizeWeights>>>();
  for (const bits of candidates) whole.set(bits, await quantizeWeights(model, { ...base, bits }));
  const weights = whole.get(candidates[0]!)!.report.weights;
  if (!weights.length) throw new QuantizationError('mixed precision: the model has no weight to quantize');
  const bytesOf = (name: string, bits: number) => whole.get(bits)!.report.weights.find((w) => w.name === name)!.bytesAfter;

  // Sensitivity: each weight alone at each width, the others left float.
  const baseline = await measure(model);
  const layers: LayerPrecision[] = [];
  let done = 0;
  const total = weights.length * candidates.length;
  for (const w of weights) {
    const others = weights.filter((x) => x.name !== w.name).map((x) => x.name);
    const metrics: number[] = [];
    for (const bits of candidates) {
      const alone = await quantizeWeights(model, { ...base, bits, exclude: [...(base.exclude ?? []), ...others] });
      metrics.push(await measure(alone.model));
      options.onProgress?.(++done, total);
    }
    layers.push({ weight: w.name, node: w.node, metrics, bytes: candidates.map((b) => bytesOf(w.name, b)), bitsChosen: candidates[candidates.length - 1]! });
  }

  // Greedy narrowing from the widest width until the prediction fits.
  const widest = modelBytes(whole.get(candidates[candidates.length - 1]!)!.model);
  const choice = layers.map(() => candidates.length - 1);
  let predicted = widest;
  while (predicted > options.sizeBudget) {
    let best = -1, bestCost = Infinity;
    layers.forEach((l, i) => {
      const c = choice[i]!;
      if (c === 0) return;
      const saved = l.bytes[c]! - l.bytes[c - 1]!;
      if (saved <= 0) return;
      // Metric lost per byte saved (a width that does not hurt costs nothing); ties go to the larger saving.
      const cost = Math.max(0, l.metrics[c]! - l.metrics[c - 1]!) / saved - saved * 1e-15;
      if (cost < bestCost) { bestCost = cost; best = i; }
    });
    if (best < 0) {
      throw new QuantizationError(`size budget ${options.sizeBudget} bytes is out of reach: every layer at ${candidates[0]} bits still takes about ${predicted} bytes`);
    }
    const c = choice[best]!;
    predicted -= layers[best]!.bytes[c]! - layers[best]!.bytes[c - 1]!;
    choice[best] = c - 1;
  }
  layers.forEach((l, i) => { l.bitsChosen = candidates[choice[i]!]!; });
  const bitsByWeight = Object.fromEntries(layers.map((l) => [l.weight, l.bitsChosen]));
  const result = await quantizeWeights(model, { ...base, bits: candidates[candidates.length - 1]!, bitsByWeight });
  return {
    model: result.model,
    report: { candidates, baseline, sizeBudget: options.sizeBudget, predictedBytes: predicted, bytes: modelBytes(result.model), layers },
  };
}
