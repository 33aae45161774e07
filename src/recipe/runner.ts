// Runs a recipe: each stage maps onto one library pass. Masks of unstructured pruning travel with the model so that
// later training (finetune, distill) keeps pruned weights at zero; clustering keeps zeros through a fixed zero entry.
// Browser-safe: no file system here (a teacher given by path comes through ctx.loadModel).
import { Model } from '../core/ir.js';
import { assertSound } from '../core/soundness.js';
import { Tensor } from '../core/tensor.js';
import { DataLoader } from '../data/loader.js';
import { distill, prepareDistillation } from '../compress/distill/index.js';
import { packModel } from '../compress/encode/nnz.js';
import { lowRank } from '../compress/lowrank/index.js';
import { optimizeModel } from '../compress/optimize/optimize.js';
import { MaskSet } from '../compress/prune/masks.js';
import { PrunePassSpec, PruneSchedule, isStructured, prunePass } from '../compress/prune/pass.js';
import { FineTuneOptions, fineTuneMasked, trainModel } from '../compress/prune/schedules.js';
import { CalibrationFeeds } from '../compress/quantize/calibrate.js';
import { quantizeDynamic } from '../compress/quantize/dynamic.js';
import { convertFloat16 } from '../compress/quantize/float16.js';
import { applyPreset } from '../compress/quantize/presets.js';
import { quantizeStatic } from '../compress/quantize/static.js';
import { quantizeWeights } from '../compress/quantize/weight-only.js';
import { clusterWeights, clusteredCodebooks, fineTuneClustered } from '../compress/share/cluster.js';
import { hashWeights } from '../compress/share/hash.js';
import { loaderFeeds } from '../eval/fidelity.js';
import { Runtime } from '../runtime/session.js';
import { maskHook } from '../train/hooks.js';
import { StepProgress } from '../train/trainer.js';
import { ParameterHook } from '../train/hooks.js';
import { Recipe, RecipeError, Stage, dataNeed } from './schema.js';

export interface RecipeContext {
  runtime: Runtime;
  /** Training data: fine-tuning, distillation, sparse schedules, Taylor saliency (and calibration without calibFeeds). */
  trainLoader?: DataLoader;
  /** Calibration inputs of static quantization (called once per static stage). */
  calibFeeds?: () => CalibrationFeeds;
  threads?: number;
  /** Reads a teacher model named by path in a distill stage (the CLI passes loadModel). */
  loadModel?: (path: string) => Model;
  /** Called after each stage with the model as it is now (the CLI measures there). */
  onStage?: (index: number, stage: Stage, model: Model) => Promise<void>;
  onStep?: (p: StepProgress) => void;
}

export interface StageResult {
  stage: Stage;
  /** The pass's own report (what it did). */
  report: unknown;
  seconds: number;
}

export interface RecipeResult {
  model: Model;
  stages: StageResult[];
  /** The .nnz bytes when the recipe ends with pack. */
  nnz?: Uint8Array;
}

const DEFAULT_LR = 0.01;
const DEFAULT_CALIB_SAMPLES = 256;

function pruneSchedule(text: string | undefined): PruneSchedule {
  if (!text || text === 'oneshot') return { kind: 'oneshot' };
  const m = /^iterative:(\d+)$/.exec(text);
  if (m) return { kind: 'iterative', rounds: Number(m[1]) };
  return { kind: text as 'agp' | 'scratch' | 'set' | 'rigl' };
}

/** Refuses, before any work, stages that need data or a loader the context lacks. One line naming the stage. */
export function checkRecipeContext(recipe: Recipe, ctx: RecipeContext): void {
  recipe.stages.forEach((stage, i) => {
    const where = `stages[${i}] (${stage.stage})`;
    const need = dataNeed(stage);
    const hasData = stage.stage === 'quantize' ? !!(ctx.calibFeeds || ctx.trainLoader) : !!ctx.trainLoader;
    if (need && !hasData) throw new RecipeError(`${where}: needs training data for ${need}, and none was given`, `stages[${i}]`);
    if ((stage.stage === 'distill' || stage.stage === 'prune') && stage.teacher !== undefined && stage.teacher !== 'original' && !ctx.loadModel) {
      throw new RecipeError(`${where}: the teacher '${stage.teacher}' is a file, and this context cannot load models`, `stages[${i}].teacher`);
    }
  });
}

/** The masks still meaningful for the model: weights that exist with the mask's shape. */
function liveMasks(model: Model, masks: MaskSet | undefined): MaskSet {
  const out: MaskSet = new Map();
  for (const [name, mask] of masks ?? []) {
    const w = model.graph.initializers.get(name);
    if (w && w.size === mask.size) out.set(name, mask);
  }
  return out;
}

function maskHooks(masks: MaskSet): Record<string, ParameterHook[]> {
  const hooks: Record<string, ParameterHook[]> = {};
  for (const [name, mask] of masks) hooks[name] = [maskHook(mask)];
  return hooks;
}

async function* firstSamples(feeds: Iterable<Record<string, Tensor>>, samples: number): AsyncGenerator<Record<string, Tensor>> {
  let seen = 0;
  for (const f of feeds) {
    if (seen >= samples) return;
    yield f;
    seen += Object.values(f)[0]?.dims[0] ?? 1;
  }
}

/** Runs the recipe's stages in order on `model` (not modified) and returns the result of the last. */
export async function runRecipe(model: Model, recipe: Recipe, ctx: RecipeContext): Promise<RecipeResult> {
  checkRecipeContext(recipe, ctx);
  const original = model;
  let current = model;
  let masks: MaskSet | undefined;
  let nnz: Uint8Array | undefined;
  const results: StageResult[] = [];
  const fineTune = (epochs: number, lr: number | undefined, schedule?: 'constant' | 'cosine'): FineTuneOptions => ({
    runtime: ctx.runtime, loader: ctx.trainLoader!, epochs, lr: lr ?? DEFAULT_LR, threads: ctx.threads,
    fit: { onStep: ctx.onStep, schedule: { kind: schedule ?? 'constant' } },
  });
  // The teacher is fixed: without augmentation its outputs per sample are too, so it runs once per sample.
  const cacheTeacher = () => ctx.trainLoader!.transforms.length === 0;
  const teacherOf = (teacher: string | undefined) => (teacher === undefined || teacher === 'original' ? original : ctx.loadModel!(teacher));
  /** Trains the current model: centroids when it is clustered, otherwise every weight with the masks kept. */
  const train = async (m: Model, options: FineTuneOptions) => (clusteredCodebooks(m).length
    ? (await fineTuneClustered(m, options)).model
    : (await fineTuneMasked(m, liveMasks(m, masks), options)).model);

  for (const [index, stage] of recipe.stages.entries()) {
    const started = performance.now();
    let report: unknown;
    try {
      switch (stage.stage) {
        case 'optimize': {
          const { stage: _, ...options } = stage;
          const r = optimizeModel(current, options);
          current = r.model;
          report = r.report;
          break;
        }
        case 'prune': {
          const method = stage.method ?? (stage.nm ? 'nm' : undefined);
          const spec: PrunePassSpec = {
            sparsity: stage.sparsity ?? 0, method, structured: stage.structured, merge: stage.merge, nm: stage.nm,
            scope: stage.scope, overrides: Object.entries(stage.layers ?? {}).map(([pattern, sparsity]) => ({ pattern, sparsity })),
            skipFirst: stage.skipFirst, skipLast: stage.skipLast, schedule: pruneSchedule(stage.schedule),
            finetuneEpochs: stage.finetuneEpochs,
            penalty: method === 'l1-reg' || method === 'bn-slim' ? { strength: stage.penalty, epochs: stage.penaltyEpochs ?? 0 } : undefined,
            blocks: stage.blocks ? { count: stage.blocks, criterion: stage.blockCriterion ?? 'bn-scale' } : undefined,
            channelMultiple: stage.channelMultiple, seed: stage.seed,
          };
          // With a teacher, its soft targets join every fine-tuning run of the pass.
          const distillation = stage.teacher !== undefined
            ? await prepareDistillation(current, [teacherOf(stage.teacher)], { temperature: stage.temperature, alpha: stage.alpha, cache: cacheTeacher() }, { runtime: ctx.runtime, loader: ctx.trainLoader!, threads: ctx.threads })
            : undefined;
          let r;
          try {
            r = await prunePass(current, spec, {
              runtime: ctx.runtime, loader: ctx.trainLoader, lr: stage.lr ?? DEFAULT_LR, lrSchedule: { kind: stage.lrSchedule ?? 'constant' },
              threads: ctx.threads, onStep: ctx.onStep,
              distill: distillation && { losses: distillation.losses, extraFeeds: distillation.extraFeeds, loader: distillation.loader },
            });
          } finally {
            await distillation?.release();
          }
          current = r.model;
          // Structured pruning reshapes the graph: earlier masks no longer fit; unstructured gives new ones.
          masks = isStructured(spec) ? undefined : r.masks ?? masks;
          report = r.stages;
          break;
        }
        case 'finetune': {
          current = await train(current, fineTune(stage.epochs, stage.lr, stage.schedule));
          report = { epochs: stage.epochs, lr: stage.lr, maskedWeights: liveMasks(current, masks).size, clustered: clusteredCodebooks(current).length > 0 };
          break;
        }
        case 'cluster': {
          const r = clusterWeights(current, {
            bits: stage.bits, layerBits: stage.layers, init: stage.init, sharing: stage.sharing, exclude: stage.exclude, seed: stage.seed, format: 'gather',
          });
          current = r.model;
          if ((stage.finetuneEpochs ?? 0) > 0) current = await train(current, fineTune(stage.finetuneEpochs!, stage.lr, stage.lrSchedule));
          report = r.report;
          break;
        }
        case 'hash': {
          const r = hashWeights(current, { ratio: stage.ratio, layers: Object.entries(stage.layers ?? {}).map(([pattern, ratio]) => ({ pattern, ratio })), exclude: stage.exclude, seed: stage.seed });
          current = r.model;
          masks = undefined;
          if ((stage.finetuneEpochs ?? 0) > 0) current = (await trainModel(current, {}, fineTune(stage.finetuneEpochs!, stage.lr))).model;
          report = r.report;
          break;
        }
        case 'lowrank': {
          const layers = Object.entries(stage.layers ?? {}).map(([pattern, v]) => (stage.rankRatio !== undefined ? { pattern, rankRatio: v } : { pattern, energy: v }));
          const r = lowRank(current, {
            ...(stage.energy !== undefined ? { energy: stage.energy } : {}), ...(stage.rankRatio !== undefined ? { rankRatio: stage.rankRatio } : {}),
            layers, exclude: stage.exclude, conv: stage.conv,
          });
          current = r.model;
          masks = undefined;
          if ((stage.finetuneEpochs ?? 0) > 0) current = (await trainModel(current, {}, fineTune(stage.finetuneEpochs!, stage.lr))).model;
          report = r.report;
          break;
        }
        case 'quantize': {
          const r = await quantize(current, stage, ctx);
          current = r.model;
          masks = undefined;
          report = r.report;
          break;
        }
        case 'distill': {
          const r = await distill(current, [teacherOf(stage.teacher)], { temperature: stage.temperature, alpha: stage.alpha, cache: cacheTeacher() }, fineTune(stage.epochs, stage.lr, stage.schedule), { hooks: maskHooks(liveMasks(current, masks)) });
          current = r.model;
          report = r.report;
          break;
        }
        case 'pack': {
          const r = packModel(current, { minTensorBytes: stage.minTensorBytes });
          nnz = r.bytes;
          report = r.report;
          break;
        }
      }
      // Every stage hands on a sound model: a broken graph or a diverged fine-tuning stops here, naming the stage.
      assertSound(current, 'the stage');
    } catch (e) {
      if (e instanceof Error && !(e instanceof RecipeError)) e.message = `stages[${index}] (${stage.stage}): ${e.message}`;
      throw e;
    }
    results.push({ stage, report, seconds: (performance.now() - started) / 1000 });
    await ctx.onStage?.(index, stage, current);
  }
  return { model: current, stages: results, ...(nnz ? { nnz } : {}) };
}

type QuantizeStage = Extract<Stage, { stage: 'quantize' }>;

async function quantize(model: Model, stage: QuantizeStage, ctx: RecipeContext): Promise<{ model: Model; report: unknown }> {
  switch (stage.mode) {
    case 'weight': {
      const granularity = stage.block !== undefined ? { block: stage.block } : stage.perChannel === false ? 'tensor' as const : 'channel' as const;
      return quantizeWeights(model, { bits: stage.bits, granularity, symmetric: stage.symmetric, format: stage.format, exclude: stage.exclude });
    }
    case 'dynamic':
      return quantizeDynamic(model, { perChannel: stage.perChannel, exclude: stage.exclude });
    case 'static': {
      const samples = stage.calibSamples ?? DEFAULT_CALIB_SAMPLES;
      const feeds = ctx.calibFeeds ? ctx.calibFeeds() : firstSamples(loaderFeeds(model, ctx.trainLoader!), samples);
      return quantizeStatic(model, feeds, {
        runtime: ctx.runtime, calibMethod: stage.calibMethod, perChannel: stage.perChannel, exclude: stage.exclude, threads: ctx.threads,
        ...(stage.symmetric !== undefined ? { symmetricActivations: stage.symmetric } : {}),
      });
    }
    case 'fp16':
    case 'bf16':
      return convertFloat16(model, { type: stage.mode === 'fp16' ? 'float16' : 'bfloat16', keepNodes: stage.exclude });
    case 'preset':
      return applyPreset(model, stage.preset!, { perChannel: stage.perChannel, exclude: stage.exclude });
  }
}
