// Per-layer pruning sensitivity: each prunable layer pruned alone (magnitude) at several sparsities, the rest of
// the model untouched, and the model measured each time. Layers whose metric falls fast deserve lower sparsity.
import { Model } from '../../core/ir.js';
import { prunableWeights } from './masks.js';
import { pruneUnstructured } from './unstructured.js';

/** What a measurement returns: the metric (higher is better), or the metric with other figures recorded beside it. */
export type Measurement = number | { value: number; extras?: Record<string, number> };

export interface SensitivityLayer {
  /** The weight pruned, and the node that reads it. */
  weight: string;
  node: string;
  params: number;
  /** Metric after pruning this layer alone, per sparsity (same order as `sparsities`). */
  metrics: number[];
  /** Other figures the measurement returned, by name, per sparsity (e.g. cosine and SQNR beside top-1 agreement). */
  extras?: Record<string, number[]>;
}

export interface SensitivityReport {
  /** What the metric is ('accuracy', 'top1-agreement', ...), when the caller named it. */
  metric?: string;
  sparsities: number[];
  /** The metric of the unpruned model. */
  baseline: number;
  /** The extras of the unpruned model. */
  baselineExtras?: Record<string, number>;
  layers: SensitivityLayer[];
}

export interface SensitivityOptions {
  /** Recorded in the report. */
  metric?: string;
  onProgress?: (done: number, total: number) => void;
}

const valueOf = (m: Measurement) => (typeof m === 'number' ? m : m.value);
const extrasOf = (m: Measurement) => (typeof m === 'number' ? undefined : m.extras);

/**
 * Prunes every prunable layer alone at each sparsity and measures the model with `measure` (e.g. test accuracy).
 * The pattern given to the pruner is the weight's exact name, so only that layer changes. The last argument is
 * the options, or (as before) just a progress callback.
 */
export async function layerSensitivity(
  model: Model, sparsities: readonly number[], measure: (m: Model) => Promise<Measurement>,
  options: SensitivityOptions | SensitivityOptions['onProgress'] = {},
): Promise<SensitivityReport> {
  const { metric, onProgress } = typeof options === 'function' ? { metric: undefined, onProgress: options } : options;
  const weights = prunableWeights(model);
  const base = await measure(model);
  const layers: SensitivityLayer[] = [];
  let done = 0;
  for (const w of weights) {
    const metrics: number[] = [];
    const extras: Record<string, number[]> = {};
    for (const [i, s] of sparsities.entries()) {
      const { model: pruned } = pruneUnstructured(model, { sparsity: 0, method: 'magnitude', overrides: [{ pattern: w.name, sparsity: s }] });
      const m = await measure(pruned);
      metrics.push(valueOf(m));
      for (const [k, v] of Object.entries(extrasOf(m) ?? {})) (extras[k] ??= new Array<number>(sparsities.length).fill(NaN))[i] = v;
      onProgress?.(++done, weights.length * sparsities.length);
    }
    layers.push({ weight: w.name, node: w.node, params: w.dims.reduce((a, b) => a * b, 1), metrics, ...(Object.keys(extras).length ? { extras } : {}) });
  }
  const baselineExtras = extrasOf(base);
  return { ...(metric ? { metric } : {}), sparsities: [...sparsities], baseline: valueOf(base), ...(baselineExtras ? { baselineExtras } : {}), layers };
}
