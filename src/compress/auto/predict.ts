// The cheap predictor of the search: per-layer choices with a cost under the objective and a predicted accuracy
// drop, from per-layer sensitivity measured without fine-tuning (each layer changed alone). Drops without
// fine-tuning overstate what a fine-tuned model loses, so the search treats them as a ranking and scales the budget;
// every candidate it reports is measured for real.
import { Model } from '../../core/ir.js';
import { prunableWeights } from '../prune/masks.js';
import { pruneUnstructured } from '../prune/unstructured.js';
import { clusterWeights } from '../share/cluster.js';
import { analyzeChannels } from '../structured/dependency.js';
import { countMacs, pruneChannels } from '../structured/prune.js';
import { LayerOptions } from './types.js';

/** Accuracy in [0, 1] of a model on the search's validation data. */
export type Evaluate = (m: Model) => Promise<number>;

export interface SizeChoice { sparsity: number; bits: number }

/** Sparsities and bit widths the size search offers every layer. */
export const SIZE_SPARSITIES = [0, 0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.98];
export const SIZE_BITS = [8, 6, 5, 4, 3, 2];

/** Binary entropy in bits. */
function entropy(p: number): number {
  return p <= 0 || p >= 1 ? 0 : -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/**
 * Predicted bytes of one layer in the .nnz container after pruning to `sparsity` and clustering to `bits`: every kept
 * weight costs its cluster index plus the entropy of the mask per kept weight (what relative indices with entropy
 * coding approach), plus a float32 codebook. Against the packed layers in docs/deep-compression.md: within 3% for
 * the large ones (lenet-300-100 fc1, fc2; lenet-5 fc1).
 */
export function predictedLayerBytes(params: number, sparsity: number, bits: number): number {
  const density = 1 - sparsity;
  const kept = params * density;
  const maskBitsPerKept = density > 0 ? entropy(density) / density : 0;
  return (kept * (bits + maskBitsPerKept)) / 8 + 4 * 2 ** bits;
}

export interface PredictorProgress { done: number; total: number }

export interface SizePredictor {
  layers: LayerOptions[];
  /** What each choice index means, per layer (same order as `layers`). */
  settings: SizeChoice[][];
  /** Weight (initializer) names, per layer: the keys of the recipe's per-layer maps. */
  weights: string[];
  baseline: number;
}

/**
 * Size search: each prunable layer pruned alone at every sparsity (magnitude) and clustered alone at every bit width,
 * measured; a choice (sparsity, bits) predicts the sum of the two drops.
 */
export async function sizePredictor(model: Model, evaluate: Evaluate, options: { sparsities?: number[]; bits?: number[]; onProgress?: (p: PredictorProgress) => void } = {}): Promise<SizePredictor> {
  const sparsities = options.sparsities ?? SIZE_SPARSITIES;
  const bitsList = options.bits ?? SIZE_BITS;
  const weights = prunableWeights(model);
  const baseline = await evaluate(model);
  const total = weights.length * (sparsities.filter((s) => s > 0).length + bitsList.length);
  let done = 0;
  const step = () => options.onProgress?.({ done: ++done, total });
  const layers: LayerOptions[] = [];
  const settings: SizeChoice[][] = [];
  for (const w of weights) {
    const params = w.dims.reduce((a, b) => a * b, 1);
    const pruneDrop = new Map<number, number>();
    for (const s of sparsities) {
      if (s === 0) { pruneDrop.set(0, 0); continue; }
      const { model: pruned } = pruneUnstructured(model, { sparsity: 0, method: 'magnitude', overrides: [{ pattern: w.name, sparsity: s }] });
      pruneDrop.set(s, 100 * (baseline - await evaluate(pruned)));
      step();
    }
    const clusterDrop = new Map<number, number>();
    for (const b of bitsList) {
      const others = weights.filter((o) => o.name !== w.name).map((o) => o.name);
      const { model: clustered } = clusterWeights(model, { bits: b, exclude: others, format: 'dense' });
      clusterDrop.set(b, 100 * (baseline - await evaluate(clustered)));
      step();
    }
    const choices = [];
    const layerSettings: SizeChoice[] = [];
    for (const s of sparsities) {
      for (const b of bitsList) {
        choices.push({ value: s, cost: predictedLayerBytes(params, s, b), drop: Math.max(0, pruneDrop.get(s)!) + Math.max(0, clusterDrop.get(b)!) });
        layerSettings.push({ sparsity: s, bits: b });
      }
    }
    layers.push({ layer: w.node, choices });
    settings.push(layerSettings);
  }
  return { layers, settings, weights: weights.map((w) => w.name), baseline };
}

/** Channel ratios the latency/MACs search offers every channel group. */
export const CHANNEL_RATIOS = [0, 0.25, 0.375, 0.5, 0.625, 0.75];

export interface ChannelPredictor {
  layers: LayerOptions[];
  /** The channel ratio of each choice, per group. */
  ratios: number[][];
  /** A pattern naming each group: its first producer's label (the recipe's `layers` key). */
  patterns: string[];
  baseline: number;
}

/**
 * Latency and MACs search: each prunable channel group pruned alone (L1 norm, channels rounded to `channelMultiple`)
 * at every ratio. The cost is the model's MACs with that group alone pruned, minus the full model's (an additive
 * model of the saving); latency is assumed to follow MACs for ranking, and every candidate's latency is measured.
 */
export async function channelPredictor(model: Model, evaluate: Evaluate, options: { ratios?: number[]; channelMultiple?: number; onProgress?: (p: PredictorProgress) => void } = {}): Promise<ChannelPredictor> {
  const ratios = options.ratios ?? CHANNEL_RATIOS;
  const groups = analyzeChannels(model).groups.filter((g) => g.prunable);
  const baseline = await evaluate(model);
  const fullMacs = countMacs(model);
  const total = groups.length * ratios.filter((r) => r > 0).length;
  let done = 0;
  const layers: LayerOptions[] = [];
  const patterns: string[] = [];
  for (const g of groups) {
    const pattern = g.producers[0]!;
    const choices = [];
    for (const r of ratios) {
      if (r === 0) { choices.push({ value: 0, cost: 0, drop: 0 }); continue; }
      const { model: pruned } = pruneChannels(model, { ratio: 0, overrides: [{ pattern, ratio: r }], channelMultiple: options.channelMultiple });
      // Cost: the MACs this group's choice leaves, as a negative saving relative to the full model.
      choices.push({ value: r, cost: countMacs(pruned) - fullMacs, drop: Math.max(0, 100 * (baseline - await evaluate(pruned))) });
      options.onProgress?.({ done: ++done, total });
    }
    layers.push({ layer: g.producers.join('+'), choices });
    patterns.push(pattern);
  }
  return { layers, ratios: layers.map((l) => l.choices.map((c) => c.value)), patterns, baseline };
}
