// Fuzzing recipe parsing: mutated JSON and YAML recipes and recipe-shaped objects; then, by hand, documents that
// refer to themselves, alias bombs, and nesting deep enough to exhaust the parsers' stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecipeError, parseRecipe, validateRecipe } from '../../src/recipe/schema.js';
import { assertRefusedFast, fuzzTest } from './suite.js';

fuzzTest('recipe');

test('recipe: documents that contain themselves, or name inherited properties as stages, are refused with a message, not a TypeError', () => {
  assertRefusedFast(() => parseRecipe('&a [*a]', 'r.yaml'), RecipeError, /^r\.yaml: \(recipe\): expected an object with 'stages', got \["\[cycle\]"\]$/);
  assertRefusedFast(() => parseRecipe('stages: &s [{stage: prune, sparsity: 0.5, layers: *s}]', 'r.yaml'), RecipeError, /^r\.yaml: stages\[0\]\.layers: expected a map from layer name pattern to value, got \[\{"stage":"prune","sparsity":0\.5,"lay\.\.\.$/);
  assertRefusedFast(() => parseRecipe('stages: [{stage: constructor}, {stage: __proto__}]', 'r.yaml'), RecipeError, /^r\.yaml: stages\[0\]\.stage: unknown stage "constructor"; known: optimize, prune/);
  const cyclic: Record<string, unknown> = { stages: [] };
  (cyclic.stages as unknown[]).push(cyclic);
  assertRefusedFast(() => validateRecipe(cyclic), RecipeError, /^stages\[0\]\.stage: missing/);
});

test('recipe: alias bombs and nesting thousands deep are refused quickly', () => {
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${new Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  assertRefusedFast(() => parseRecipe(`${laughs.join('\n')}\nstages: *i\n`, 'bomb.yaml'), RecipeError, /^bomb\.yaml: not valid YAML: .*alias/i, { maxMs: 2000 });
  for (const [text, file] of [['['.repeat(100_000) + ']'.repeat(100_000), 'r.json'], ['{"stages":[' + '['.repeat(100_000) + ']'.repeat(100_000) + ']}', 'r.json'], ['['.repeat(100_000), 'r.yaml']]) {
    assertRefusedFast(() => parseRecipe(text, file), RecipeError, /: not a recipe: brackets nested more than 64 deep$/);
  }
  assertRefusedFast(() => parseRecipe(`${'- '.repeat(50_000)}x`, 'r.yaml'), RecipeError, /^r\.yaml: not a recipe: a line indented by more than 256 characters$/);
  // Nesting that recipes do use still parses.
  assert.equal(parseRecipe('{"stages": [{"stage": "prune", "sparsity": 0.5, "layers": {"fc*": 0.25}}]}', 'ok.json').stages.length, 1);
});
