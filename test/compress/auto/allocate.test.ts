import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocationError, allocate, allocateFront } from '../../../src/compress/auto/allocate.js';
import type { LayerOptions } from '../../../src/compress/auto/types.js';
import { seededRandom } from '../../../src/runtime/inputs.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** Every combination of picks, the cheapest within the budget (negative drops count as 0). */
function bruteForce(layers: LayerOptions[], maxDrop: number): { cost: number; drop: number } | undefined {
  let best: { cost: number; drop: number } | undefined;
  const visit = (layer: number, cost: number, drop: number): void => {
    if (drop > maxDrop + 1e-12) return;
    if (layer === layers.length) {
      if (!best || cost < best.cost) best = { cost, drop };
      return;
    }
    for (const choice of layers[layer]!.choices) visit(layer + 1, cost + choice.cost, drop + Math.max(0, choice.drop));
  };
  visit(0, 0, 0);
  return best;
}

/** Recompute an allocation's cost and drop from its picks, independently of the allocator's bookkeeping. */
function recount(layers: LayerOptions[], picks: number[]): { cost: number; drop: number } {
  assert.equal(picks.length, layers.length);
  let cost = 0;
  let drop = 0;
  picks.forEach((k, i) => {
    const choice = layers[i]!.choices[k];
    assert.ok(choice, `layer ${i} pick ${k} out of range`);
    cost += choice.cost;
    drop += Math.max(0, choice.drop);
  });
  return { cost, drop };
}

/**
 * A synthetic pruning cost model: layer i has params[i] weights; sparsity s keeps params (1 - s) at a drop of
 * sensitivity * s^2 (so choices[0], sparsity 0, costs everything and drops nothing). With onGrid the drops are
 * whole hundredths, so a 0.01 resolution solves them exactly.
 */
function syntheticLayers(seed: number, count: number, sparsities: number[], onGrid: boolean): LayerOptions[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const params = 100 + Math.floor(random() * 900);
    const sensitivity = 0.05 + random() * 0.6;
    return {
      layer: `layer${i}`,
      choices: sparsities.map((s) => {
        const drop = sensitivity * s * s + (s > 0 ? random() * 0.05 : 0);
        return { value: s, cost: Math.round(params * (1 - s)), drop: onGrid ? Math.round(drop * 100) / 100 : drop };
      }),
    };
  });
}

test('matches brute force on random 6x4 instances whose drops are whole steps (exact)', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const layers = syntheticLayers(seed, 6, [0, 0.5, 0.75, 0.9], true);
    for (const maxDrop of [0, 0.05, 0.2, 0.5, 1, 1.5]) {
      const expected = bruteForce(layers, maxDrop)!;
      const got = allocate(layers, maxDrop, { resolution: 0.01 });
      assert.equal(got.feasible, true);
      close(got.cost, expected.cost);
      const counted = recount(layers, got.picks);
      close(got.cost, counted.cost);
      close(got.drop, counted.drop);
      assert.ok(got.drop <= maxDrop + 1e-9, `seed ${seed} budget ${maxDrop}: drop ${got.drop}`);
    }
  }
});

test('with the default resolution and arbitrary drops: never over budget, and within the rounding of the optimum', () => {
  for (let seed = 100; seed < 110; seed++) {
    const layers = syntheticLayers(seed, 6, [0, 0.3, 0.6, 0.9], false);
    for (const maxDrop of [0.03, 0.1, 0.25, 0.6]) {
      const got = allocate(layers, maxDrop);
      const counted = recount(layers, got.picks);
      close(got.cost, counted.cost);
      assert.ok(counted.drop <= maxDrop, `seed ${seed} budget ${maxDrop}: drop ${counted.drop}`);
      // Rounding each drop up by under one step (budget / 1000 here) loses at most 6 steps of the budget.
      const optimum = bruteForce(layers, maxDrop)!;
      const optimumShrunk = bruteForce(layers, maxDrop - (6 * maxDrop) / 1000)!;
      assert.ok(got.cost >= optimum.cost - 1e-9, `below the optimum: ${got.cost} < ${optimum.cost}`);
      assert.ok(got.cost <= optimumShrunk.cost + 1e-9, `worse than the shrunk-budget optimum: ${got.cost} > ${optimumShrunk.cost}`);
    }
  }
});

test('finds the optimum where greedy by saving per drop does not', () => {
  // Greedy takes b's compression first (saves 1.1 for 0.05 drop, ratio 22, against a's 10 for 1.0, ratio 10),
  // and then a's no longer fits: 10 + 8.9 = 18.9. Compressing only a costs 0 + 10 = 10.
  const layers: LayerOptions[] = [
    { layer: 'a', choices: [{ value: 0, cost: 10, drop: 0 }, { value: 0.9, cost: 0, drop: 1.0 }] },
    { layer: 'b', choices: [{ value: 0, cost: 10, drop: 0 }, { value: 0.5, cost: 8.9, drop: 0.05 }] },
  ];
  const greedy = greedyByRatio(layers, 1.0);
  close(greedy.cost, 18.9);
  const got = allocate(layers, 1.0);
  assert.deepEqual(got.picks, [1, 0]);
  close(got.cost, 10);
  close(got.drop, 1.0);
  assert.equal(got.feasible, true);
});

/** The usual heuristic: from the untouched picks, repeatedly take the move with the best saving per added drop that fits. */
function greedyByRatio(layers: LayerOptions[], maxDrop: number): { cost: number; picks: number[] } {
  const picks = layers.map(() => 0);
  let drop = 0;
  for (;;) {
    let best: { layer: number; k: number; ratio: number } | undefined;
    layers.forEach(({ choices }, layer) => {
      const current = choices[picks[layer]!]!;
      choices.forEach((choice, k) => {
        const saving = current.cost - choice.cost;
        const added = choice.drop - current.drop;
        if (saving <= 0 || added <= 0 || drop + added > maxDrop) return;
        if (!best || saving / added > best.ratio) best = { layer, k, ratio: saving / added };
      });
    });
    if (!best) break;
    drop += layers[best.layer]!.choices[best.k]!.drop - layers[best.layer]!.choices[picks[best.layer]!]!.drop;
    picks[best.layer] = best.k;
  }
  return { picks, cost: recount(layers, picks).cost };
}

test('infeasible budget: the smallest-drop allocation, marked infeasible', () => {
  const layers: LayerOptions[] = [
    { layer: 'a', choices: [{ value: 1, cost: 5, drop: 0.5 }, { value: 2, cost: 9, drop: 0.3 }, { value: 3, cost: 7, drop: 0.3 }] },
    { layer: 'b', choices: [{ value: 1, cost: 1, drop: 0.9 }, { value: 2, cost: 4, drop: 0.4 }] },
  ];
  const got = allocate(layers, 0.5);
  assert.equal(got.feasible, false);
  assert.deepEqual(got.picks, [2, 1]); // drop 0.3 (the cheaper of the two), drop 0.4
  close(got.drop, 0.7);
  close(got.cost, 11);
  // A zero and a negative budget with positive drops everywhere: the same.
  assert.deepEqual(allocate(layers, 0).picks, [2, 1]);
  assert.equal(allocate(layers, -1).feasible, false);
  // Just enough budget: feasible, and the same picks are the only fit.
  const exact = allocate(layers, 0.7);
  assert.equal(exact.feasible, true);
  assert.deepEqual(exact.picks, [2, 1]);
});

test('a budget met exactly by drops off the step grid is still found feasible', () => {
  // Default resolution 0.75/1000: 0.25 and 0.5 are 333.3 and 666.7 steps, rounded up to 1001 together, so the
  // table alone misses the only fit (a's cheaper setting plus either of b's exceeds the budget).
  const layers: LayerOptions[] = [
    { layer: 'a', choices: [{ value: 1, cost: 2, drop: 0.25 }, { value: 2, cost: 1, drop: 0.5 }] },
    { layer: 'b', choices: [{ value: 1, cost: 3, drop: 0.5 }, { value: 2, cost: 2, drop: 0.6 }] },
  ];
  const got = allocate(layers, 0.75);
  assert.equal(got.feasible, true);
  assert.deepEqual(got.picks, [0, 0]);
});

test('negative drops count as 0, so they do not pay for other layers', () => {
  const layers: LayerOptions[] = [
    { layer: 'a', choices: [{ value: 0, cost: 10, drop: 0 }, { value: 0.5, cost: 5, drop: -0.2 }] },
    { layer: 'b', choices: [{ value: 0, cost: 10, drop: 0 }, { value: 0.9, cost: 2, drop: 0.4 }] },
  ];
  // Credited, -0.2 + 0.4 = 0.2 would fit 0.3 at cost 7; counted as 0 only a's setting fits.
  const got = allocate(layers, 0.3);
  assert.deepEqual(got.picks, [1, 0]);
  close(got.cost, 15);
  assert.equal(got.drop, 0);
  close(allocate(layers, 0.4).cost, 7);
});

test('no layers: an empty allocation; a slack or infinite budget: each layer\'s cheapest choice', () => {
  assert.deepEqual(allocate([], 0.5), { picks: [], cost: 0, drop: 0, feasible: true });
  const layers = syntheticLayers(7, 5, [0, 0.5, 0.9], false);
  const cheapest = layers.map(({ choices }) => choices.reduce((best, c, k) => (c.cost < choices[best]!.cost ? k : best), 0));
  assert.deepEqual(allocate(layers, Infinity).picks, cheapest);
  assert.deepEqual(allocate(layers, 100).picks, cheapest);
});

test('equal costs: the smaller drop wins', () => {
  const layers: LayerOptions[] = [
    { layer: 'a', choices: [{ value: 0, cost: 4, drop: 0.2 }, { value: 1, cost: 4, drop: 0.1 }, { value: 2, cost: 6, drop: 0 }] },
  ];
  assert.deepEqual(allocate(layers, 0.5).picks, [1]);
  assert.deepEqual(allocate(layers, 0.15).picks, [1]);
});

test('bad input: a layer without choices, a non-finite drop, a bad resolution', () => {
  assert.throws(() => allocate([{ layer: 'conv1', choices: [] }], 1), (e: unknown) => e instanceof AllocationError && /conv1/.test(e.message));
  assert.throws(() => allocate([{ layer: 'fc', choices: [{ value: 0, cost: 1, drop: NaN }] }], 1), /fc.*finite/);
  assert.throws(() => allocate([{ layer: 'fc', choices: [{ value: 0, cost: 1, drop: 0.5 }] }], NaN), /NaN/);
  assert.throws(() => allocate(syntheticLayers(1, 2, [0, 0.5], false), 1, { resolution: 0 }), /resolution/);
  assert.throws(() => allocate(syntheticLayers(1, 20, [0, 0.5], false), 1, { resolution: 1e-9 }), /coarser/);
});

test('allocateFront: one table answers every budget as brute force does; without a resolution it equals allocate', () => {
  const budgets = [1.2, 0, 0.1, 0.35, 0.8, 5, -0.1];
  for (let seed = 20; seed < 25; seed++) {
    const layers = syntheticLayers(seed, 6, [0, 0.5, 0.75, 0.9], true);
    const front = allocateFront(layers, budgets, { resolution: 0.01 });
    assert.equal(front.length, budgets.length);
    front.forEach((got, i) => {
      const expected = bruteForce(layers, budgets[i]!);
      if (!expected) {
        assert.equal(got.feasible, false);
        return;
      }
      assert.equal(got.feasible, true);
      close(got.cost, expected.cost);
      assert.ok(got.drop <= budgets[i]! + 1e-9);
    });
    assert.deepEqual(allocateFront(layers, budgets), budgets.map((b) => allocate(layers, b)));
  }
});

test('100 layers x 10 choices: the known optimum of a linear cost model', () => {
  // Layer i saves weight[i] per 0.01 of drop, up to 9 steps. Spending steps on the largest weights first is then
  // optimal; choices are shuffled so the indices carry no order.
  const random = seededRandom(42);
  const weights = Array.from({ length: 100 }, () => 1 + Math.floor(random() * 1000));
  const layers: LayerOptions[] = weights.map((weight, i) => {
    const choices = Array.from({ length: 10 }, (_, k) => ({ value: k, cost: weight * (9 - k), drop: k / 100 }));
    for (let j = choices.length - 1; j > 0; j--) {
      const r = Math.floor(random() * (j + 1));
      [choices[j], choices[r]] = [choices[r]!, choices[j]!];
    }
    return { layer: `l${i}`, choices };
  });
  const total = weights.reduce((a, w) => a + 9 * w, 0);
  for (const steps of [0, 1, 137, 450, 899, 900]) {
    const sorted = [...weights].sort((a, b) => b - a);
    let remaining = steps;
    let saved = 0;
    for (const w of sorted) {
      const take = Math.min(9, remaining);
      saved += take * w;
      remaining -= take;
    }
    const got = allocate(layers, steps / 100, { resolution: 0.01 });
    close(got.cost, total - saved);
    close(got.drop, recount(layers, got.picks).drop);
    assert.ok(got.drop <= steps / 100 + 1e-9);
  }
  // The default resolution (budget / 10000 here) stays within its 1% rounding of the optimum.
  const got = allocate(layers, 4.5);
  const sorted = [...weights].sort((a, b) => b - a);
  const savedAt = (steps: number) => sorted.reduce((acc, w, i) => acc + Math.min(9, Math.max(0, steps - 9 * i)) * w, 0);
  assert.ok(got.drop <= 4.5);
  assert.ok(got.cost >= total - savedAt(450) - 1e-6 && got.cost <= total - savedAt(445) + 1e-6, `${got.cost}`);
});
