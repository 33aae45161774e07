// Low-rank factorization: truncated SVD of Gemm/MatMul weights and Tucker-2 or spatial decomposition of convolutions,
// as one pass (lowRank) or each on its own. A factorized model is an ordinary model: fine-tune it with trainModel.
import { Model } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import { LowRankOptions, LowRankResult, checkOptions, checkPatterns, refusedLayers, totals } from './plan.js';
import { factorizeLayers, linearCandidates } from './svd.js';
import { ConvMethod, checkIterations, convCandidates, decomposeLayers } from './tucker.js';

export { energyRank, keptEnergy, matrix, multiply, multiplyTransposed, rowGram, svd, symmetricEigen, transpose } from './linalg.js';
export type { Eigen, Matrix, Svd, VectorCount } from './linalg.js';
export { LowRankError, checkChoice } from './plan.js';
export type { LayerRankRule, LowRankLayerReport, LowRankMethod, LowRankOptions, LowRankReport, LowRankResult, RankChoice, RefusedLayer } from './plan.js';
export { factorizeLinear } from './svd.js';
export { decomposeConv } from './tucker.js';
export type { ConvDecompositionOptions, ConvMethod } from './tucker.js';

export interface LowRankPassOptions extends LowRankOptions {
  /** How convolutions are decomposed; 'none' (the default) leaves them alone. */
  conv?: ConvMethod | 'none';
  /** Tucker-2: HOOI sweeps refining the factors (default 0). */
  iterations?: number;
}

/**
 * Factorizes Gemm/MatMul layers by SVD and, unless `conv` is 'none', decomposes convolutions; one report for both.
 * Layer patterns and exclusions must match some layer of a kind being factorized. The input model is not modified.
 */
export function lowRank(model: Model, options: LowRankPassOptions): LowRankResult {
  const global = checkOptions(options);
  checkIterations(options.iterations);
  const conv = options.conv ?? 'none';
  const out = constantsToInitializers(model);
  const linear = linearCandidates(out.graph);
  const convs = conv === 'none' ? [] : convCandidates(out.graph);
  checkPatterns(options, [...linear, ...convs].map((f) => f.candidate), conv === 'none' ? 'Gemm/MatMul layer' : 'Gemm/MatMul/Conv layer');
  const layers = factorizeLayers(out, linear, options, global);
  if (conv !== 'none') layers.push(...decomposeLayers(out, convs, { ...options, method: conv }, global));
  return { model: out, report: { layers, refused: refusedLayers([...linear, ...convs]), total: totals(layers) } };
}
