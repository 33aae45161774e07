import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RecipeError, parseRecipe, validateRecipe } from '../../src/recipe/schema.js';

/** The one-line message a broken recipe gives. */
function problem(recipe: unknown): string {
  try {
    validateRecipe(recipe);
  } catch (e) {
    assert.ok(e instanceof RecipeError, `expected a RecipeError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return e.message;
  }
  assert.fail('the recipe was accepted');
}

test('broken recipes name the path of the bad field', () => {
  assert.equal(problem({ stages: [{ stage: 'optimize' }, { stage: 'prune', sparsity: 0.5 }, { stage: 'cluster', bits: 20 }] }),
    'stages[2].bits: expected a whole number from 1 to 16, got 20');
  assert.equal(problem({ stages: [{ stage: 'prune', sparsity: 1.2 }] }), 'stages[0].sparsity: expected a number in [0, 1), got 1.2');
  assert.equal(problem({ stages: [{ stage: 'prune', sparsity: '0.5' }] }), 'stages[0].sparsity: expected a number in [0, 1), got "0.5"');
  assert.match(problem({ stages: [{ stage: 'squeeze' }] }), /^stages\[0\]\.stage: unknown stage "squeeze"; known: optimize, prune, /);
  assert.equal(problem({ stages: [{ stage: 'cluster', bitz: 5 }] }), 'stages[0].bitz: unknown field');
  assert.equal(problem({ stages: [{ stage: 'quantize', mode: 'int3' }] }),
    "stages[0].mode: expected one of 'weight', 'dynamic', 'static', 'fp16', 'bf16', 'preset', got \"int3\"");
  assert.match(problem({ stages: [{ stage: 'finetune', lr: 0.1 }] }), /^stages\[0\]\.epochs: missing/);
  assert.equal(problem({ stages: [{ stage: 'cluster', layers: { 'fc*': 5, 'fc3': 0 } }] }), 'stages[0].layers.fc3: expected a whole number from 1 to 16, got 0');
  assert.equal(problem({ stages: [] }), 'stages: expected at least one stage, got []');
  assert.equal(problem({ stagez: [] }), 'stagez: unknown field');
  assert.equal(problem({ stages: [{ stage: 'pack' }, { stage: 'optimize' }] }), 'stages[0]: pack writes the final .nnz artifact, so it must be the last stage');
  assert.equal(problem({ stages: [{ stage: 'lowrank', energy: 0.9, rankRatio: 0.5 }] }), 'stages[0].rankRatio: give energy or rankRatio, not both');
  assert.equal(problem({ stages: [{ stage: 'quantize', mode: 'dynamic', bits: 4 }] }), "stages[0].bits: mode 'dynamic' has a fixed bit width; bits are for mode 'weight'");
  assert.equal(problem({ stages: [{ stage: 'prune', schedule: 'iterative:0', sparsity: 0.5 }] }),
    "stages[0].schedule: expected 'oneshot', 'iterative:K' (K >= 1), 'agp', 'scratch', 'set' or 'rigl', got \"iterative:0\"");
});

test('JSON and YAML recipes parse to the same stages; errors start with the file name', () => {
  const json = parseRecipe('{"name": "x", "stages": [{"stage": "prune", "sparsity": 0.8, "layers": {"fc3*": 0.5}}, {"stage": "pack"}]}', 'x.json');
  const yaml = parseRecipe('name: x\nstages:\n  - stage: prune\n    sparsity: 0.8\n    layers:\n      "fc3*": 0.5\n  - stage: pack\n', 'x.yaml');
  assert.deepEqual(json, yaml);
  assert.deepEqual(json.stages[0], { stage: 'prune', sparsity: 0.8, layers: { 'fc3*': 0.5 } });
  assert.throws(() => parseRecipe('stages:\n  - stage: cluster\n    bits: 20\n', 'r.yaml'), { message: 'r.yaml: stages[0].bits: expected a whole number from 1 to 16, got 20' });
  assert.throws(() => parseRecipe('{"stages": [', 'r.json'), (e: Error) => e instanceof RecipeError && /^r\.json: not valid JSON: /.test(e.message));
});

test('every example recipe in recipes/ validates', () => {
  const dir = 'recipes';
  const files = readdirSync(dir).filter((f) => /\.(json|ya?ml)$/.test(f));
  assert.ok(files.length >= 3);
  for (const name of ['deep-compression-lenet-300-100', 'web', 'latency']) assert.ok(files.some((f) => f.startsWith(`${name}.`)), name);
  for (const f of files) {
    const recipe = parseRecipe(readFileSync(join(dir, f), 'utf8'), f);
    assert.ok(recipe.stages.length > 0, f);
  }
});
