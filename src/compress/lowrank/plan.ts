// What low-rank factorization does to each layer: the options (kept energy, rank ratio or rank; per-layer rules by
// name pattern; exclusions; a minimum MAC saving), their checks, the rank a layer gets, and the report types that
// the linear (svd.ts) and convolution (tucker.ts) passes share.
import { NnzipError } from '../../core/errors.js';
import { Model } from '../../core/ir.js';
import { inferShapes, InferenceResult } from '../../core/shape/infer.js';
import { symbolicInputDims } from '../../core/stats.js';
import { matchesPattern } from '../../train/training-graph.js';
import { energyRank } from './linalg.js';

/** A factorization request that cannot be carried out: a bad energy or ratio, a rank too large, a pattern matching nothing. */
export class LowRankError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'LowRankError';
  }
}

/** How a layer's rank is chosen: exactly one of the three. */
export interface RankChoice {
  /** Keep this fraction of the sum of squared singular values, in (0, 1]. */
  energy?: number;
  /** rank = round(ratio · full rank), at least 1; ratio in (0, 1]. */
  rankRatio?: number;
  /** This rank (a positive whole number, at most the full rank). */
  rank?: number;
}

/** A per-layer rank choice; `pattern` ('*' matches anything) is matched against the node's and the weight's name. */
export interface LayerRankRule extends RankChoice {
  pattern: string;
}

export interface LowRankOptions extends RankChoice {
  /** Per-layer choices; the first matching rule wins over the model-wide choice. */
  layers?: LayerRankRule[];
  /** Layers (node or weight name patterns) left as they are. */
  exclude?: string[];
  /**
   * Factorize a layer only when its MACs drop by at least this fraction, in [0, 1) (default 0: any drop). Layers
   * whose factors would not be smaller (r(K+N) >= K·N) are never factorized.
   */
  minMacsSaved?: number;
  /** Factorize even layers whose factors save nothing (full-rank checks, experiments). Default false. */
  force?: boolean;
}

export type LowRankMethod = 'svd' | 'tucker' | 'spatial';

export interface LowRankLayerReport {
  /** The node as it was (its name, or its op and first output). */
  node: string;
  weight: string;
  opType: string;
  /** 'svd' for Gemm/MatMul and 1x1 convolutions, 'tucker' or 'spatial' for other convolutions. */
  method: LowRankMethod;
  /** The weight's dims as stored. */
  shape: number[];
  /** Chosen ranks: [r] for svd and spatial, [output rank, input rank] for tucker. */
  rank: number[];
  /** The largest ranks the weight allows, in the same order. */
  fullRank: number[];
  /** Fraction of the weight's sum of squares the factors keep (1: exact). */
  energy: number;
  paramsBefore: number;
  paramsAfter: number;
  /** For one run with symbolic input dims as 1; null when the shapes are not known. */
  macsBefore: number | null;
  macsAfter: number | null;
  factorized: boolean;
  /** Why a layer was left as it was. */
  reason?: string;
  /** The nodes that replaced it. */
  nodes: string[];
}

/** A Gemm/MatMul/Conv with a weight that cannot be factorized (weight not float32, grouped conv, ...). */
export interface RefusedLayer {
  node: string;
  opType: string;
  reason: string;
}

export interface LowRankReport {
  layers: LowRankLayerReport[];
  /** Layers that cannot be factorized whatever the options, with the reason. */
  refused: RefusedLayer[];
  /** Over every layer in the report (factorized or not): weight parameters and MACs of those layers. */
  total: { paramsBefore: number; paramsAfter: number; macsBefore: number | null; macsAfter: number | null; factorized: number };
}

export interface LowRankResult {
  model: Model;
  report: LowRankReport;
}

/** A layer the passes may factorize, named for pattern matching. */
export interface Candidate {
  names: string[];
  /** Set when the layer cannot be factorized whatever the options say; an exact-name rule for it is an error. */
  refusal?: string;
}

function checkFraction(value: number, what: string, allowOne = true): void {
  const ok = Number.isFinite(value) && value > 0 && (allowOne ? value <= 1 : value < 1);
  if (!ok) throw new LowRankError(`${what} ${value} is outside (0, 1${allowOne ? ']' : ')'}`);
}

/** Checks a choice has exactly one of energy, rankRatio, rank, each in range; `where` names it in errors. */
export function checkChoice(choice: RankChoice, where: string): RankChoice {
  const given = (['energy', 'rankRatio', 'rank'] as const).filter((k) => choice[k] !== undefined);
  if (given.length !== 1) throw new LowRankError(`${where}: give exactly one of energy, rank ratio or rank${given.length ? ` (got ${given.join(' and ')})` : ''}`);
  if (choice.energy !== undefined) checkFraction(choice.energy, `${where}: energy`);
  if (choice.rankRatio !== undefined) checkFraction(choice.rankRatio, `${where}: rank ratio`);
  if (choice.rank !== undefined && !(Number.isSafeInteger(choice.rank) && choice.rank >= 1)) {
    throw new LowRankError(`${where}: rank ${choice.rank} must be a positive whole number`);
  }
  return choice;
}

/** Validates the options; returns the model-wide choice (undefined when only per-layer rules are given). */
export function checkOptions(options: LowRankOptions): RankChoice | undefined {
  const global = options.energy !== undefined || options.rankRatio !== undefined || options.rank !== undefined
    ? checkChoice({ energy: options.energy, rankRatio: options.rankRatio, rank: options.rank }, 'low-rank factorization') : undefined;
  for (const rule of options.layers ?? []) checkChoice(rule, `layers '${rule.pattern}'`);
  if (!global && !options.layers?.length) throw new LowRankError('low-rank factorization: give an energy, a rank ratio or a rank (for the model or per layer)');
  const min = options.minMacsSaved ?? 0;
  if (!(Number.isFinite(min) && min >= 0 && min < 1)) throw new LowRankError(`minimum MAC saving ${min} is outside [0, 1)`);
  return global;
}

export const matchesAny = (names: string[], pattern: string) => names.some((n) => matchesPattern(n, pattern));

/**
 * Every layer pattern and exclusion must match a layer; a rule naming a layer exactly (no '*') that cannot be
 * factorized is refused with the reason.
 */
export function checkPatterns(options: LowRankOptions, candidates: Candidate[], what = 'layer'): void {
  const list = (cs: Candidate[]) => `${cs.slice(0, 8).map((c) => c.names[0]).join(', ')}${cs.length > 8 ? ', ...' : ''}`;
  const patterns = [...(options.layers ?? []).map((r) => ({ pattern: r.pattern, kind: 'layers' })), ...(options.exclude ?? []).map((p) => ({ pattern: p, kind: 'exclude' }))];
  for (const { pattern, kind } of patterns) {
    const matched = candidates.filter((c) => matchesAny(c.names, pattern));
    if (!matched.length) throw new LowRankError(`${kind} pattern '${pattern}' matches no ${what} (${candidates.length ? `${what}s: ${list(candidates)}` : `the model has no ${what}s to factorize`})`);
    if (kind === 'layers' && !pattern.includes('*')) {
      const refused = matched.find((c) => c.refusal);
      if (refused) throw new LowRankError(`layer '${refused.names[0]}': ${refused.refusal}`);
    }
  }
}

/** The choice for a layer: its first matching rule, else the model-wide one; 'excluded' or undefined (no choice). */
export function choiceFor(names: string[], options: LowRankOptions, global: RankChoice | undefined): RankChoice | 'excluded' | undefined {
  if ((options.exclude ?? []).some((p) => matchesAny(names, p))) return 'excluded';
  return (options.layers ?? []).find((r) => matchesAny(names, r.pattern)) ?? global;
}

/**
 * The rank a choice gives for a factor whose full rank is `full`, with its singular values (largest first; only read
 * for energy). An explicit rank above the full rank is an error naming the layer.
 */
export function rankFor(choice: RankChoice, full: number, values: ArrayLike<number> | undefined, layer: string, dims: string): number {
  if (choice.rank !== undefined) {
    if (choice.rank > full) throw new LowRankError(`layer '${layer}': rank ${choice.rank} is larger than its weight ${dims} allows (at most ${full})`);
    return choice.rank;
  }
  if (choice.rankRatio !== undefined) return Math.max(1, Math.min(full, Math.round(choice.rankRatio * full)));
  return Math.min(full, energyRank(values!, choice.energy!));
}

/** Shapes with symbolic input dims set to 1 (so MACs are per sample for a dynamic batch). */
export function concreteShapes(model: Model): InferenceResult {
  const dims = Object.fromEntries(symbolicInputDims(model).map((d) => [d, 1]));
  return inferShapes(model, { strict: false, dims });
}

/** A static shape from inference, or null. */
export function staticShape(shapes: InferenceResult, name: string): number[] | null {
  const s = shapes.values.get(name)?.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : null;
}

/** Whether a factorization from `before` to `after` MACs (or params when MACs are unknown) saves enough. */
export function savesEnough(before: number, after: number, minSaved: number): boolean {
  return after < before && after <= (1 - minSaved) * before;
}

/** The candidates that cannot be factorized, for the report. */
export function refusedLayers(found: { node: { label: string; opType: string }; candidate: Candidate }[]): RefusedLayer[] {
  return found.filter((f) => f.candidate.refusal).map((f) => ({ node: f.node.label, opType: f.node.opType, reason: f.candidate.refusal! }));
}

/** Sums a report's layers. */
export function totals(layers: LowRankLayerReport[]): LowRankReport['total'] {
  const sum = (f: (l: LowRankLayerReport) => number | null) => layers.reduce<number | null>((acc, l) => (acc === null || f(l) === null ? null : acc + f(l)!), 0);
  return {
    paramsBefore: layers.reduce((a, l) => a + l.paramsBefore, 0),
    paramsAfter: layers.reduce((a, l) => a + l.paramsAfter, 0),
    macsBefore: sum((l) => l.macsBefore),
    macsAfter: sum((l) => l.macsAfter),
    factorized: layers.filter((l) => l.factorized).length,
  };
}
