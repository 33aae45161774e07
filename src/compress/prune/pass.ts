// The prune pass: one entry point over every pruning method, as the CLI (and recipes) call it. It chains the optional
// stages in a fixed order: L1-penalty training (l1-reg, bn-slim), residual block removal, then either structured
// channel pruning or merging (fine-tuned dense, the graph being smaller) or unstructured / N:M pruning on a schedule
// (fine-tuned with masks), or sparse training from scratch.
import { Model } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import { Tensor } from '../../core/tensor.js';
import { Batch, DataLoader } from '../../data/loader.js';
import { LossSpec } from '../../train/losses.js';
import { Runtime } from '../../runtime/session.js';
import { OptimizerSpec } from '../../train/optimizers.js';
import { ScheduleSpec } from '../../train/schedules.js';
import { StepProgress } from '../../train/trainer.js';
import { BlockCriterion, blockSensitivity, pruneBlocks, sensitivityScores } from '../structured/blocks.js';
import { ChannelCriterion, mergeChannels, pruneChannels, taylorTensors } from '../structured/index.js';
import { sensitivityOverrides } from './allocate.js';
import { Criterion, accumulateGradients } from './criteria.js';
import { PruneError, prunableWeights } from './masks.js';
import { batchNormScales, meanAbs, trainWithL1Penalty } from './regularized.js';
import { FineTuneOptions, fineTuneMasked, pruneAgp, pruneIterative, trainModel } from './schedules.js';
import { Measurement } from './sensitivity.js';
import { trainSparse } from './sparse-training.js';
import { LayerOverride, PruneOptions, checkSparsity, pruneUnstructured } from './unstructured.js';

/** Unstructured criteria (weights), structured criteria (channels), and N:M. 'taylor' serves both. */
export const UNSTRUCTURED_METHODS = ['magnitude', 'random', 'taylor', 'l1-reg'] as const;
export const STRUCTURED_METHODS = ['l1-norm', 'l2-norm', 'bn-slim', 'fpgm', 'taylor'] as const;
export type PruneMethod = (typeof UNSTRUCTURED_METHODS)[number] | (typeof STRUCTURED_METHODS)[number] | 'nm';
export const PRUNE_METHODS: readonly PruneMethod[] = [...new Set<PruneMethod>([...UNSTRUCTURED_METHODS, 'nm', ...STRUCTURED_METHODS])];

const CHANNEL_CRITERION: Record<(typeof STRUCTURED_METHODS)[number], ChannelCriterion> = {
  'l1-norm': 'l1', 'l2-norm': 'l2', 'bn-slim': 'bn-scale', fpgm: 'fpgm', taylor: 'taylor',
};

/** Default λ of the L1 penalty: on all prunable weights (l1-reg), on BatchNorm scales (bn-slim, Liu et al.'s 1e-4). */
export const DEFAULT_PENALTY = { 'l1-reg': 1e-4, 'bn-slim': 1e-4 } as const;

export type PruneSchedule =
  | { kind: 'oneshot' }
  | { kind: 'iterative'; rounds: number }
  | { kind: 'agp' }
  /** Sparse from scratch: a random mask fixed at initialization (the model given is the initialization). */
  | { kind: 'scratch' }
  /** Sparse from scratch with prune-and-regrow (SET: random regrowth, RigL: by gradient). */
  | { kind: 'set' | 'rigl'; every?: number; fraction?: number };

export interface PrunePassSpec {
  /** Fraction of prunable weights (unstructured) or of each group's channels (structured) to remove, in [0, 1). */
  sparsity: number;
  method?: PruneMethod;
  /** Remove whole channels (implied by a structured-only method). */
  structured?: boolean;
  /** Structured: merge clusters of similar channels into one instead of removing the least important. */
  merge?: boolean;
  /** N:M pattern, e.g. '2:4' (method 'nm'). */
  nm?: string;
  /** 'sensitivity': per-layer sparsities allocated from each layer's measured sensitivity for the global target. */
  scope?: 'layer' | 'global' | 'sensitivity';
  overrides?: LayerOverride[];
  skipFirst?: boolean;
  skipLast?: boolean;
  schedule?: PruneSchedule;
  /** Epochs of fine-tuning after pruning (for sparse-from-scratch schedules: of training). */
  finetuneEpochs?: number;
  /** l1-reg / bn-slim: the L1 penalty's strength and epochs of penalized training before pruning. */
  penalty?: { strength?: number; epochs: number };
  /** Remove this many residual blocks first (layer pruning), ranked by the criterion. */
  blocks?: { count: number; criterion: BlockCriterion | 'sensitivity' };
  channelMultiple?: number;
  /** Sparsities at which sensitivity is measured for scope 'sensitivity'. */
  sensitivities?: number[];
  seed?: number;
}

export interface PruneContext {
  runtime: Runtime;
  /** Training data: fine-tuning, penalty training, Taylor gradients, sparse training. */
  loader?: DataLoader;
  lr?: number;
  optimizer?: OptimizerSpec;
  threads?: number;
  /** The metric sensitivity analysis uses (accuracy or fidelity); needed for scope and block criterion 'sensitivity'. */
  measure?: (m: Model) => Promise<Measurement>;
  onStep?: (p: StepProgress) => void;
  /**
   * Distillation during every training run (penalty training, fine-tuning, sparse training): the loss terms and the
   * per-batch feeds (teacher logits) of prepareDistillation, and its loader when it relabels (hard mode).
   */
  distill?: { losses: LossSpec[]; extraFeeds: (batch: Batch) => Promise<Record<string, Tensor>>; loader?: DataLoader };
  /** Learning-rate schedule of each fine-tuning run (default constant). */
  lrSchedule?: ScheduleSpec;
  /** Sensitivity progress (evaluations done of total). */
  onMeasure?: (done: number, total: number) => void;
}

export interface PrunePassResult {
  model: Model;
  /** Masks of unstructured pruning (absent for structured), so later stages can keep the zeros. */
  masks?: Map<string, import('../../core/tensor.js').Tensor>;
  /** What each stage did, for reports. */
  stages: Record<string, unknown>;
}

const DEFAULT_SENSITIVITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98];

export function isStructured(spec: PrunePassSpec): boolean {
  const m = spec.method ?? (spec.structured ? 'l1-norm' : 'magnitude');
  return !!spec.structured || !!spec.merge || (m !== 'taylor' && (STRUCTURED_METHODS as readonly string[]).includes(m));
}

/** Refuses option combinations that cannot work, before any training starts. */
function checkSpec(spec: PrunePassSpec, ctx: PruneContext): void {
  checkSparsity(spec.sparsity, 'sparsity');
  const method = spec.method ?? (isStructured(spec) ? 'l1-norm' : 'magnitude');
  if (!PRUNE_METHODS.includes(method)) throw new PruneError(`unknown pruning method '${method}'; known: ${PRUNE_METHODS.join(', ')}`);
  const structured = isStructured(spec);
  const schedule = spec.schedule ?? { kind: 'oneshot' };
  if (structured && (UNSTRUCTURED_METHODS as readonly string[]).includes(method) && method !== 'taylor') throw new PruneError(`method '${method}' prunes single weights; structured pruning ranks channels with ${STRUCTURED_METHODS.join(', ')}`);
  if (structured && method === 'nm') throw new PruneError('N:M pruning is semi-structured: it cannot be combined with structured channel pruning');
  if (structured && schedule.kind !== 'oneshot') throw new PruneError(`structured pruning runs one-shot (then fine-tunes); the ${schedule.kind} schedule is unstructured`);
  if (structured && spec.scope === 'sensitivity') throw new PruneError('sensitivity-driven sparsities are per weight tensor (unstructured); structured pruning removes the same share of every channel group');
  if (spec.merge && spec.method !== undefined) throw new PruneError(`filter merging clusters similar channels: it takes no ranking method ('${method}')`);
  const sparseTraining = schedule.kind === 'scratch' || schedule.kind === 'set' || schedule.kind === 'rigl';
  if (sparseTraining && (method === 'nm' || method === 'taylor' || method === 'l1-reg')) throw new PruneError(`the ${schedule.kind} schedule draws a random mask at initialization; it takes no criterion ('${method}')`);
  if (sparseTraining && !(spec.finetuneEpochs! > 0)) throw new PruneError(`the ${schedule.kind} schedule trains from scratch: give the epochs of training (fine-tune epochs) and data`);
  const needsData = (spec.finetuneEpochs ?? 0) > 0 || (schedule.kind !== 'oneshot') || method === 'taylor' || method === 'l1-reg';
  if (needsData && !ctx.loader) throw new PruneError(`training data is needed for ${method === 'taylor' ? 'Taylor saliency' : method === 'l1-reg' ? 'training with the L1 penalty' : schedule.kind !== 'oneshot' ? `the ${schedule.kind} schedule` : 'fine-tuning'}`);
  if (method === 'l1-reg' && !(spec.penalty && spec.penalty.epochs > 0)) throw new PruneError('method l1-reg trains with an L1 penalty first: give at least 1 penalty epoch');
  if ((spec.scope === 'sensitivity' || spec.blocks?.criterion === 'sensitivity') && !ctx.measure) throw new PruneError('sensitivity needs a metric: give test data (accuracy) or let it measure fidelity on generated inputs');
  if (spec.blocks && (!Number.isInteger(spec.blocks.count) || spec.blocks.count < 1)) throw new PruneError(`the number of residual blocks to remove must be a positive whole number, got ${spec.blocks.count}`);
}

const valueOf = (m: Measurement) => (typeof m === 'number' ? m : m.value);

export async function prunePass(source: Model, spec: PrunePassSpec, ctx: PruneContext): Promise<PrunePassResult> {
  checkSpec(spec, ctx);
  const method = spec.method ?? (isStructured(spec) ? 'l1-norm' : 'magnitude');
  const schedule = spec.schedule ?? { kind: 'oneshot' };
  const epochs = spec.finetuneEpochs ?? 0;
  const stages: Record<string, unknown> = {};
  const fineTune: FineTuneOptions = {
    runtime: ctx.runtime, loader: ctx.distill?.loader ?? ctx.loader!, epochs, lr: ctx.lr ?? 0.01, optimizer: ctx.optimizer, threads: ctx.threads,
    fit: { onStep: ctx.onStep, schedule: ctx.lrSchedule, extraFeeds: ctx.distill?.extraFeeds }, losses: ctx.distill?.losses,
  };
  let model = source;

  // 1. Penalty training: the L1 penalty drives unimportant weights (l1-reg) or BatchNorm scales (bn-slim) toward zero.
  if ((method === 'l1-reg' || method === 'bn-slim') && spec.penalty && spec.penalty.epochs > 0 && ctx.loader) {
    const params = method === 'bn-slim' ? batchNormScales(model) : prunableWeights(model).map((w) => w.name);
    if (!params.length) throw new PruneError('method bn-slim penalizes BatchNormalization scales, and this model has no BatchNormalization');
    const strength = spec.penalty.strength ?? DEFAULT_PENALTY[method];
    const trained = await trainWithL1Penalty(model, { ...fineTune, epochs: spec.penalty.epochs, strength, params });
    stages.penalty = { strength, epochs: spec.penalty.epochs, tensors: params.length, meanAbsBefore: meanAbs(model, params), meanAbsAfter: meanAbs(trained.model, params) };
    model = trained.model;
  }

  // 2. Layer pruning: whole residual blocks.
  if (spec.blocks) {
    const scores = spec.blocks.criterion === 'sensitivity'
      ? sensitivityScores(await blockSensitivity(model, async (m) => valueOf(await ctx.measure!(m))))
      : undefined;
    const r = pruneBlocks(model, { count: spec.blocks.count, criterion: spec.blocks.criterion === 'sensitivity' ? undefined : spec.blocks.criterion, scores });
    model = r.model;
    stages.blocks = r.report;
  }

  // 3a. Structured: remove (or merge) channels; the smaller dense graph is fine-tuned as it is.
  if (isStructured(spec)) {
    if (spec.sparsity > 0 || (spec.overrides?.length && !spec.merge)) {
      if (spec.merge) {
        const r = mergeChannels(model, { ratio: spec.sparsity, channelMultiple: spec.channelMultiple, seed: spec.seed });
        model = r.model;
        stages.merge = r.report;
      } else {
        const criterion = CHANNEL_CRITERION[method as (typeof STRUCTURED_METHODS)[number]];
        const base = constantsToInitializers(model);
        const gradients = criterion === 'taylor' ? await accumulateGradients(ctx.runtime, base, ctx.loader!, taylorTensors(base), { threads: ctx.threads, batches: 50 }) : undefined;
        const overrides = (spec.overrides ?? []).map((o) => ({ pattern: o.pattern, ratio: o.sparsity }));
        const r = pruneChannels(base, { ratio: spec.sparsity, criterion, channelMultiple: spec.channelMultiple, gradients, overrides });
        model = r.model;
        stages.channels = r.report;
      }
    }
    if (epochs > 0) model = (await trainModel(model, {}, fineTune)).model;
    return { model, stages };
  }
  if (spec.sparsity === 0 && spec.blocks && !spec.nm && method !== 'nm') {
    // Blocks only: fine-tune the shortened model, nothing else to prune.
    if (epochs > 0) model = (await trainModel(model, {}, fineTune)).model;
    return { model, stages };
  }

  // 3b. Unstructured and N:M.
  const overrides = [...(spec.overrides ?? [])];
  let scope: 'layer' | 'global' = spec.scope === 'global' ? 'global' : 'layer';
  if (spec.scope === 'sensitivity') {
    const allocation = await sensitivityOverrides(model, spec.sparsity, spec.sensitivities ?? DEFAULT_SENSITIVITIES, ctx.measure!, { onProgress: ctx.onMeasure });
    // The user's own overrides come first: the first matching pattern wins.
    overrides.push(...allocation.overrides);
    scope = 'layer';
    const { report, ...rest } = allocation;
    stages.sensitivity = { ...rest, metric: report.metric, baseline: report.baseline };
  }
  const prune: PruneOptions = {
    sparsity: spec.sparsity, method: (method === 'nm' || method === 'l1-reg' ? 'magnitude' : method) as Criterion, scope, overrides,
    skipFirst: spec.skipFirst, skipLast: spec.skipLast, seed: spec.seed,
    nm: method === 'nm' || spec.nm ? (spec.nm ?? '2:4') : undefined,
  };
  if (method === 'taylor') prune.gradients = await accumulateGradients(ctx.runtime, model, ctx.loader!, prunableWeights(model).map((w) => w.name), { threads: ctx.threads, batches: 50 });
  switch (schedule.kind) {
    case 'iterative': {
      const r = await pruneIterative(model, prune, { ...fineTune, rounds: schedule.rounds, epochs: Math.max(1, epochs) });
      stages.prune = r.report;
      return { model: r.model, masks: r.masks, stages };
    }
    case 'agp': {
      const e = Math.max(1, epochs);
      const steps = Math.max(1, Math.floor(ctx.loader!.batchCount * e * 0.75));
      const r = await pruneAgp(model, prune, { final: spec.sparsity, steps, frequency: Math.max(1, Math.floor(steps / 20)) }, { ...fineTune, epochs: e });
      stages.prune = r.report;
      return { model: r.model, masks: r.masks, stages };
    }
    case 'scratch': case 'set': case 'rigl': {
      const r = await trainSparse(model, {
        sparsity: spec.sparsity, scope, overrides, skipFirst: spec.skipFirst, skipLast: spec.skipLast, seed: spec.seed,
        dynamic: schedule.kind === 'scratch' ? undefined : { kind: schedule.kind, every: schedule.every, fraction: schedule.fraction },
      }, fineTune);
      stages.sparseTraining = { ...r.report, updates: r.updates.map(({ layers: _layers, ...u }) => u) };
      return { model: r.model, masks: r.masks, stages };
    }
    default: {
      const r = pruneUnstructured(model, prune);
      stages.prune = r.report;
      model = r.model;
      if (epochs > 0) model = (await fineTuneMasked(model, r.masks, fineTune)).model;
      return { model, masks: r.masks, stages };
    }
  }
}
