// The training loop: epochs of steps over a loader, a learning-rate schedule, evaluation after each epoch, early
// stopping, and callbacks for progress and checkpoints. Isomorphic: file writing is the caller's (CLI) business.
import { DataType } from '../core/dtype.js';
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { Batch, DataLoader } from '../data/loader.js';
import { ClassificationMeter, ClassificationResult, asModelInput } from '../eval/classification.js';
import { makeSchedule, ScheduleSpec } from './schedules.js';
import { TrainingSession } from './session.js';
import { TrainingError, inferenceModelWith } from './training-graph.js';

export interface StepProgress {
  epoch: number;
  /** Step within the epoch, from 1. */
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
  samplesPerSec: number;
  /** Seconds left in this epoch at the current speed. */
  etaSeconds: number;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number | null;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  eval?: ClassificationResult;
}

export interface FitOptions {
  epochs: number;
  lr: number;
  schedule?: ScheduleSpec;
  warmupSteps?: number;
  /** First epoch to run (0-based), when resuming. */
  startEpoch?: number;
  /** Steps of startEpoch already done (resuming an interrupted epoch): its first batches are skipped. */
  startStep?: number;
  /** Early-stopping state carried over from the interrupted run. */
  earlyStoppingState?: EarlyStoppingState;
  /** Evaluates the current inference model after each epoch (e.g. test accuracy). */
  evaluate?: (model: Model, epoch: number) => Promise<ClassificationResult>;
  /** Stop when evaluation accuracy has not improved by minDelta for `patience` epochs. */
  earlyStopping?: { patience: number; minDelta?: number };
  /** Extra feeds a batch needs (teacher logits for distillation). */
  extraFeeds?: (batch: Batch) => Promise<Record<string, Tensor>>;
  onStep?: (p: StepProgress) => void;
  /** Called after each epoch with the inference model of that epoch and the early-stopping state (checkpointing). */
  onEpoch?: (record: EpochRecord, model: Model, earlyStopping: EarlyStoppingState) => void | Promise<void>;
  /** Checked between steps: when aborted, the loop ends after the current step. */
  signal?: AbortSignal;
}

/** Where early stopping stands: the best score so far, its epoch, and the epochs since. */
export interface EarlyStoppingState {
  best: number;
  bestEpoch: number;
  sinceBest: number;
}

export interface FitResult {
  history: EpochRecord[];
  stoppedEarly: boolean;
  interrupted: boolean;
  /**
   * When interrupted: the epoch that was running and the steps of it already done (0 when the signal came between
   * epochs). Epochs before it are complete and in `history`; the interrupted one is not.
   */
  interruptedAt?: { epoch: number; step: number };
  /** Epoch with the best evaluation accuracy (or the last). */
  bestEpoch: number;
  earlyStoppingState: EarlyStoppingState;
}

/** Checks a data set's sample shape against the model's input (batch axis excluded). */
export function checkDataFits(model: Model, sampleShape: readonly number[], source: string): void {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  const shape = input?.type?.kind === 'tensor' ? input.type.shape : undefined;
  if (!shape) return;
  const want = shape.slice(1);
  const fits = want.length === sampleShape.length && want.every((d, i) => typeof d !== 'number' || d === sampleShape[i]);
  const flat = want.length === 1 && typeof want[0] === 'number' && want[0] === sampleShape.reduce((a, b) => a * b, 1);
  if (!fits && !flat) {
    throw new TrainingError(`${source}: samples of shape [${sampleShape.join(', ')}] do not fit the model's input '${input!.name}' [${shape.map((d) => d ?? '?').join(', ')}]`);
  }
}

/** Checks that every class of the data set has an output in the model (labels must index the model's outputs). */
export function checkClassesFit(model: Model, classes: number | undefined, source: string): void {
  if (classes === undefined) return;
  const out = model.graph.outputs[0];
  const shape = out?.type?.kind === 'tensor' ? out.type.shape : undefined;
  const outputs = shape?.length === 2 ? shape[1] : undefined;
  if (typeof outputs === 'number' && classes > outputs) {
    throw new TrainingError(`${source}: labels go up to ${classes - 1}, but the model's output '${out!.name}' has only ${outputs} classes`);
  }
}

export async function fit(session: TrainingSession, source: Model, loader: DataLoader, options: FitOptions): Promise<FitResult> {
  const program = session.program;
  const stepsPerEpoch = loader.batchCount;
  const startEpoch = options.startEpoch ?? 0;
  const schedule = makeSchedule(options.schedule ?? { kind: 'constant' }, options.lr, stepsPerEpoch * options.epochs, { warmupSteps: options.warmupSteps });
  const inputType = program.model.graph.inputs.find((v) => v.name === program.dataInput)?.type;
  const rank = inputType?.kind === 'tensor' ? inputType.shape?.length : undefined;
  const labelsInput = program.lossInputs.find((i) => i.elemType === DataType.INT64)?.name;
  const targetsInput = program.lossInputs.find((i) => i.name === 'targets')?.name;
  const history: EpochRecord[] = [];
  const resumed = options.earlyStoppingState;
  let best = resumed?.best ?? -Infinity, bestEpoch = resumed?.bestEpoch ?? startEpoch, sinceBest = resumed?.sinceBest ?? 0;
  let stoppedEarly = false;
  let interruptedAt: FitResult['interruptedAt'];

  for (let epoch = startEpoch; epoch < options.epochs; epoch++) {
    const meter = new ClassificationMeter();
    let lossSum = 0, samples = 0, lr = options.lr;
    const started = performance.now();
    // A resumed epoch skips the batches done before the interruption; the loader's order and transforms depend
    // only on the seed, the epoch and the batch index, so the remaining batches are the ones the run would have seen.
    const skip = epoch === startEpoch ? options.startStep ?? 0 : 0;
    let stepInEpoch = 0;
    for (const batch of loader.batches(epoch)) {
      if (stepInEpoch < skip) { stepInEpoch++; continue; }
      if (options.signal?.aborted) break;
      lr = schedule(epoch * stepsPerEpoch + stepInEpoch);
      const data = asModelInput(batch.inputs, program.dataInput, rank);
      const feeds: Record<string, Tensor> = options.extraFeeds ? await options.extraFeeds(batch) : {};
      if (labelsInput) feeds[labelsInput] = batch.labels;
      if (targetsInput) feeds[targetsInput] = batch.labels;
      const r = await session.run(data, feeds, lr);
      stepInEpoch++;
      lossSum += r.loss * batch.size;
      samples += batch.size;
      if (labelsInput && r.output.dims.length === 2) meter.add(r.output, batch.labels);
      const seconds = (performance.now() - started) / 1000;
      const done = stepInEpoch - skip;
      options.onStep?.({
        epoch, step: stepInEpoch, stepsPerEpoch, loss: r.loss, lr, samplesPerSec: samples / seconds,
        etaSeconds: (seconds / done) * (stepsPerEpoch - stepInEpoch),
      });
    }
    if (stepInEpoch < stepsPerEpoch) { interruptedAt = { epoch, step: stepInEpoch }; break; }
    const seconds = (performance.now() - started) / 1000;
    const model = inferenceModelWith(source, session.modelValues());
    const record: EpochRecord = {
      epoch, lr, trainLoss: samples ? lossSum / samples : 0, trainAccuracy: labelsInput && meter.samples ? meter.correct / meter.samples : null,
      samples, seconds, samplesPerSec: samples / seconds,
    };
    if (options.evaluate) record.eval = await options.evaluate(model, epoch);
    const score = record.eval?.accuracy ?? -record.trainLoss;
    if (score > best + (options.earlyStopping?.minDelta ?? 0)) { best = score; bestEpoch = epoch; sinceBest = 0; } else sinceBest++;
    history.push(record);
    await options.onEpoch?.(record, model, { best, bestEpoch, sinceBest });
    if (options.earlyStopping && sinceBest >= options.earlyStopping.patience) { stoppedEarly = true; break; }
  }
  return { history, stoppedEarly, interrupted: interruptedAt !== undefined, interruptedAt, bestEpoch, earlyStoppingState: { best, bestEpoch, sinceBest } };
}
