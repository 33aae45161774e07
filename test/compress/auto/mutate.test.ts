import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MutationError, crossover, mutate, predicted } from '../../../src/compress/auto/mutate.js';
import type { LayerOptions } from '../../../src/compress/auto/types.js';
import { seededRandom } from '../../../src/runtime/inputs.js';

/** Layers with the given numbers of choices; choice k of layer i costs 10 - k and drops k / 10 (layer 'fixed' has one). */
function layersOf(counts: number[]): LayerOptions[] {
  return counts.map((count, i) => ({
    layer: `l${i}`,
    choices: Array.from({ length: count }, (_, k) => ({ value: k, cost: 10 - k, drop: k / 10 })),
  }));
}

test('the same seed gives the same mutations; another seed gives others', () => {
  const layers = layersOf([5, 5, 5, 5, 5, 5, 5, 5]);
  const start = [2, 2, 2, 2, 2, 2, 2, 2];
  const run = (seed: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: 50 }, () => mutate(start, layers, random, { rate: 0.3 }));
  };
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(3), run(4));
});

test('picks stay inside their layers, move at most maxStep, and at least one moves', () => {
  const layers = layersOf([1, 2, 3, 6, 10, 1]);
  const random = seededRandom(11);
  let picks = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 2000; i++) {
    const maxStep = 1 + (i % 3);
    const rate = [0, 0.2, 1][i % 3]!;
    const next = mutate(picks, layers, random, { rate, maxStep });
    let changed = 0;
    next.forEach((k, layer) => {
      const count = layers[layer]!.choices.length;
      assert.ok(Number.isInteger(k) && k >= 0 && k < count, `layer ${layer}: ${k} of ${count}`);
      assert.ok(Math.abs(k - picks[layer]!) <= maxStep);
      if (k !== picks[layer]) changed++;
    });
    assert.ok(changed >= 1, 'nothing moved');
    if (rate === 0) assert.equal(changed, 1, 'rate 0 moves exactly the one forced layer');
    if (rate === 1) assert.equal(changed, 4, 'rate 1 moves every layer with a choice to make');
    assert.equal(next[0], 0);
    assert.equal(next[5], 0);
    picks = next;
  }
});

test('every index within reach is drawn, including near the ends; the input is not modified', () => {
  const layers = layersOf([5]);
  const random = seededRandom(5);
  const reached = (from: number, maxStep: number) => {
    const seen = new Set<number>();
    const picks = [from];
    for (let i = 0; i < 400; i++) seen.add(mutate(picks, layers, random, { maxStep })[0]!);
    assert.deepEqual(picks, [from]);
    return [...seen].sort();
  };
  assert.deepEqual(reached(0, 2), [1, 2]);
  assert.deepEqual(reached(2, 2), [0, 1, 3, 4]);
  assert.deepEqual(reached(4, 1), [3]);
  assert.deepEqual(reached(1, 10), [0, 2, 3, 4]);
});

test('layers with a single choice each: nothing can move, the picks come back unchanged', () => {
  assert.deepEqual(mutate([0, 0], layersOf([1, 1]), seededRandom(1)), [0, 0]);
  assert.deepEqual(mutate([], [], seededRandom(1)), []);
});

test('crossover takes each gene from one parent, both parents contribute, and it is deterministic', () => {
  const a = Array.from({ length: 64 }, () => 0);
  const b = Array.from({ length: 64 }, () => 1);
  const child = crossover(a, b, seededRandom(9));
  assert.deepEqual(child, crossover(a, b, seededRandom(9)));
  assert.ok(child.every((gene, i) => gene === a[i] || gene === b[i]));
  const fromA = child.filter((gene) => gene === 0).length;
  assert.ok(fromA > 16 && fromA < 48, `${fromA} of 64 from a`);
  const mixed = crossover([0, 1, 2, 3], [4, 5, 6, 7], seededRandom(2));
  mixed.forEach((gene, i) => assert.ok(gene === i || gene === i + 4));
  assert.throws(() => crossover([0], [0, 1], seededRandom(1)), MutationError);
});

test('predicted sums cost and drop, counting negative drops as 0; bad picks are refused', () => {
  const layers: LayerOptions[] = [
    { layer: 'conv1', choices: [{ value: 0, cost: 100, drop: 0 }, { value: 0.5, cost: 50, drop: -0.1 }] },
    { layer: 'fc', choices: [{ value: 0, cost: 40, drop: 0 }, { value: 8, cost: 10, drop: 0.25 }, { value: 4, cost: 5, drop: 0.75 }] },
  ];
  assert.deepEqual(predicted([1, 1], layers), { cost: 60, drop: 0.25 });
  assert.deepEqual(predicted([0, 2], layers), { cost: 105, drop: 0.75 });
  assert.throws(() => predicted([0, 3], layers), /fc.*3/);
  assert.throws(() => predicted([0], layers), MutationError);
  assert.throws(() => mutate([0, 0], layers, seededRandom(1), { maxStep: 0 }), /maxStep/);
  assert.throws(() => mutate([0, 0], layers, seededRandom(1), { rate: 2 }), /rate/);
});
