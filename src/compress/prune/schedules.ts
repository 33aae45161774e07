// Pruning schedules: one-shot; iterative (K rounds of prune to a rising sparsity, then fine-tune with masks); AGP
// (Zhu & Gupta's gradual pruning: the sparsity follows a cubic curve during training and masks are recomputed every
// few steps).
//
// Masks while training: iterative rounds use the training engine's maskHook (masks fixed per round, one training
// program per round). AGP changes masks between steps, so it makes each mask a graph input fed with every step
// (fit()'s extraFeeds) instead of an initializer: the program is built once and a mask update is a new feed.
import { GraphBuilder } from '../../core/builder.js';
import { Model } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { DataLoader } from '../../data/loader.js';
import { Runtime } from '../../runtime/session.js';
import { ParameterHook, maskHook } from '../../train/hooks.js';
import { OptimizerSpec } from '../../train/optimizers.js';
import { TrainingSession } from '../../train/session.js';
import { LossSpec } from '../../train/losses.js';
import { TrainingSpec, buildTrainingProgram, inferenceModelWith } from '../../train/training-graph.js';
import { FitOptions, FitResult, fit } from '../../train/trainer.js';
import { MaskSet, PruneError, maskedWeight } from './masks.js';
import { PruneOptions, PruneReport, PruneResult, checkSparsity, pruneUnstructured } from './unstructured.js';

/** One-shot pruning: prune once to the target (fine-tune afterwards with fineTuneMasked if wanted). */
export const pruneOneShot = pruneUnstructured;

export interface FineTuneOptions {
  runtime: Runtime;
  loader: DataLoader;
  epochs: number;
  lr: number;
  /** Default: SGD with momentum 0.9. */
  optimizer?: OptimizerSpec;
  threads?: number;
  /** Passed on to fit() (evaluation, progress, schedule, extra feeds such as teacher logits, ...). */
  fit?: Omit<FitOptions, 'epochs' | 'lr'>;
  /** Loss terms (default cross-entropy): e.g. distillation from a teacher, whose logits fit.extraFeeds supplies. */
  losses?: LossSpec[];
}

export const DEFAULT_OPTIMIZER: OptimizerSpec = { kind: 'sgd', momentum: 0.9 };

/**
 * Trains the model (fine-tuning) with extra training settings (hooks, penalties): builds the training program, runs
 * fit() and returns the inference model with the trained values.
 */
export async function trainModel(model: Model, extra: Omit<TrainingSpec, 'optimizer'>, options: FineTuneOptions): Promise<{ model: Model; fit: FitResult }> {
  const optimizer = options.optimizer ?? DEFAULT_OPTIMIZER;
  const program = buildTrainingProgram(model, { losses: options.losses, ...extra, optimizer });
  const session = await TrainingSession.create(options.runtime, program, optimizer, { threads: options.threads });
  try {
    const result = await fit(session, model, options.loader, { ...options.fit, epochs: options.epochs, lr: options.lr });
    return { model: inferenceModelWith(model, session.modelValues()), fit: result };
  } finally {
    await session.release();
  }
}

/**
 * Trains the model with fixed masks (pruned weights get no gradient and are zeroed after every step). Pruned weights
 * come back as 0 or -0 (the masked update multiplies by the mask), both zeros to every consumer: the result is not
 * re-masked, because the training graph kept them so (tests rely on that). No masks: plain fine-tuning.
 */
export async function fineTuneMasked(model: Model, masks: MaskSet, options: FineTuneOptions): Promise<{ model: Model; fit: FitResult }> {
  const hooks: Record<string, ParameterHook[]> = {};
  for (const [name, mask] of masks) hooks[name] = [maskHook(mask)];
  return trainModel(model, { hooks }, options);
}

export interface IterativeOptions extends FineTuneOptions {
  /** Number of prune + fine-tune rounds (K). */
  rounds: number;
  /** Sparsity of each round; default: rising linearly, s_r = s·r/K. */
  sparsities?: number[];
}

export interface RoundRecord {
  round: number;
  sparsity: number;
  report: PruneReport;
  fit: FitResult;
}

/** K rounds of: prune to the round's sparsity (earlier pruning kept), fine-tune with the masks. */
export async function pruneIterative(source: Model, prune: PruneOptions, options: IterativeOptions): Promise<PruneResult & { rounds: RoundRecord[] }> {
  const k = options.rounds;
  if (!Number.isInteger(k) || k < 1) throw new PruneError(`iterative pruning needs a positive whole number of rounds, got ${k}`);
  const targets = options.sparsities ?? Array.from({ length: k }, (_, r) => (prune.sparsity * (r + 1)) / k);
  if (targets.length !== k) throw new PruneError(`iterative pruning: ${targets.length} sparsities for ${k} rounds`);
  targets.forEach((s) => checkSparsity(s, 'round sparsity'));
  let model = source;
  let last: PruneResult | undefined;
  const rounds: RoundRecord[] = [];
  for (let r = 0; r < k; r++) {
    last = pruneUnstructured(model, { ...prune, sparsity: targets[r]!, previousMasks: last?.masks ?? prune.previousMasks });
    const tuned = await fineTuneMasked(last.model, last.masks, options);
    model = tuned.model;
    rounds.push({ round: r + 1, sparsity: targets[r]!, report: last.report, fit: tuned.fit });
  }
  return { model, masks: last!.masks, report: last!.report, rounds };
}

export interface AgpSchedule {
  /** s_i: sparsity at the first pruning step (default 0). */
  initial?: number;
  /** s_f: final sparsity. */
  final: number;
  /** t_0: first pruning step (default 0). */
  startStep?: number;
  /** n: steps over which the sparsity rises from s_i to s_f. */
  steps: number;
  /** Δt: masks are recomputed every this many steps (default 1). */
  frequency?: number;
}

/** Zhu & Gupta (2017): s_t = s_f + (s_i - s_f)(1 - (t - t_0)/n)^3 for t in [t_0, t_0 + n]; 0 before, s_f after. */
export function agpSparsity(step: number, schedule: AgpSchedule): number {
  const si = schedule.initial ?? 0, sf = schedule.final, t0 = schedule.startStep ?? 0;
  if (step < t0) return 0;
  const progress = schedule.steps > 0 ? Math.min(1, (step - t0) / schedule.steps) : 1;
  return sf + (si - sf) * (1 - progress) ** 3;
}

/** A mask fed per step: the gradient and the updated weight are multiplied by the graph input `${param}.mask`. */
export function maskInputHook(mask: Tensor): ParameterHook {
  let input: string | undefined;
  const name = (b: GraphBuilder, param: string) => (input ??= b.input(`${param}.mask`, mask.dataType, [...mask.dims]));
  return {
    kind: 'mask-input',
    gradient: (b, param, grad) => b.op('Mul', [grad, name(b, param)]),
    update: (b, param, updated) => b.op('Mul', [updated, name(b, param)]),
  };
}

export interface AgpRecord {
  /** Global step (from 1) after which the masks were recomputed. */
  step: number;
  sparsity: number;
  pruned: number;
}

/**
 * Trains while pruning gradually: after every `frequency` steps in [t_0, t_0 + n], masks are recomputed to
 * agpSparsity(step) (weights pruned before stay pruned), the session's weights are masked and the new masks are fed
 * from the next step on. Masks start dense (or at s_i if t_0 is 0).
 */
export async function pruneAgp(source: Model, prune: Omit<PruneOptions, 'sparsity'>, schedule: AgpSchedule, options: FineTuneOptions): Promise<PruneResult & { updates: AgpRecord[]; fit: FitResult }> {
  checkSparsity(schedule.final, 'final sparsity');
  checkSparsity(schedule.initial ?? 0, 'initial sparsity');
  const frequency = schedule.frequency ?? 1;
  if (!Number.isInteger(frequency) || frequency < 1) throw new PruneError(`AGP pruning frequency must be a positive whole number of steps, got ${frequency}`);
  const start = pruneUnstructured(source, { ...prune, sparsity: (schedule.startStep ?? 0) === 0 ? agpSparsity(0, schedule) : 0 });
  let masks = start.masks;
  let report = start.report;
  const optimizer = options.optimizer ?? DEFAULT_OPTIMIZER;
  const hooks: Record<string, ParameterHook[]> = {};
  for (const [name, mask] of masks) hooks[name] = [maskInputHook(mask)];
  const program = buildTrainingProgram(start.model, { optimizer, hooks, losses: options.losses });
  const session = await TrainingSession.create(options.runtime, program, optimizer, { threads: options.threads });
  const feeds = () => Object.fromEntries([...masks].map(([name, m]) => [`${name}.mask`, m]));
  const updates: AgpRecord[] = [];
  const stepsPerEpoch = options.loader.batchCount;
  const t0 = schedule.startStep ?? 0;
  try {
    const result = await fit(session, start.model, options.loader, {
      ...options.fit, epochs: options.epochs, lr: options.lr,
      extraFeeds: async (batch) => ({ ...(await options.fit?.extraFeeds?.(batch)), ...feeds() }),
      onStep: (p) => {
        options.fit?.onStep?.(p);
        const step = p.epoch * stepsPerEpoch + p.step;
        if (step < t0 || step > t0 + schedule.steps || (step - t0) % frequency !== 0) return;
        const sparsity = agpSparsity(step, schedule);
        const current = inferenceModelWith(start.model, session.modelValues());
        const next = pruneUnstructured(current, { ...prune, sparsity, previousMasks: masks });
        masks = next.masks;
        report = next.report;
        // Zero the newly pruned weights now, so the next forward pass already runs the pruned model.
        const weights = new Map<string, Tensor>();
        for (const [name, mask] of masks) weights.set(name, maskedWeight(session.values.get(name)!, mask));
        session.load(weights);
        updates.push({ step, sparsity, pruned: next.report.total.pruned });
      },
    });
    const model = inferenceModelWith(start.model, session.modelValues());
    return { model, masks, report, updates, fit: result };
  } finally {
    await session.release();
  }
}
