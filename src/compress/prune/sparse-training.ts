// Sparse training from scratch: a random mask at the target sparsity is drawn at initialization and the network is
// trained sparse from the first step. Static: the mask stays fixed (fineTuneMasked). Dynamic (SET, Mocanu et al. 2018;
// RigL, Evci et al. 2020): every few steps each layer drops its smallest-magnitude active weights and regrows as many
// inactive ones (SET at random, RigL where the dense gradient is largest), so each layer's sparsity stays exact.
//
// Dynamic masks are graph inputs fed with every step (as in AGP), so one training program serves the whole run. The
// update runs in fit()'s extraFeeds, before the step that follows the update step: it is async (RigL's gradient needs
// an onnxruntime run) and it sees the batch the next step trains on, which is the batch RigL takes its gradient from.
import { Model } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { Batch, DataLoader, mixSeed } from '../../data/loader.js';
import { SubsetDataset } from '../../data/dataset.js';
import { seededRandom } from '../../runtime/inputs.js';
import { ParameterHook } from '../../train/hooks.js';
import { stateFor } from '../../train/optimizers.js';
import { TrainingSession } from '../../train/session.js';
import { buildTrainingProgram, inferenceModelWith } from '../../train/training-graph.js';
import { FitResult, fit } from '../../train/trainer.js';
import { accumulateGradients } from './criteria.js';
import { MaskSet, PruneError, maskBits, maskTensor } from './masks.js';
import { DEFAULT_OPTIMIZER, FineTuneOptions, fineTuneMasked, maskInputHook } from './schedules.js';
import { LayerPruneReport, PruneOptions, PruneResult, checkSparsity, pruneUnstructured } from './unstructured.js';

export type DynamicSparsityKind = 'set' | 'rigl';

/** What a dynamic mask update saw, for callers that log or check updates. */
export interface SparseUpdateContext {
  /** The inference model with the weights as they were just before the update (inactive weights zero). */
  model: Model;
  /** Masks before and after the update. */
  before: MaskSet;
  after: MaskSet;
  /** RigL only: the one-batch loader the dense gradient was accumulated over (the next step's samples). */
  gradientLoader?: DataLoader;
}

export interface DynamicSparsity {
  kind: DynamicSparsityKind;
  /** Steps between mask updates (default 100). */
  every?: number;
  /** Fraction of each layer's active weights dropped and regrown per update, in (0, 1] (default 0.3), cosine-decayed. */
  fraction?: number;
  /** Fraction of the run's steps after which masks freeze, in (0, 1] (default 0.75). */
  stopAt?: number;
  /** Called after every update, before training goes on. */
  onUpdate?: (record: SparseUpdateRecord, context: SparseUpdateContext) => void | Promise<void>;
}

export interface SparseTrainingOptions extends Pick<PruneOptions, 'sparsity' | 'scope' | 'overrides' | 'skipFirst' | 'skipLast' | 'seed'> {
  /** Prune-and-regrow while training; absent: the initial random mask stays fixed. */
  dynamic?: DynamicSparsity;
  /**
   * Scale each masked layer's kept initial weights by 1/sqrt(density) (default true), so a layer's outputs keep the
   * variance the dense initialization was drawn for; unscaled, a 90%-sparse MLP starts with activations and gradients
   * a few times smaller per layer and barely trains in its first epochs.
   */
  scaleInit?: boolean;
}

export interface SparseLayerUpdate {
  name: string;
  /** Active (unmasked) weights, the same before and after every update. */
  active: number;
  dropped: number;
  regrown: number;
}

export interface SparseUpdateRecord {
  /** Global step (from 1) after which the masks changed. */
  step: number;
  /** The cosine-decayed drop fraction f_t of this update. */
  fraction: number;
  dropped: number;
  regrown: number;
  layers: SparseLayerUpdate[];
}

export interface SparseLayerReport {
  name: string;
  node: string;
  opType: string;
  params: number;
  mode: LayerPruneReport['mode'];
  /** Sparsity asked for (the global target for layers in the global pool). */
  target: number;
  /** Factor the initial weights were scaled by (1/sqrt(initial density), or 1). */
  initScale: number;
  /** Active weights under the final mask, and the sparsity that gives. */
  active: number;
  sparsity: number;
  /** Non-zero weights of the trained model (at most `active`). */
  nonzeros: number;
}

export interface SparseTrainingReport {
  kind: 'static' | DynamicSparsityKind;
  scope: 'layer' | 'global';
  sparsity: number;
  seed: number;
  layers: SparseLayerReport[];
  total: { params: number; active: number; sparsity: number };
}

export interface SparseTrainingResult {
  model: Model;
  masks: MaskSet;
  report: SparseTrainingReport;
  updates: SparseUpdateRecord[];
  fit: FitResult;
}

const SET_STREAM = 1;

/** RigL's drop fraction f_t = f/2 (1 + cos(pi t / T_end)); 0 from T_end on. */
export function cosineDropFraction(step: number, fraction: number, endStep: number): number {
  if (step >= endStep) return 0;
  return (fraction / 2) * (1 + Math.cos((Math.PI * step) / endStep));
}

function checkDynamic(dynamic: DynamicSparsity): Required<Omit<DynamicSparsity, 'onUpdate'>> {
  const { kind } = dynamic;
  if (kind !== 'set' && kind !== 'rigl') throw new PruneError(`unknown dynamic sparse training '${kind}' (use set or rigl)`);
  const every = dynamic.every ?? 100;
  if (!Number.isInteger(every) || every < 1) throw new PruneError(`${kind} mask updates need a positive whole number of steps between them, got ${every}`);
  const fraction = dynamic.fraction ?? 0.3;
  if (!(Number.isFinite(fraction) && fraction > 0 && fraction <= 1)) throw new PruneError(`${kind} drop fraction ${fraction} is outside (0, 1]`);
  const stopAt = dynamic.stopAt ?? 0.75;
  if (!(Number.isFinite(stopAt) && stopAt > 0 && stopAt <= 1)) throw new PruneError(`${kind} stopAt ${stopAt} is outside (0, 1] (a fraction of the training steps)`);
  return { kind, every, fraction, stopAt };
}

/**
 * The k candidates with the lowest scores, ties taken in candidate order (so the choice is deterministic and exactly k
 * even when many scores are equal, e.g. zero weights or zero gradients).
 */
function lowestK(candidates: Int32Array, score: (index: number) => number, k: number): Int32Array {
  if (k <= 0) return new Int32Array(0);
  if (k >= candidates.length) return candidates.slice();
  const scores = Float32Array.from(candidates, score);
  const threshold = scores.slice().sort()[k - 1]!;
  const out = new Int32Array(k);
  let n = 0;
  for (let j = 0; j < candidates.length; j++) if (scores[j]! < threshold) out[n++] = candidates[j]!;
  for (let j = 0; j < candidates.length && n < k; j++) if (scores[j] === threshold) out[n++] = candidates[j]!;
  return out;
}

/** k candidates drawn uniformly without replacement (a partial Fisher-Yates shuffle). */
function randomK(candidates: Int32Array, k: number, random: () => number): Int32Array {
  const pool = candidates.slice();
  const take = Math.min(k, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    const t = pool[i]!; pool[i] = pool[j]!; pool[j] = t;
  }
  return pool.slice(0, take);
}

/** A copy of the tensor with the given positions set to +0. */
function zeroedAt(t: Tensor, positions: Int32Array[]): Tensor {
  const data = t.numeric();
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const out = data.slice();
    for (const ps of positions) for (const p of ps) out[p] = 0;
    return new Tensor(t.name, t.dataType, t.dims, out);
  }
  const values = t.toNumbers();
  for (const ps of positions) for (const p of ps) values[p] = 0;
  return Tensor.fromNumbers(t.name, t.dataType, t.dims, values);
}

/** The masked model with each masked layer's weights scaled by 1/sqrt(density); returns the factors used. */
function scaleToDensity(start: PruneResult): { model: Model; scales: Map<string, number> } {
  const model = start.model.clone();
  const scales = new Map<string, number>();
  for (const [name, mask] of start.masks) {
    const density = maskBits(mask).reduce((a, b) => a + b, 0) / mask.size;
    if (density <= 0 || density >= 1) continue;
    const scale = 1 / Math.sqrt(density);
    const w = model.graph.initializers.get(name)!;
    const data = w.numeric();
    const scaled = data instanceof Float32Array || data instanceof Float64Array
      ? new Tensor(name, w.dataType, w.dims, data.map((v) => v * scale))
      : Tensor.fromNumbers(name, w.dataType, w.dims, w.toNumbers().map((v) => v * scale));
    model.graph.initializers.set(name, scaled);
    scales.set(name, scale);
  }
  return { model, scales };
}

function report(kind: SparseTrainingReport['kind'], options: SparseTrainingOptions, start: PruneResult, scales: Map<string, number>, masks: MaskSet, model: Model): SparseTrainingReport {
  const layers = start.report.layers.map((l): SparseLayerReport => {
    const mask = masks.get(l.name);
    const active = mask ? maskBits(mask).reduce((a, b) => a + b, 0) : l.params;
    const w = model.graph.initializers.get(l.name)!;
    let nonzeros = 0;
    for (let i = 0; i < w.size; i++) if (w.at(i) !== 0) nonzeros++;
    return { name: l.name, node: l.node, opType: l.opType, params: l.params, mode: l.mode, target: l.target, initScale: scales.get(l.name) ?? 1, active, sparsity: l.params ? 1 - active / l.params : 0, nonzeros };
  });
  const params = layers.reduce((a, l) => a + l.params, 0);
  const active = layers.reduce((a, l) => a + l.active, 0);
  return {
    kind, scope: options.scope ?? 'layer', sparsity: options.sparsity, seed: options.seed ?? 0, layers,
    total: { params, active, sparsity: params ? 1 - active / params : 0 },
  };
}

/**
 * Trains `model` (the initialization, e.g. an untrained zoo model) sparse from the first step: a seeded random mask at
 * the target sparsity (per layer or global, with overrides and skipped layers as in pruneUnstructured), the weights
 * masked (and scaled to the sparse fan-in unless scaleInit is false), then trained. With `dynamic`, masks are updated
 * SET- or RigL-style until `stopAt` of the run, keeping each layer's number of active weights constant; regrown
 * weights start at 0 with fresh optimizer state.
 */
export async function trainSparse(model: Model, options: SparseTrainingOptions, fineTune: FineTuneOptions): Promise<SparseTrainingResult> {
  checkSparsity(options.sparsity, 'sparsity');
  const dynamic = options.dynamic ? checkDynamic(options.dynamic) : undefined;
  const { sparsity, scope, overrides, skipFirst, skipLast, seed } = options;
  const pruned = pruneUnstructured(model, { sparsity, scope, overrides, skipFirst, skipLast, seed, method: 'random' });
  const scaled = options.scaleInit === false ? { model: pruned.model, scales: new Map<string, number>() } : scaleToDensity(pruned);
  const start: PruneResult = { ...pruned, model: scaled.model };

  if (!dynamic) {
    const tuned = await fineTuneMasked(start.model, start.masks, fineTune);
    return { model: tuned.model, masks: start.masks, report: report('static', options, start, scaled.scales, start.masks, tuned.model), updates: [], fit: tuned.fit };
  }

  const optimizer = fineTune.optimizer ?? DEFAULT_OPTIMIZER;
  const hooks: Record<string, ParameterHook[]> = {};
  for (const [name, mask] of start.masks) hooks[name] = [maskInputHook(mask)];
  const program = buildTrainingProgram(start.model, { optimizer, hooks, losses: fineTune.losses });
  const session = await TrainingSession.create(fineTune.runtime, program, optimizer, { threads: fineTune.threads });

  let masks = start.masks;
  const names = [...masks.keys()];
  const stepsPerEpoch = fineTune.loader.batchCount;
  const endStep = Math.round(dynamic.stopAt * fineTune.epochs * stepsPerEpoch);
  const random = seededRandom(mixSeed(seed ?? 0, SET_STREAM));
  const updates: SparseUpdateRecord[] = [];
  let stepsDone = (fineTune.fit?.startEpoch ?? 0) * stepsPerEpoch;
  let lastUpdate = stepsDone;

  const update = async (step: number, next: Batch) => {
    const fraction = cosineDropFraction(step, dynamic.fraction, endStep);
    const current = inferenceModelWith(start.model, session.modelValues());
    let gradients: Map<string, Float32Array> | undefined;
    let gradientLoader: DataLoader | undefined;
    if (dynamic.kind === 'rigl') {
      // Dense gradient: a program without mask hooks over the next step's samples, at the current (masked) weights.
      const loader = fineTune.loader;
      gradientLoader = new DataLoader(new SubsetDataset(loader.dataset, Int32Array.from(next.indices)), { batchSize: next.size, seed: loader.seed, transforms: loader.transforms });
      gradients = await accumulateGradients(fineTune.runtime, current, gradientLoader, names, { batches: 1, threads: fineTune.threads });
    }
    const nextMasks: MaskSet = new Map();
    const values = new Map<string, Tensor>();
    const layers: SparseLayerUpdate[] = [];
    for (const [name, mask] of masks) {
      const bits = maskBits(mask);
      const weight = session.values.get(name)!;
      const w = weight.toFloat32();
      const active: number[] = [], inactive: number[] = [];
      for (let i = 0; i < bits.length; i++) (bits[i] ? active : inactive).push(i);
      // Regrowth picks among weights inactive before this update, so at most that many can move.
      const k = Math.min(Math.round(fraction * active.length), inactive.length);
      const dropped = lowestK(Int32Array.from(active), (i) => Math.abs(w[i]!), k);
      const g = gradients?.get(name);
      const regrown = g ? lowestK(Int32Array.from(inactive), (i) => -Math.abs(g[i]!), k) : randomK(Int32Array.from(inactive), k, random);
      const keep = bits.slice();
      for (const i of dropped) keep[i] = 0;
      for (const i of regrown) keep[i] = 1;
      nextMasks.set(name, maskTensor(weight, keep));
      // Dropped weights become 0; regrown ones start at 0; both get fresh optimizer state (no stale momentum).
      values.set(name, zeroedAt(weight, [dropped, regrown]));
      for (const s of stateFor(optimizer, name, weight)) {
        const state = session.values.get(s.input);
        if (state) values.set(s.input, zeroedAt(state, [dropped, regrown]));
      }
      layers.push({ name, active: active.length, dropped: dropped.length, regrown: regrown.length });
    }
    session.load(values);
    const before = masks;
    masks = nextMasks;
    const record: SparseUpdateRecord = {
      step, fraction, layers,
      dropped: layers.reduce((a, l) => a + l.dropped, 0), regrown: layers.reduce((a, l) => a + l.regrown, 0),
    };
    updates.push(record);
    await options.dynamic?.onUpdate?.(record, { model: current, before, after: masks, gradientLoader });
  };

  try {
    const result = await fit(session, start.model, fineTune.loader, {
      ...fineTune.fit, epochs: fineTune.epochs, lr: fineTune.lr,
      extraFeeds: async (batch) => {
        if (stepsDone !== lastUpdate && stepsDone % dynamic.every === 0 && stepsDone < endStep) {
          lastUpdate = stepsDone;
          await update(stepsDone, batch);
        }
        return { ...(await fineTune.fit?.extraFeeds?.(batch)), ...Object.fromEntries([...masks].map(([name, m]) => [`${name}.mask`, m])) };
      },
      onStep: (p) => {
        stepsDone = p.epoch * stepsPerEpoch + p.step;
        fineTune.fit?.onStep?.(p);
      },
    });
    const trained = inferenceModelWith(start.model, session.modelValues());
    return { model: trained, masks, report: report(dynamic.kind, options, start, scaled.scales, masks, trained), updates, fit: result };
  } finally {
    await session.release();
  }
}
