// Per-layer sparsities from a sensitivity report: reach a global target while every layer's predicted metric drop
// stays under one common threshold, so sensitive layers are pruned less and robust ones more.
import { Model } from '../../core/ir.js';
import { PruneError } from './masks.js';
import { Measurement, SensitivityOptions, SensitivityReport, layerSensitivity } from './sensitivity.js';
import { LayerOverride, checkSparsity } from './unstructured.js';

export interface AllocateOptions {
  /** No layer is pruned beyond this (default: the largest sparsity the report measured, which also caps it). */
  maxSparsity?: number;
}

export interface LayerAllocation {
  weight: string;
  node: string;
  params: number;
  sparsity: number;
  /** The metric the report predicts with this layer alone at `sparsity` (interpolated), and its drop from the baseline. */
  predictedMetric: number;
  predictedDrop: number;
}

export interface Allocation {
  target: number;
  /** Params-weighted sparsity over the report's layers (the target, to float precision). */
  sparsity: number;
  /** The common bound on every layer's predicted metric drop. */
  threshold: number;
  /** One override per layer, keyed by the exact weight name: PruneOptions.overrides. */
  overrides: LayerOverride[];
  layers: LayerAllocation[];
}

/** A layer's metric as a function of its sparsity: (0, baseline) then the measured points, made non-increasing. */
interface Curve {
  xs: number[];
  ys: number[];
  cap: number;
}

function curveOf(report: SensitivityReport, metrics: readonly number[], maxSparsity: number | undefined): Curve {
  const order = report.sparsities.map((s, i) => i).sort((a, b) => report.sparsities[a]! - report.sparsities[b]!);
  const xs = [0], ys = [report.baseline];
  for (const i of order) {
    const s = report.sparsities[i]!;
    if (s <= 0) continue;
    // A metric that rises with sparsity is noise: hold the lowest seen so far.
    const y = Math.min(ys[ys.length - 1]!, metrics[i]!);
    if (s === xs[xs.length - 1]) ys[ys.length - 1] = Math.min(ys[ys.length - 1]!, y);
    else { xs.push(s); ys.push(y); }
  }
  const largest = xs[xs.length - 1]!;
  return { xs, ys, cap: maxSparsity === undefined ? largest : Math.min(largest, maxSparsity) };
}

/** The curve's value at sparsity s (linear between points). */
function metricAt(c: Curve, s: number): number {
  for (let j = 1; j < c.xs.length; j++) {
    if (s <= c.xs[j]!) {
      const x0 = c.xs[j - 1]!, x1 = c.xs[j]!;
      return c.ys[j - 1]! + ((s - x0) / (x1 - x0)) * (c.ys[j]! - c.ys[j - 1]!);
    }
  }
  return c.ys[c.ys.length - 1]!;
}

/** The largest sparsity (up to the cap) whose metric stays >= level; 0 when even the first step falls below. */
function largestSparsityAbove(c: Curve, level: number): number {
  if (c.ys[0]! < level) return 0;
  for (let j = 1; j < c.xs.length; j++) {
    if (c.xs[j - 1]! >= c.cap) return c.cap;
    if (c.ys[j]! < level) {
      const x0 = c.xs[j - 1]!, x1 = c.xs[j]!, y0 = c.ys[j - 1]!, y1 = c.ys[j]!;
      return Math.min(c.cap, x0 + ((y0 - level) / (y0 - y1)) * (x1 - x0));
    }
  }
  return c.cap;
}

/**
 * Picks per-layer sparsities that reach `target` (a fraction of all the report's layers' weights) while keeping each
 * layer's predicted drop, baseline - metric, under the smallest common threshold t. Each layer takes the largest
 * sparsity whose interpolated metric stays >= baseline - t, capped at the largest measured sparsity (or
 * maxSparsity); t is bisected until the weighted sparsity reaches the target. Where one layer's sparsity jumps
 * (a flat stretch of its curve), the layers that jump are raised in report order, the last one fractionally, so the
 * weighted sparsity lands on the target exactly. Throws PruneError when the caps cannot reach the target.
 */
export function allocateSparsities(report: SensitivityReport, target: number, options: AllocateOptions = {}): Allocation {
  checkSparsity(target, 'target sparsity');
  if (options.maxSparsity !== undefined) checkSparsity(options.maxSparsity, 'maximum layer sparsity');
  for (const s of report.sparsities) checkSparsity(s, 'measured sparsity');
  if (!report.layers.length) throw new PruneError('the sensitivity report has no layers to allocate sparsities to');
  for (const l of report.layers) {
    if (l.metrics.length !== report.sparsities.length) throw new PruneError(`sensitivity of '${l.weight}' has ${l.metrics.length} metrics for ${report.sparsities.length} sparsities`);
    if (l.metrics.some((m) => !Number.isFinite(m))) throw new PruneError(`sensitivity of '${l.weight}' has a metric that is not a finite number`);
  }
  if (!Number.isFinite(report.baseline)) throw new PruneError(`the sensitivity report's baseline ${report.baseline} is not a finite number`);
  const curves = report.layers.map((l) => curveOf(report, l.metrics, options.maxSparsity));
  const params = report.layers.map((l) => l.params);
  const total = params.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new PruneError('the sensitivity report\'s layers hold no weights');
  const weighted = (s: number[]) => s.reduce((a, v, i) => a + v * params[i]!, 0) / total;
  const at = (t: number) => curves.map((c) => (t < 0 ? 0 : largestSparsityAbove(c, report.baseline - t)));

  const caps = curves.map((c) => c.cap);
  const reachable = weighted(caps);
  if (reachable < target - 1e-12) {
    const capText = options.maxSparsity !== undefined ? `each layer capped at the smaller of ${options.maxSparsity} and the largest measured sparsity` : `each layer capped at its largest measured sparsity, ${Math.max(...caps)}`;
    throw new PruneError(`target sparsity ${target} is out of reach: ${capText}, the layers allow at most ${reachable.toFixed(4)}; measure higher --sparsities`);
  }

  // The smallest t whose sparsities reach the target, bracketed by lo (below the target) and hi (at or above it).
  // t = -1 stands for "nothing pruned"; at t = 0 layers whose metric stays at the baseline are pruned already.
  let lo = -1;
  let hi = Math.max(0, ...curves.map((c) => report.baseline - metricAt(c, c.cap)));
  if (weighted(at(0)) >= target) hi = 0;
  else {
    lo = 0;
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      if (mid <= lo || mid >= hi) break;
      if (weighted(at(mid)) >= target) hi = mid; else lo = mid;
    }
  }
  // Between lo and hi some layers move up; raise them in order until the target is met exactly.
  const low = at(lo), high = at(hi);
  const sparsities = [...low];
  let missing = (target - weighted(low)) * total;
  for (let i = 0; i < sparsities.length && missing > 0; i++) {
    const room = (high[i]! - low[i]!) * params[i]!;
    if (room <= 0) continue;
    const take = Math.min(room, missing);
    sparsities[i] = low[i]! + take / params[i]!;
    missing -= take;
  }

  const layers = report.layers.map((l, i): LayerAllocation => {
    const predictedMetric = metricAt(curves[i]!, sparsities[i]!);
    return { weight: l.weight, node: l.node, params: l.params, sparsity: sparsities[i]!, predictedMetric, predictedDrop: Math.max(0, report.baseline - predictedMetric) };
  });
  return {
    target,
    sparsity: weighted(sparsities),
    threshold: hi,
    overrides: layers.map((l) => ({ pattern: l.weight, sparsity: l.sparsity })),
    layers,
  };
}

export interface SensitivityAllocation extends Allocation {
  report: SensitivityReport;
}

/**
 * Measures each layer's sensitivity (layerSensitivity at `sparsities`, with `measure`) and allocates per-layer
 * sparsities for the global `target`; `overrides` goes straight into PruneOptions.overrides.
 */
export async function sensitivityOverrides(
  model: Model, target: number, sparsities: readonly number[], measure: (m: Model) => Promise<Measurement>,
  options: AllocateOptions & SensitivityOptions = {},
): Promise<SensitivityAllocation> {
  checkSparsity(target, 'target sparsity');
  const report = await layerSensitivity(model, sparsities, measure, { metric: options.metric, onProgress: options.onProgress });
  return { ...allocateSparsities(report, target, { maxSparsity: options.maxSparsity }), report };
}
