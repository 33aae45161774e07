// Evolutionary refinement over allocations: small moves of a few layers' choices, uniform crossover, and the
// additive prediction of what a set of picks costs and drops. The random source is passed in (seededRandom from
// runtime/inputs gives a reproducible one), so a search with a seed repeats itself.
import { NnzipError } from '../../core/errors.js';
import { budgetDrop } from './allocate.js';
import type { LayerOptions } from './types.js';

/** Uniform numbers in [0, 1). */
export type Random = () => number;

export class MutationError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'MutationError';
  }
}

export interface MutateOptions {
  /** Probability that each layer moves. Default 1 / layers, so about one layer moves (at least one always does). */
  rate?: number;
  /** Largest move of a choice index, in either direction. Default 2. */
  maxStep?: number;
}

/**
 * A copy of picks with a few layers moved by 1..maxStep choice indices up or down, staying inside each layer's
 * choices. At least one pick changes whenever some layer has more than one choice.
 */
export function mutate(picks: readonly number[], layers: LayerOptions[], random: Random, options: MutateOptions = {}): number[] {
  checkPicks(picks, layers);
  const rate = options.rate ?? 1 / Math.max(1, layers.length);
  const maxStep = options.maxStep ?? 2;
  if (!(rate >= 0 && rate <= 1)) throw new MutationError(`mutate: rate must be in [0, 1], got ${rate}`);
  if (!Number.isInteger(maxStep) || maxStep < 1) throw new MutationError(`mutate: maxStep must be an integer >= 1, got ${maxStep}`);

  const movable = layers.flatMap(({ choices }, layer) => (choices.length > 1 ? [layer] : []));
  const result = picks.slice();
  let moved = false;
  for (const layer of movable) {
    if (random() < rate) {
      result[layer] = moveOne(picks[layer]!, layers[layer]!.choices.length, maxStep, random);
      moved = true;
    }
  }
  if (!moved && movable.length > 0) {
    const layer = movable[Math.floor(random() * movable.length)]!;
    result[layer] = moveOne(picks[layer]!, layers[layer]!.choices.length, maxStep, random);
  }
  return result;
}

/** A different index within maxStep of pick and inside [0, count), uniformly among those. */
function moveOne(pick: number, count: number, maxStep: number, random: Random): number {
  const low = Math.max(0, pick - maxStep);
  const high = Math.min(count - 1, pick + maxStep);
  // Draw among the high - low other indices in range, skipping pick itself.
  const draw = low + Math.floor(random() * (high - low));
  return draw >= pick ? draw + 1 : draw;
}

/** Uniform crossover: each layer's pick comes from a or b with equal chance. */
export function crossover(a: readonly number[], b: readonly number[], random: Random): number[] {
  if (a.length !== b.length) throw new MutationError(`crossover: parents have ${a.length} and ${b.length} picks`);
  return a.map((pick, layer) => (random() < 0.5 ? pick : b[layer]!));
}

/** The summed cost and predicted drop of picks (negative drops count as 0, as in the allocation's budget). */
export function predicted(picks: readonly number[], layers: LayerOptions[]): { cost: number; drop: number } {
  checkPicks(picks, layers);
  let cost = 0;
  let drop = 0;
  picks.forEach((pick, layer) => {
    const choice = layers[layer]!.choices[pick]!;
    cost += choice.cost;
    drop += budgetDrop(choice.drop);
  });
  return { cost, drop };
}

function checkPicks(picks: readonly number[], layers: LayerOptions[]): void {
  if (picks.length !== layers.length) throw new MutationError(`picks: ${picks.length} picks for ${layers.length} layers`);
  picks.forEach((pick, layer) => {
    const { layer: name, choices } = layers[layer]!;
    if (!Number.isInteger(pick) || pick < 0 || pick >= choices.length) {
      throw new MutationError(`picks: layer '${name}' pick ${pick} is outside its ${choices.length} choices`);
    }
  });
}
