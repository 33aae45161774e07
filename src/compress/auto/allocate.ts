// Budgeted allocation: pick one choice per layer so the summed cost is smallest while the summed predicted drop
// stays within the budget (a multiple-choice knapsack). Drops are treated as additive; the search corrects that
// assumption by measuring the candidates this proposes.
//
// Solved exactly by dynamic programming over the drop discretized to a resolution. Each drop is rounded UP to
// whole steps, so an allocation that fits in steps also fits the real budget; the price is that an allocation
// using the last (under n steps) of the budget may be missed. When every drop is a multiple of the resolution the
// answer is the true optimum.
import { NnzipError } from '../../core/errors.js';
import type { Allocation, LayerOptions } from './types.js';

export class AllocationError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** An allocation with whether it meets its budget. */
export interface BudgetedAllocation extends Allocation {
  /**
   * False when no allocation fits the budget: the allocation is then the one with the smallest predicted drop
   * (the closest the layers can get), and its drop exceeds the budget.
   */
  feasible: boolean;
}

export interface AllocateOptions {
  /**
   * Drop step of the dynamic programme (points). Default: the budget over max(1000, 100 x layers), so rounding
   * costs at most 1% of the budget. allocateFront with a resolution solves all budgets from one table.
   */
  resolution?: number;
}

/** Drop as the budget counts it: a predicted improvement (negative drop, often measurement noise) counts as 0. */
export function budgetDrop(drop: number): number {
  return drop > 0 ? drop : 0;
}

/** Above this many table cells (layers x drop steps) a resolution is refused rather than exhausting memory. */
const MAX_TABLE_CELLS = 50_000_000;
/** Slack when converting drops to steps, so a drop that is a multiple of the resolution is not rounded up by float error. */
const STEP_SLACK = 1e-9;

/**
 * Choose one choice per layer minimizing the summed cost subject to the summed (non-negative) drop <= maxDrop.
 * Among equally cheap allocations the one with the smaller drop is returned. With no layers: an empty allocation.
 */
export function allocate(layers: LayerOptions[], maxDrop: number, options: AllocateOptions = {}): BudgetedAllocation {
  checkLayers(layers);
  checkBudget(maxDrop);
  if (options.resolution === undefined) return solveAlone(layers, maxDrop);
  return solveShared(layers, [maxDrop], checkResolution(options.resolution))[0]!;
}

/**
 * One allocation per budget, in the order given. With options.resolution every budget is answered from one
 * table; without it each budget is solved at its own default resolution (the same answer allocate gives).
 */
export function allocateFront(layers: LayerOptions[], budgets: number[], options: AllocateOptions = {}): BudgetedAllocation[] {
  checkLayers(layers);
  for (const budget of budgets) checkBudget(budget);
  if (options.resolution === undefined) return budgets.map((budget) => solveAlone(layers, budget));
  return solveShared(layers, budgets, checkResolution(options.resolution));
}

function checkLayers(layers: LayerOptions[]): void {
  for (const { layer, choices } of layers) {
    if (choices.length === 0) throw new AllocationError(`allocation: layer '${layer}' has no choices`);
    if (choices.length > 0xffff) throw new AllocationError(`allocation: layer '${layer}' has ${choices.length} choices (at most 65535)`);
    choices.forEach((choice, index) => {
      if (!Number.isFinite(choice.cost) || !Number.isFinite(choice.drop)) {
        throw new AllocationError(`allocation: layer '${layer}' choice ${index} has cost ${choice.cost} and drop ${choice.drop}; both must be finite numbers`);
      }
    });
  }
}

function checkBudget(maxDrop: number): void {
  if (Number.isNaN(maxDrop)) throw new AllocationError('allocation: the drop budget is NaN');
}

function checkResolution(resolution: number): number {
  if (!(resolution > 0) || !Number.isFinite(resolution)) {
    throw new AllocationError(`allocation: resolution must be a positive finite number, got ${resolution}`);
  }
  return resolution;
}

function solveAlone(layers: LayerOptions[], maxDrop: number): BudgetedAllocation {
  const resolution = maxDrop > 0 && Number.isFinite(maxDrop) ? maxDrop / Math.max(1000, 100 * layers.length) : 1;
  return solveShared(layers, [maxDrop], resolution)[0]!;
}

/** Solve every budget from one table of the cheapest cost per exact number of drop steps. */
function solveShared(layers: LayerOptions[], budgets: number[], resolution: number): BudgetedAllocation[] {
  const results: BudgetedAllocation[] = new Array(budgets.length);
  const maxSlack = maxDrop(layers);
  // Budgets the layers cannot exceed need no table: each layer takes its cheapest choice.
  const constrained: number[] = [];
  budgets.forEach((budget, index) => {
    if (budget >= maxSlack) results[index] = cheapest(layers);
    else constrained.push(index);
  });
  if (constrained.length === 0) return results;

  const stepsOf = (budget: number): number => (budget < 0 ? -1 : Math.floor(budget / resolution + STEP_SLACK));
  const topSteps = Math.max(...constrained.map((index) => stepsOf(budgets[index]!)));
  const table = topSteps >= 0 ? buildTable(layers, resolution, topSteps) : undefined;
  for (const index of constrained) {
    const budget = budgets[index]!;
    const found = table ? bestWithin(table, layers, stepsOf(budget)) : undefined;
    if (found) {
      results[index] = found;
    } else {
      // Nothing fits in whole steps; the smallest-drop allocation may still fit the real budget.
      const closest = smallestDrop(layers);
      results[index] = { ...closest, feasible: closest.drop <= budget };
    }
  }
  return results;
}

interface Table {
  /** cheapest[s]: cheapest cost over all layers using exactly s steps (Infinity when none does). */
  cheapest: Float64Array;
  /** picks[layer * width + s]: the choice of that layer on the cheapest path ending at s steps after it. */
  picks: Uint16Array;
  /** steps[layer][choice]: the choice's drop in steps, rounded up (Infinity when it alone exceeds the table). */
  steps: number[][];
  width: number;
}

function buildTable(layers: LayerOptions[], resolution: number, topSteps: number): Table {
  const width = topSteps + 1;
  if (layers.length * width > MAX_TABLE_CELLS) {
    throw new AllocationError(
      `allocation: resolution ${resolution} needs ${layers.length} x ${width} table cells (over ${MAX_TABLE_CELLS}); use a coarser resolution`,
    );
  }
  const steps = layers.map(({ choices }) =>
    choices.map(({ drop }) => {
      const s = Math.max(0, Math.ceil(budgetDrop(drop) / resolution - STEP_SLACK));
      return s < width ? s : Infinity;
    }),
  );
  let cheapest = new Float64Array(width).fill(Infinity);
  cheapest[0] = 0;
  const picks = new Uint16Array(layers.length * width);
  layers.forEach(({ choices }, layer) => {
    const next = new Float64Array(width).fill(Infinity);
    const row = layer * width;
    const layerSteps = steps[layer]!;
    for (let s = 0; s < width; s++) {
      const base = cheapest[s]!;
      if (base === Infinity) continue;
      for (let k = 0; k < choices.length; k++) {
        const to = s + layerSteps[k]!;
        if (!(to < width)) continue;
        const cost = base + choices[k]!.cost;
        if (cost < next[to]!) {
          next[to] = cost;
          picks[row + to] = k;
        }
      }
    }
    cheapest = next;
  });
  return { cheapest, picks, steps, width };
}

/** The cheapest allocation within maxSteps (fewest steps among equal costs), or undefined when none fits. */
function bestWithin(table: Table, layers: LayerOptions[], maxSteps: number): BudgetedAllocation | undefined {
  let bestSteps = -1;
  let bestCost = Infinity;
  for (let s = 0; s <= maxSteps && s < table.width; s++) {
    const cost = table.cheapest[s]!;
    // A relative tolerance, so sums of the same costs in another order count as a tie (and fewer steps win).
    if (cost === Infinity) continue;
    if (bestSteps < 0 || cost < bestCost - 1e-12 * Math.abs(bestCost)) {
      bestCost = cost;
      bestSteps = s;
    }
  }
  if (bestSteps < 0) return undefined;
  const picks: number[] = new Array(layers.length);
  let s = bestSteps;
  for (let layer = layers.length - 1; layer >= 0; layer--) {
    const k = table.picks[layer * table.width + s]!;
    picks[layer] = k;
    s -= table.steps[layer]![k]!;
  }
  return { ...summarize(picks, layers), feasible: true };
}

function summarize(picks: number[], layers: LayerOptions[]): Allocation {
  let cost = 0;
  let drop = 0;
  picks.forEach((k, layer) => {
    const choice = layers[layer]!.choices[k]!;
    cost += choice.cost;
    drop += budgetDrop(choice.drop);
  });
  return { picks, cost, drop };
}

/** The largest drop any allocation can have. */
function maxDrop(layers: LayerOptions[]): number {
  let total = 0;
  for (const { choices } of layers) total += Math.max(...choices.map((c) => budgetDrop(c.drop)));
  return total;
}

/** Each layer's cheapest choice (smaller drop among equal costs): the answer when the budget does not bind. */
function cheapest(layers: LayerOptions[]): BudgetedAllocation {
  const picks = layers.map(({ choices }) => argBest(choices.map((c) => [c.cost, budgetDrop(c.drop)] as const)));
  return { ...summarize(picks, layers), feasible: true };
}

/** Each layer's smallest-drop choice (cheaper among equal drops). */
function smallestDrop(layers: LayerOptions[]): Allocation {
  const picks = layers.map(({ choices }) => argBest(choices.map((c) => [budgetDrop(c.drop), c.cost] as const)));
  return summarize(picks, layers);
}

/** Index of the lexicographically smallest (primary, secondary) pair; the first on a full tie. */
function argBest(keys: (readonly [number, number])[]): number {
  let best = 0;
  keys.forEach(([primary, secondary], index) => {
    const [bestPrimary, bestSecondary] = keys[best]!;
    if (primary < bestPrimary || (primary === bestPrimary && secondary < bestSecondary)) best = index;
  });
  return best;
}
