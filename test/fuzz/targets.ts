// Every fuzz target, by name: the test files (test/fuzz/*.test.ts) and the long benchmark (bench/fuzz.bench.ts) run these.
import { csvTarget } from './targets/csv.js';
import { externalDataTarget } from './targets/external-data.js';
import { idxTarget } from './targets/idx.js';
import { imagesTarget } from './targets/images.js';
import { nnzPayloadTarget, nnzTarget } from './targets/nnz.js';
import { npyTarget } from './targets/npy.js';
import { onnxTarget } from './targets/onnx.js';
import { recipeTarget } from './targets/recipe.js';
import type { FuzzTarget } from './target.js';

export const FUZZ_TARGETS: readonly FuzzTarget<never>[] = [
  onnxTarget, externalDataTarget, nnzTarget, nnzPayloadTarget, recipeTarget, npyTarget, idxTarget, imagesTarget, csvTarget,
] as unknown as FuzzTarget<never>[];

export function fuzzTarget(name: string): FuzzTarget<unknown> {
  const t = FUZZ_TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown fuzz target '${name}' (known: ${FUZZ_TARGETS.map((x) => x.name).join(', ')})`);
  return t as unknown as FuzzTarget<unknown>;
}
