// Recipe files: a list of compression stages with their options, validated against a schema whose errors name the
// path of the bad field in one line (`stages[2].bits: expected a whole number from 1 to 16, got 20`).
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NnzipError } from '../core/errors.js';

export class RecipeError extends NnzipError {
  constructor(message: string, readonly path?: string) {
    super(message);
    this.name = 'RecipeError';
  }
}

function num(min: number, max: number, options: { int?: boolean; minExclusive?: boolean; maxExclusive?: boolean } = {}) {
  const kind = options.int ? 'a whole number' : 'a number';
  const range = options.minExclusive && options.maxExclusive ? `in (${min}, ${max})`
    : options.minExclusive ? `in (${min}, ${max}]` : options.maxExclusive ? `in [${min}, ${max})`
      : max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`;
  const error = `expected ${kind} ${range}`;
  let s = z.number({ error });
  if (options.int) s = s.int({ error });
  s = options.minExclusive ? s.gt(min, { error }) : s.gte(min, { error });
  if (max !== Infinity) s = options.maxExclusive ? s.lt(max, { error }) : s.lte(max, { error });
  return s;
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.map((v) => `'${v}'`).join(', ')}` });
}

const str = () => z.string({ error: 'expected a string' });
const bool = () => z.boolean({ error: 'expected true or false' });
const patterns = () => z.array(str(), { error: 'expected a list of name patterns' });
/** Per-layer values by name pattern ('*' matches anything). */
const byPattern = <T extends z.ZodType>(value: T) => z.record(z.string(), value, { error: 'expected a map from layer name pattern to value' });

const sparsity = () => num(0, 1, { maxExclusive: true });
const epochs = () => num(0, Infinity, { int: true });
const lr = () => num(0, Infinity, { minExclusive: true });
const fraction = () => num(0, 1, { minExclusive: true });
const LR_SCHEDULE = oneOf(['constant', 'cosine']);
const PRUNE_SCHEDULE = z.string({ error: 'expected a schedule' })
  .regex(/^(oneshot|agp|scratch|set|rigl|iterative:[1-9]\d*)$/, { error: "expected 'oneshot', 'iterative:K' (K >= 1), 'agp', 'scratch', 'set' or 'rigl'" });

const optimizeStage = z.strictObject({
  stage: z.literal('optimize'),
  foldBatchNorm: bool().optional(),
  foldConstants: bool().optional(),
  removeIdentity: bool().optional(),
  removeDropout: bool().optional(),
  dedupeInitializers: bool().optional(),
  removeUnused: bool().optional(),
});

const pruneStage = z.strictObject({
  stage: z.literal('prune'),
  sparsity: sparsity().optional(),
  method: oneOf(['magnitude', 'random', 'taylor', 'l1-reg', 'nm', 'l1-norm', 'l2-norm', 'bn-slim', 'fpgm']).optional(),
  structured: bool().optional(),
  merge: bool().optional(),
  nm: z.string({ error: "expected an N:M pattern such as '2:4'" }).regex(/^\d+:\d+$/, { error: "expected an N:M pattern such as '2:4'" }).optional(),
  scope: oneOf(['layer', 'global']).optional(),
  layers: byPattern(sparsity()).optional(),
  skipFirst: bool().optional(),
  skipLast: bool().optional(),
  schedule: PRUNE_SCHEDULE.optional(),
  finetuneEpochs: epochs().optional(),
  lr: lr().optional(),
  lrSchedule: LR_SCHEDULE.optional(),
  blocks: num(1, Infinity, { int: true }).optional(),
  blockCriterion: oneOf(['bn-scale', 'l1']).optional(),
  penalty: lr().optional(),
  penaltyEpochs: epochs().optional(),
  channelMultiple: num(1, Infinity, { int: true }).optional(),
  seed: num(0, Infinity, { int: true }).optional(),
  /** Distill while fine-tuning: 'original' (the recipe's input model) or a teacher file. */
  teacher: str().optional(),
  temperature: lr().optional(),
  alpha: num(0, 1).optional(),
});

const finetuneStage = z.strictObject({
  stage: z.literal('finetune'),
  epochs: num(1, Infinity, { int: true }),
  lr: lr(),
  schedule: LR_SCHEDULE.optional(),
});

const bits = () => num(1, 16, { int: true });
const clusterStage = z.strictObject({
  stage: z.literal('cluster'),
  bits: bits().optional(),
  layers: byPattern(bits()).optional(),
  init: oneOf(['linear', 'density', 'random']).optional(),
  sharing: oneOf(['layer', 'global']).optional(),
  exclude: patterns().optional(),
  finetuneEpochs: epochs().optional(),
  lr: lr().optional(),
  lrSchedule: LR_SCHEDULE.optional(),
  seed: num(0, Infinity, { int: true }).optional(),
});

const hashStage = z.strictObject({
  stage: z.literal('hash'),
  ratio: num(0, 1, { minExclusive: true }),
  layers: byPattern(num(0, 1, { minExclusive: true })).optional(),
  exclude: patterns().optional(),
  finetuneEpochs: epochs().optional(),
  lr: lr().optional(),
  seed: num(0, Infinity, { int: true }).optional(),
});

const lowrankStage = z.strictObject({
  stage: z.literal('lowrank'),
  energy: fraction().optional(),
  rankRatio: fraction().optional(),
  layers: byPattern(fraction()).optional(),
  exclude: patterns().optional(),
  conv: oneOf(['none', 'tucker', 'spatial']).optional(),
  finetuneEpochs: epochs().optional(),
  lr: lr().optional(),
});

const quantizeStage = z.strictObject({
  stage: z.literal('quantize'),
  mode: oneOf(['weight', 'dynamic', 'static', 'fp16', 'bf16', 'preset']),
  bits: num(2, 8, { int: true }).optional(),
  block: z.union([z.literal(16), z.literal(32), z.literal(64), z.literal(128), z.literal(256)], { error: 'expected a block size of 16, 32, 64, 128 or 256' }).optional(),
  perChannel: bool().optional(),
  symmetric: bool().optional(),
  format: oneOf(['qdq', 'nbits']).optional(),
  calibMethod: oneOf(['minmax', 'percentile', 'entropy', 'mse']).optional(),
  calibSamples: num(1, Infinity, { int: true }).optional(),
  exclude: patterns().optional(),
  preset: oneOf(['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4']).optional(),
});

const distillStage = z.strictObject({
  stage: z.literal('distill'),
  teacher: str().optional(),
  temperature: lr().optional(),
  alpha: num(0, 1).optional(),
  epochs: num(1, Infinity, { int: true }),
  lr: lr(),
  schedule: LR_SCHEDULE.optional(),
});

const packStage = z.strictObject({
  stage: z.literal('pack'),
  minTensorBytes: num(1, Infinity, { int: true }).optional(),
});

const STAGE_SCHEMAS = {
  optimize: optimizeStage, prune: pruneStage, finetune: finetuneStage, cluster: clusterStage, hash: hashStage,
  lowrank: lowrankStage, quantize: quantizeStage, distill: distillStage, pack: packStage,
} as const;

export type StageName = keyof typeof STAGE_SCHEMAS;
export const STAGE_NAMES = Object.keys(STAGE_SCHEMAS) as StageName[];

export type OptimizeStage = z.infer<typeof optimizeStage>;
export type PruneStage = z.infer<typeof pruneStage>;
export type FinetuneStage = z.infer<typeof finetuneStage>;
export type ClusterStage = z.infer<typeof clusterStage>;
export type HashStage = z.infer<typeof hashStage>;
export type LowrankStage = z.infer<typeof lowrankStage>;
export type QuantizeStage = z.infer<typeof quantizeStage>;
export type DistillStage = z.infer<typeof distillStage>;
export type PackStage = z.infer<typeof packStage>;
export type Stage = OptimizeStage | PruneStage | FinetuneStage | ClusterStage | HashStage | LowrankStage | QuantizeStage | DistillStage | PackStage;

export interface Recipe {
  name?: string;
  description?: string;
  stages: Stage[];
}

const recipeShape = z.strictObject({
  name: str().optional(),
  description: str().optional(),
  stages: z.array(z.unknown(), { error: 'expected a list of stages' }).min(1, { error: 'expected at least one stage' }),
});

/** `stages[2].layers["fc*"]`: a path as a reader of the recipe writes it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(recipe)';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A YAML alias can make a document contain itself: show the repeat instead of failing on it.
  const open: unknown[] = [];
  let text: string;
  try {
    text = JSON.stringify(value, function (this: unknown, _key, v: unknown) {
      if (v === null || typeof v !== 'object') return v;
      while (open.length && open[open.length - 1] !== this) open.pop();
      if (open.includes(v)) return '[cycle]';
      open.push(v);
      return v;
    }) ?? String(value);
  } catch {
    text = Array.isArray(value) ? 'a list' : typeof value; // nested too deep to print
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** The first problem zod found, as one line with its path (an unknown field's path ends in the field). */
function firstProblem(error: z.ZodError, root: unknown, prefix: PropertyKey[]): RecipeError {
  // A misspelled field also leaves the real one missing: name the misspelling, it is the cause.
  const issue = error.issues.find((i) => i.code === 'unrecognized_keys') ?? error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const path = formatPath([...prefix, ...issue.path, issue.keys[0]!]);
    return new RecipeError(`${path}: unknown field${issue.keys.length > 1 ? ` (also ${issue.keys.slice(1).map((k) => `'${k}'`).join(', ')})` : ''}`, path);
  }
  const full = [...prefix, ...issue.path];
  const path = formatPath(full);
  const value = valueAt(root, full);
  const message = value === undefined && issue.code === 'invalid_type' ? `missing (${issue.message})` : `${issue.message}, got ${describe(value)}`;
  return new RecipeError(`${path}: ${message}`, path);
}

/** Checks a parsed recipe (plain data from JSON or YAML); the first problem is a RecipeError naming its path. */
export function validateRecipe(data: unknown): Recipe {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new RecipeError(`(recipe): expected an object with 'stages', got ${describe(data)}`);
  const top = recipeShape.safeParse(data);
  if (!top.success) throw firstProblem(top.error, data, []);
  const stages: Stage[] = top.data.stages.map((raw, i) => {
    const where = `stages[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RecipeError(`${where}: expected a stage object such as { stage: 'prune', ... }, got ${describe(raw)}`, where);
    const name = (raw as Record<string, unknown>).stage;
    if (name === undefined) throw new RecipeError(`${where}.stage: missing (one of ${STAGE_NAMES.join(', ')})`, `${where}.stage`);
    if (typeof name !== 'string' || !Object.hasOwn(STAGE_SCHEMAS, name)) throw new RecipeError(`${where}.stage: unknown stage ${describe(name)}; known: ${STAGE_NAMES.join(', ')}`, `${where}.stage`);
    const parsed = STAGE_SCHEMAS[name as StageName].safeParse(raw);
    if (!parsed.success) throw firstProblem(parsed.error, data, ['stages', i]);
    return parsed.data as Stage;
  });
  stages.forEach((s, i) => checkStage(s, i));
  const packAt = stages.findIndex((s) => s.stage === 'pack');
  if (packAt >= 0 && packAt !== stages.length - 1) throw new RecipeError(`stages[${packAt}]: pack writes the final .nnz artifact, so it must be the last stage`, `stages[${packAt}]`);
  return { ...(top.data.name !== undefined ? { name: top.data.name } : {}), ...(top.data.description !== undefined ? { description: top.data.description } : {}), stages };
}

/** Rules across fields of one stage, that a per-field schema cannot say. */
function checkStage(s: Stage, i: number): void {
  const fail = (field: string, message: string): never => {
    const path = `stages[${i}]${field ? `.${field}` : ''}`;
    throw new RecipeError(`${path}: ${message}`, path);
  };
  switch (s.stage) {
    case 'prune':
      if (s.sparsity === undefined && s.blocks === undefined) fail('sparsity', 'missing (a prune stage needs sparsity, or blocks to remove residual blocks)');
      if (s.method === 'l1-reg' && !(s.penaltyEpochs! > 0)) fail('penaltyEpochs', "method 'l1-reg' trains with an L1 penalty first: give penaltyEpochs of at least 1");
      break;
    case 'lowrank':
      if (s.energy !== undefined && s.rankRatio !== undefined) fail('rankRatio', 'give energy or rankRatio, not both');
      if (s.energy === undefined && s.rankRatio === undefined && s.layers === undefined) fail('energy', 'missing (a lowrank stage needs energy, rankRatio or layers)');
      break;
    case 'quantize':
      if (s.mode === 'preset' && s.preset === undefined) fail('preset', "missing (mode 'preset' names one)");
      if (s.mode !== 'preset' && s.preset !== undefined) fail('preset', "only mode 'preset' takes a preset");
      if (s.block !== undefined && s.mode !== 'weight') fail('block', "blocks are for mode 'weight'");
      if (s.bits !== undefined && s.mode !== 'weight') fail('bits', `mode '${s.mode}' has a fixed bit width; bits are for mode 'weight'`);
      if (s.block !== undefined && s.perChannel) fail('perChannel', 'give block or perChannel, not both');
      if (s.format === 'nbits' && s.mode !== 'weight') fail('format', "format 'nbits' is for mode 'weight'");
      if ((s.calibMethod !== undefined || s.calibSamples !== undefined) && s.mode !== 'static') fail(s.calibMethod !== undefined ? 'calibMethod' : 'calibSamples', "calibration is for mode 'static'");
      break;
    default:
      break;
  }
}

// Recipes nest a few levels. Much deeper text makes the JSON and YAML parsers and the checks recurse out of stack
// (and, in the YAML parser, can take the whole process down), so it is refused first: brackets nested deeper than
// MAX_NESTING, or a line indented (spaces, '-', '?', ':') by more than MAX_INDENT characters.
const MAX_NESTING = 64;
const MAX_INDENT = 256;
const DEEP_INDENT = /^[ \t?:-]{257}/m; // MAX_INDENT + 1

function nestingProblem(text: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_NESTING) return `brackets nested more than ${MAX_NESTING} deep`;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  if (DEEP_INDENT.test(text)) return `a line indented by more than ${MAX_INDENT} characters`;
  return undefined;
}

/** Parses a recipe file's text: JSON for *.json, YAML otherwise (YAML also reads JSON). Errors start with the file name. */
export function parseRecipe(text: string, fileName = 'recipe'): Recipe {
  const tooDeep = nestingProblem(text);
  if (tooDeep) throw new RecipeError(`${fileName}: not a recipe: ${tooDeep}`);
  let data: unknown;
  try {
    data = /\.json$/i.test(fileName) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new RecipeError(`${fileName}: not valid ${/\.json$/i.test(fileName) ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return validateRecipe(data);
  } catch (e) {
    if (e instanceof RecipeError) throw new RecipeError(`${fileName}: ${e.message}`, e.path);
    throw e;
  }
}

/** Why a stage needs training data, or undefined when it runs without. */
export function dataNeed(stage: Stage): string | undefined {
  switch (stage.stage) {
    case 'prune': {
      if ((stage.finetuneEpochs ?? 0) > 0) return 'fine-tuning (finetuneEpochs)';
      if (stage.schedule !== undefined && stage.schedule !== 'oneshot') return `the ${stage.schedule} schedule`;
      if (stage.method === 'taylor') return 'Taylor saliency';
      if (stage.method === 'l1-reg') return 'training with the L1 penalty';
      if (stage.method === 'bn-slim' && (stage.penaltyEpochs ?? 0) > 0) return 'training with the L1 penalty (penaltyEpochs)';
      if (stage.teacher !== undefined) return 'distillation (teacher)';
      return undefined;
    }
    case 'finetune': return 'fine-tuning';
    case 'distill': return 'distillation';
    case 'cluster': case 'hash': case 'lowrank': return (stage.finetuneEpochs ?? 0) > 0 ? 'fine-tuning (finetuneEpochs)' : undefined;
    case 'quantize': return stage.mode === 'static' ? 'calibration (static quantization)' : undefined;
    default: return undefined;
  }
}
