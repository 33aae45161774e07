// Recipe files (src/recipe/schema.ts parseRecipe, validateRecipe): mutated JSON and YAML texts of the shipped recipes
// and of recipes using every stage, with YAML and JSON syntax tokens inserted (anchors, aliases, tags, documents,
// odd numbers); and recipe-shaped objects from fast-check with known and unknown fields, odd values and cycles
// (YAML aliases can make a document refer to itself).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { RecipeError, STAGE_NAMES, parseRecipe, validateRecipe } from '../../../src/recipe/schema.js';
import { FIXTURES } from '../../fixtures/fixtures.js';
import { type MutatedBytes, type Seed, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

const RECIPES = join(FIXTURES, '..', '..', 'recipes');

/** Recipes that use every stage and most fields, valid as a whole. */
const EVERY_STAGE = {
  name: 'every stage',
  description: 'fuzz seed',
  stages: [
    { stage: 'optimize', foldBatchNorm: true, removeIdentity: false },
    { stage: 'prune', sparsity: 0.5, method: 'nm', nm: '2:4', scope: 'global', layers: { 'fc*': 0.25 }, schedule: 'iterative:3', finetuneEpochs: 1, lr: 0.01, lrSchedule: 'cosine' },
    { stage: 'prune', blocks: 1, blockCriterion: 'l1', method: 'l1-reg', penaltyEpochs: 2, penalty: 0.0001, teacher: 'original', temperature: 4, alpha: 0.5 },
    { stage: 'finetune', epochs: 2, lr: 0.001, schedule: 'constant' },
    { stage: 'cluster', bits: 5, layers: { conv1: 8 }, init: 'density', sharing: 'layer', exclude: ['bias'], seed: 3 },
    { stage: 'hash', ratio: 0.125, exclude: ['fc3'], finetuneEpochs: 0 },
    { stage: 'lowrank', energy: 0.9, conv: 'tucker' },
    { stage: 'quantize', mode: 'weight', bits: 4, block: 32, symmetric: true, format: 'nbits' },
    { stage: 'distill', teacher: 'teacher.onnx', temperature: 2, alpha: 0.7, epochs: 1, lr: 0.01 },
    { stage: 'pack', minTensorBytes: 64 },
  ],
};
const STATIC = { stages: [{ stage: 'quantize', mode: 'static', calibMethod: 'entropy', calibSamples: 64, perChannel: true, exclude: ['head'] }] };

const TOKENS = [
  '&a ', '*a', '<<: *a\n', '!!binary ', '!!js/function ', '!!str ', '!!int ', '!!float ', '!!map ', '!!set ', '!custom ', '? ', '- ', '{', '}',
  '[', ']', ':', ': ', ',', '"', "'", '\n', '\r\n', '  ', '\t', '#', '---\n', '...\n', '%YAML 1.1\n', '%TAG ! tag:x,2000:\n', 'null', '~',
  'true', 'no', 'NaN', '.nan', '.inf', '-.inf', '1e309', '-1e309', '-0', '0x1F', '0o17', '0b101', '1_000', '2.5', '1e-400',
  '9007199254740993', '-1', '17', '__proto__', 'constructor', 'prototype', 'stage', 'stages', 'prune', 'quantize', 'pack', 'sparsity',
  'bits', 'layers', '"\\u0000"', '"\\ud800"', '\u2028', '\ufeff', '&x [*x]', '&y {k: *y}', '|\n  text\n', '>-\n  folded\n',
];

interface RecipeText extends MutatedBytes {
  fileName: string;
}

export type RecipeInput =
  | { kind: 'text'; text: RecipeText }
  | { kind: 'object'; value: unknown; cyclic: boolean };

function textSeeds(): (Seed & { fileName: string })[] {
  const enc = new TextEncoder();
  const seeds = readdirSync(RECIPES).filter((f) => /\.(json|ya?ml)$/.test(f)).sort()
    .map((f) => ({ name: f, fileName: f, bytes: readFileSync(join(RECIPES, f)) as Uint8Array }));
  seeds.push({ name: 'every-stage.json', fileName: 'every-stage.json', bytes: enc.encode(JSON.stringify(EVERY_STAGE, null, 2)) });
  // YAML parses slowly (about 1 ms per KiB once mutated): the stages in three short documents.
  for (const [i, stages] of [EVERY_STAGE.stages.slice(0, 3), EVERY_STAGE.stages.slice(3, 7), EVERY_STAGE.stages.slice(7)].entries()) {
    seeds.push({ name: `stages-${i}.yaml`, fileName: `stages-${i}.yaml`, bytes: enc.encode(toYaml({ stages })) });
  }
  seeds.push({ name: 'static.yaml', fileName: 'static.yaml', bytes: enc.encode(toYaml(STATIC)) });
  return seeds;
}

const FIELDS = [
  'stage', 'name', 'description', 'stages', 'sparsity', 'method', 'structured', 'merge', 'nm', 'scope', 'layers', 'skipFirst', 'skipLast',
  'schedule', 'finetuneEpochs', 'lr', 'lrSchedule', 'blocks', 'blockCriterion', 'penalty', 'penaltyEpochs', 'channelMultiple', 'seed',
  'teacher', 'temperature', 'alpha', 'epochs', 'bits', 'init', 'sharing', 'exclude', 'ratio', 'energy', 'rankRatio', 'conv', 'mode',
  'block', 'perChannel', 'symmetric', 'format', 'calibMethod', 'calibSamples', 'preset', 'minTensorBytes', 'foldBatchNorm',
  'foldConstants', 'removeIdentity', 'removeDropout', 'dedupeInitializers', 'removeUnused', 'sparsty', '__proto__', 'constructor', '',
];

const WORDS = [...STAGE_NAMES, 'magnitude', 'nm', 'global', 'layer', 'iterative:0', 'iterative:2', 'oneshot', 'agp', '2:4', '4:2', 'cosine', 'weight',
  'static', 'preset', 'q4', 'qdq', 'nbits', 'entropy', 'tucker', 'linear', 'original', 'fc*', '*', '', ' ', 'x'.repeat(200)];

const scalar = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5, 2, 4, 16, 17, 1e-300, 1e308, -0, 2 ** 53, 2 ** 53 + 2, Number.NaN, Infinity, -Infinity, 0.1 + 0.2),
  fc.double(), fc.integer(), fc.constantFrom(...WORDS), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null),
);

const value = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('value'), { maxLength: 4 }), tie('object')),
  object: fc.dictionary(fc.constantFrom(...FIELDS), tie('value'), { maxKeys: 5 }),
})).value;

const stage = fc.record({ stage: fc.oneof(fc.constantFrom(...STAGE_NAMES), scalar), rest: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }) })
  .map(({ stage: name, rest }) => ({ ...rest, stage: name }));

const recipeObject = fc.oneof(
  { arbitrary: fc.record({ stages: fc.array(fc.oneof({ arbitrary: stage, weight: 4 }, { arbitrary: value, weight: 1 }), { maxLength: 5 }), name: fc.option(scalar), description: fc.option(scalar) }, { requiredKeys: ['stages'] }), weight: 5 },
  { arbitrary: value, weight: 1 },
);

/** Makes a value refer to itself, as a YAML document with an alias to an enclosing anchor does. */
function makeCycle(v: unknown, where: number): unknown {
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const collect = (x: unknown, depth: number) => {
    if (x === null || typeof x !== 'object' || depth > 6) return;
    containers.push(x as Record<string, unknown>);
    for (const child of Object.values(x as object)) collect(child, depth + 1);
  };
  collect(v, 0);
  const target = containers[where % Math.max(1, containers.length)];
  if (!target) return v;
  if (Array.isArray(target)) target.push(v);
  else target.layers = v;
  return v;
}

function runRecipe(input: RecipeInput): void {
  if (input.kind === 'text') {
    parseRecipe(new TextDecoder().decode(input.text.bytes), input.text.fileName);
    return;
  }
  validateRecipe(input.value);
}

export const recipeTarget: FuzzTarget<RecipeInput> = {
  name: 'recipe',
  parsers: 'parseRecipe and validateRecipe (src/recipe/schema.ts): JSON and YAML recipe texts, recipe-shaped objects',
  open() {
    const seeds = textSeeds();
    const texts = fc.nat({ max: seeds.length - 1 }).chain((i) => mutatedBytes([seeds[i]!], { maxOps: 4, tokens: TOKENS })
      .map((m): RecipeInput => ({ kind: 'text', text: { ...m, fileName: seeds[i]!.fileName } })));
    const objects = fc.tuple(recipeObject, fc.oneof({ arbitrary: fc.constant(-1), weight: 4 }, { arbitrary: fc.nat({ max: 50 }), weight: 1 }))
      // A fresh copy per run: makeCycle edits the value in place, and fast-check may reuse it while shrinking.
      .map(([v, cycleAt]): RecipeInput => (cycleAt < 0 ? { kind: 'object', value: v, cyclic: false } : { kind: 'object', value: makeCycle(structuredClone(v), cycleAt), cyclic: true }));
    return {
      inputs: fc.oneof({ arbitrary: texts, weight: 3 }, { arbitrary: objects, weight: 1 }),
      seeds: [
        ...seeds.map((s): RecipeInput => ({ kind: 'text', text: { seed: s.name, ops: [], bytes: s.bytes, fileName: s.fileName } })),
        { kind: 'object', value: EVERY_STAGE, cyclic: false },
      ],
      run: runRecipe,
      expected: [RecipeError],
      bytesOf: (input) => (input.kind === 'text' ? input.text.bytes : new TextEncoder().encode(describeObject(input.value))),
      // A YAML document's tree: tens of bytes of objects per byte of text; aliases are capped by the yaml library.
      allocationBound: (input) => allocationBound(input.kind === 'text' ? input.text.bytes.length : 4096, 4096),
    };
  },
};

/** JSON text of a value for reports, with cycles shown as "[cycle]". */
export function describeObject(v: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (x === null || typeof x !== 'object') return x;
    if (seen.has(x)) return '[cycle]';
    seen.add(x);
    return x;
  }) ?? 'undefined';
}
