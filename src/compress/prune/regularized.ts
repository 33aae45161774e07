// Penalty-driven criteria: training with an L1 penalty pushes unimportant parameters toward zero, and the pruner then
// thresholds them. On the weights themselves this is L1-regularization-driven pruning; on BatchNorm scales it is network
// slimming (Liu et al. 2017), whose small gammas mark the channels to remove.
import { Model } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import { FitResult } from '../../train/trainer.js';
import { PruneError } from './masks.js';
import { FineTuneOptions, trainModel } from './schedules.js';

export interface PenaltyOptions extends FineTuneOptions {
  /** λ of the penalty λ·Σ|p| added to the loss. */
  strength: number;
  /** Parameters the penalty applies to (initializer names). */
  params: string[];
}

/** Trains every parameter, with λ·Σ|p| over `params` added to the loss; returns the trained inference model. */
export async function trainWithL1Penalty(model: Model, options: PenaltyOptions): Promise<{ model: Model; fit: FitResult }> {
  if (!(options.strength > 0) || !Number.isFinite(options.strength)) throw new PruneError(`the L1 penalty strength must be a positive number, got ${options.strength}`);
  if (!options.params.length) throw new PruneError('the L1 penalty applies to no parameter');
  // Exact names, not patterns: a name with '*' must not widen the penalty.
  return trainModel(model, { regularizers: [{ kind: 'l1', weight: options.strength, params: options.params.map(escapePattern) }] }, options);
}

/** The pattern syntax only knows '*'; no parameter name needs escaping unless it contains one. */
function escapePattern(name: string): string {
  if (name.includes('*')) throw new PruneError(`parameter '${name}' has a '*' in its name, which the penalty's name patterns cannot express`);
  return name;
}

/** Names of the BatchNormalization scales (gamma) of a model, the parameters network slimming penalizes. */
export function batchNormScales(model: Model): string[] {
  const m = constantsToInitializers(model);
  const names = m.graph.nodes
    .filter((n) => n.opType === 'BatchNormalization' && n.domain === '' && m.graph.initializers.has(n.inputs[1] ?? ''))
    .map((n) => n.inputs[1]!);
  return [...new Set(names)];
}

/** Mean |p| over the named parameters: what the penalty drives down (reported before and after). */
export function meanAbs(model: Model, params: readonly string[]): number {
  const m = constantsToInitializers(model);
  let sum = 0, count = 0;
  for (const name of params) {
    const t = m.graph.initializers.get(name);
    if (!t) continue;
    for (const v of t.toFloat32()) sum += Math.abs(v);
    count += t.size;
  }
  return count ? sum / count : 0;
}
