// Knowledge distillation on the training engine: the student trains on alpha · T²·KL(teacher ‖ student at T) plus
// (1 - alpha) · cross-entropy with the true labels ('soft'), or on cross-entropy with the teacher's argmax as the label
// ('hard'). FitNets hints add an MSE term per (teacher tensor, student tensor) pair, the teacher tensor fed per batch.
// The pieces (loss specs, a relabelled loader, per-batch feeds) come from prepareDistillation(), so pruning or QAT
// fine-tuning can train with a teacher too.
import { Model } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { Dataset, LabelBuffer } from '../../data/dataset.js';
import { Batch, DataLoader } from '../../data/loader.js';
import { LossSpec } from '../../train/losses.js';
import { TrainingSpec } from '../../train/training-graph.js';
import { FitResult } from '../../train/trainer.js';
import { FineTuneOptions, trainModel } from '../prune/schedules.js';
import { DistillError, Teacher, argmaxRows, listNames, outputClasses, tensorNames } from './teacher.js';

export interface HintPair {
  /** Tensor of the (first) teacher, exposed as an extra output and fed to the student's training graph. */
  teacher: string;
  /** Tensor of the student matched to it through a learned adapter. */
  student: string;
}

export interface DistillOptions {
  /** Softmax temperature of the soft targets (default 4). */
  temperature?: number;
  /** Weight of the soft (KL) term; hard-label cross-entropy gets 1 - alpha (default 0.9). Soft mode only. */
  alpha?: number;
  /** 'soft': KL to the teacher's softened outputs plus true-label CE; 'hard': CE on the teacher's argmax (default soft). */
  mode?: 'soft' | 'hard';
  hints?: HintPair[];
  /** Weight of each hint's MSE term (default 1). */
  hintWeight?: number;
  /** Run the teacher once per sample and reuse its outputs (the loader must not augment). Hard mode always labels once. */
  cache?: boolean;
  /** Teacher names for messages (file names). */
  teacherNames?: string[];
}

export const DEFAULT_TEMPERATURE = 4;
export const DEFAULT_ALPHA = 0.9;

export interface DistillReport {
  mode: 'soft' | 'hard';
  temperature: number;
  alpha: number;
  teachers: number;
  classes: number;
  hints: HintPair[];
  losses: LossSpec[];
  /** Samples whose teacher outputs were computed once and reused (cache, or hard mode's relabelling). */
  cachedSamples: number;
  /** Hard mode: fraction of training samples whose teacher label differs from the true label. */
  relabelled?: number;
}

export interface DistillationSetup {
  teacher: Teacher;
  losses: LossSpec[];
  /** The loader to train on (hard mode: the same samples labelled by the teacher). */
  loader: DataLoader;
  /** Per-batch feeds: teacher logits (soft) and hint tensors. */
  extraFeeds: (batch: Batch) => Promise<Record<string, Tensor>>;
  report: () => DistillReport;
  release: () => Promise<void>;
}

/** Graph input of the student's training graph that takes hint `i`'s teacher tensor. */
export function hintInputName(i: number): string {
  return `hint_teacher_${i}`;
}

/** A data set whose class labels are replaced (the samples stay the base's). */
class RelabelledDataset implements Dataset {
  readonly length: number;
  readonly sampleShape: readonly number[];
  readonly classes: number | undefined;
  readonly classNames?: readonly string[];
  readonly dataType;
  readonly labelType;
  readonly labelShape: readonly number[];
  readonly source?: string;

  constructor(private readonly base: Dataset, private readonly labels: Int32Array) {
    this.length = base.length;
    this.sampleShape = base.sampleShape;
    this.classes = base.classes;
    this.classNames = base.classNames;
    this.dataType = base.dataType;
    this.labelType = base.labelType;
    this.labelShape = base.labelShape;
    this.source = base.source;
  }

  readBatch(indices: ArrayLike<number>, inputs: Float32Array, labels: LabelBuffer): void {
    this.base.readBatch(indices, inputs, labels);
    for (let k = 0; k < indices.length; k++) {
      const label = this.labels[indices[k]!]!;
      if (labels instanceof BigInt64Array) labels[k] = BigInt(label); else labels[k] = label;
    }
  }
}

/** The teacher's argmax for every sample of the loader's data set, in data-set order. */
async function teacherLabels(teacher: Teacher, loader: DataLoader): Promise<{ labels: Int32Array; changed: number }> {
  const ordered = new DataLoader(loader.dataset, { batchSize: Math.max(loader.batchSize, 256) });
  const labels = new Int32Array(loader.dataset.length);
  let changed = 0;
  for (const batch of ordered.batches(0)) {
    const arg = argmaxRows((await teacher.run(batch.inputs)).logits);
    for (let k = 0; k < batch.size; k++) {
      labels[batch.indices[k]!] = arg[k]!;
      if (arg[k] !== batch.labels.at(k)) changed++;
    }
  }
  return { labels, changed };
}

/**
 * Opens the teacher(s) and works out the losses, the loader and the per-batch feeds for distilling into `student`.
 * The caller trains (trainModel or its own loop) and must call release().
 */
export async function prepareDistillation(student: Model, teachers: Model[], options: DistillOptions, fineTune: Pick<FineTuneOptions, 'runtime' | 'loader' | 'threads'>): Promise<DistillationSetup> {
  const mode = options.mode ?? 'soft';
  const temperature = options.temperature ?? DEFAULT_TEMPERATURE;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (mode !== 'soft' && mode !== 'hard') throw new DistillError(`distillation mode must be 'soft' or 'hard', got '${mode as string}'`);
  if (!(alpha >= 0 && alpha <= 1)) throw new DistillError(`alpha (the soft term's weight) must be in [0, 1], got ${alpha}`);
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new DistillError(`the temperature must be a positive number, got ${temperature}`);
  const hints = options.hints ?? [];
  if (hints.length) {
    const available = tensorNames(student);
    for (const h of hints) if (!available.includes(h.student)) throw new DistillError(`the student has no tensor '${h.student}' (hint ${h.teacher}:${h.student}); available: ${listNames(available)}`);
  }
  const studentClasses = outputClasses(student);
  if (studentClasses === undefined) throw new DistillError(`the student's output '${student.graph.outputs[0]?.name}' is not [batch, classes]`);
  const teacher = await Teacher.create(fineTune.runtime, teachers, { sampleShape: fineTune.loader.dataset.sampleShape, studentClasses }, {
    temperature, hintTensors: hints.map((h) => h.teacher), cache: options.cache, threads: fineTune.threads, names: options.teacherNames,
  });
  try {
    const hintLosses: LossSpec[] = hints.map((h, i) => {
      const teacherShape = teacher.outputShape(h.teacher);
      if (!teacherShape || teacherShape.slice(1).some((d) => typeof d !== 'number')) {
        throw new DistillError(`hint ${h.teacher}:${h.student}: the shape of teacher tensor '${h.teacher}' is not known (${teacherShape ? `[${teacherShape.map((d) => d ?? '?').join(', ')}]` : 'no shape'}); an adapter needs it`);
      }
      return { kind: 'hint', student: h.student, teacher: hintInputName(i), weight: options.hintWeight ?? 1, adapter: 'auto', teacherShape };
    });
    let loader = fineTune.loader;
    let losses: LossSpec[];
    let relabelled: number | undefined;
    let cachedSamples = 0;
    if (mode === 'hard') {
      const { labels, changed } = await teacherLabels(teacher, loader);
      relabelled = loader.dataset.length ? changed / loader.dataset.length : 0;
      cachedSamples = loader.dataset.length;
      loader = new DataLoader(new RelabelledDataset(loader.dataset, labels), {
        batchSize: loader.batchSize, shuffle: loader.shuffle, seed: loader.seed, dropLast: loader.dropLast, transforms: loader.transforms, reuseBuffers: loader.reuseBuffers,
      });
      losses = [{ kind: 'cross-entropy' }];
    } else {
      losses = [{ kind: 'kl', temperature, weight: alpha }, { kind: 'cross-entropy', weight: 1 - alpha }];
    }
    losses.push(...hintLosses);
    const needsTeacherPerBatch = mode === 'soft' || hints.length > 0;
    const extraFeeds = async (batch: Batch): Promise<Record<string, Tensor>> => {
      if (!needsTeacherPerBatch) return {};
      const out = await teacher.forBatch(batch, loader);
      const feeds: Record<string, Tensor> = {};
      if (mode === 'soft') feeds['teacher_logits'] = out.logits;
      hints.forEach((h, i) => { feeds[hintInputName(i)] = out.hints.get(h.teacher)!.renamed(hintInputName(i)); });
      return feeds;
    };
    return {
      teacher, losses, loader, extraFeeds,
      report: () => ({ mode, temperature, alpha, teachers: teachers.length, classes: teacher.classes, hints, losses, cachedSamples: cachedSamples || teacher.cachedSamples, relabelled }),
      release: () => teacher.release(),
    };
  } catch (e) {
    await teacher.release();
    throw e;
  }
}

/**
 * Trains `student` to match `teachers` (one model or an ensemble) with the training engine: fineTune gives the
 * runtime, loader, epochs, lr, optimizer and fit() options; `training` adds hooks or penalties (masks when
 * fine-tuning a pruned student). Returns the trained inference model, what was done, and the training history.
 */
export async function distill(
  student: Model,
  teachers: Model[],
  options: DistillOptions,
  fineTune: FineTuneOptions,
  training: Omit<TrainingSpec, 'optimizer' | 'losses'> = {},
): Promise<{ model: Model; report: DistillReport; fit: FitResult }> {
  const setup = await prepareDistillation(student, teachers, options, fineTune);
  try {
    const userFeeds = fineTune.fit?.extraFeeds;
    const trained = await trainModel(student, { ...training, losses: setup.losses }, {
      ...fineTune,
      loader: setup.loader,
      fit: { ...fineTune.fit, extraFeeds: async (batch) => ({ ...(await userFeeds?.(batch)), ...(await setup.extraFeeds(batch)) }) },
    });
    return { model: trained.model, report: setup.report(), fit: trained.fit };
  } finally {
    await setup.release();
  }
}
