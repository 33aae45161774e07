// Trials of the automated search on Node: the one setup both paths share (model file, --data, the validation split,
// loaders) and a TrialRunner that runs trials in worker threads. The main thread opens the data once and hands the
// samples the trials use to the workers in shared memory; each worker loads the model, builds the same context as
// trialContextFrom does in-process, and answers trials one at a time.
import { Worker } from 'node:worker_threads';
import { NnzipError } from '../core/errors.js';
import { DataType } from '../core/dtype.js';
import { Model } from '../core/ir.js';
import { TrialContext } from '../compress/auto/trial.js';
import { Trial, TrialResult, TrialRunner } from '../compress/auto/types.js';
import { Dataset, SubsetDataset, TensorDataset, firstSamples, sampleSize, shapeSize } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { LatencyOptions } from '../eval/measure.js';
import { loaderFeeds } from '../eval/fidelity.js';
import { nodeRuntime } from '../runtime/node.js';
import { checkClassesFit, checkDataFits } from '../train/trainer.js';
import { openDataset } from './datasets.js';
import { loadRunnableModel } from './load.js';

/** What a trial needs, as plain data (it crosses to the worker threads). */
export { loadRunnableModel };

export interface TrialSetup {
  /** The original model: ONNX, or .nnz (unpacked). */
  modelPath: string;
  /** A --data spec as openDataset takes it ('mnist', a folder, a file). Only its training split is used. */
  data: string;
  /** onnxruntime threads per trial (default 1). */
  threads?: number;
  /** Training batch size. */
  batch: number;
  /** Seeds the training shuffle and the latency inputs. */
  seed: number;
  /** Train on the first N training samples only (after the validation samples are set aside). */
  trainLimit?: number;
  /** The LAST `samples` samples of the training split are the validation set the search decides on; training uses the others. */
  validation: { samples: number };
  /** Calibration samples of static quantization, the first of the training samples (default 256). */
  calibSamples?: number;
  /** Measure onnxruntime latency of every trial (its seed defaults to `seed`). */
  latency?: LatencyOptions;
}

const DEFAULT_CALIB_SAMPLES = 256;
const CALIB_BATCH = 64;
const EVAL_BATCH = 500;


/** The training split, with its last `validation` samples split off. */
function splitValidation(train: Dataset, setup: TrialSetup): { training: Dataset; validation: Dataset } {
  const n = setup.validation.samples;
  if (!Number.isInteger(n) || n < 1 || n >= train.length) {
    throw new NnzipError(`--data ${setup.data}: validation of ${n} samples does not fit the training split of ${train.length} (it needs at least 1, and leaves at least 1 for training)`);
  }
  const range = (from: number, to: number) => Int32Array.from({ length: to - from }, (_, i) => from + i);
  const cut = train.length - n;
  return { training: new SubsetDataset(train, range(0, cut)), validation: new SubsetDataset(train, range(cut, train.length)) };
}

/**
 * Builds a trial context from the setup: the model (loaded from modelPath unless given), the training split of --data
 * (opened unless given) split into training and validation, the loaders and the calibration feeds. The CLI's in-process
 * runner, its final fine-tune and every worker build their context here, so they all see the same samples in the same order.
 */
export function trialContextFrom(setup: TrialSetup, given: { model?: Model; train?: Dataset } = {}): TrialContext {
  const model = given.model ?? loadRunnableModel(setup.modelPath);
  const train = given.train ?? openDataset(setup.data, 'train');
  const where = `--data ${setup.data}`;
  checkDataFits(model, train.sampleShape, where);
  checkClassesFit(model, train.classes, where);
  if (train.classes === undefined) throw new NnzipError(`${where}: the search measures accuracy, which needs class labels (this data has regression targets)`);
  const { training, validation } = splitValidation(train, setup);
  const trainSet = setup.trainLimit !== undefined ? firstSamples(training, setup.trainLimit) : training;
  const calibSamples = setup.calibSamples ?? DEFAULT_CALIB_SAMPLES;
  return {
    runtime: nodeRuntime,
    model,
    trainLoader: new DataLoader(trainSet, { batchSize: setup.batch, shuffle: true, seed: setup.seed }),
    evalLoader: new DataLoader(validation, { batchSize: EVAL_BATCH }),
    calibFeeds: () => [...loaderFeeds(model, new DataLoader(trainSet, { batchSize: CALIB_BATCH, limit: calibSamples }))],
    threads: setup.threads ?? 1,
    ...(setup.latency ? { latency: { seed: setup.seed, ...setup.latency } } : {}),
    loadModel: loadRunnableModel,
  };
}

/** The samples a worker needs, in shared memory: the used training samples, then the validation samples. */
export interface SharedSamples {
  inputs: Float32Array;
  labels: Int32Array | Float32Array;
  sampleShape: readonly number[];
  labelShape: readonly number[];
  classes: number | undefined;
  classNames?: readonly string[];
  source?: string;
}

/**
 * Copies the samples trials use (the first trainLimit training samples and the validation samples, in that order) into
 * SharedArrayBuffers. trialContextFrom over them gives the same loaders as over the whole split: the validation
 * samples are still the last, and the training samples the same, in the same order.
 */
export function shareTrialSamples(train: Dataset, setup: TrialSetup): SharedSamples {
  const { training, validation } = splitValidation(train, setup);
  const used = setup.trainLimit !== undefined ? Math.min(setup.trainLimit, training.length) : training.length;
  const indices = new Int32Array(used + validation.length);
  for (let i = 0; i < used; i++) indices[i] = i;
  for (let i = 0; i < validation.length; i++) indices[used + i] = training.length + i;
  const count = indices.length;
  const inputs = new Float32Array(new SharedArrayBuffer(count * sampleSize(train) * 4));
  const labels = train.labelType === DataType.INT64
    ? new Int32Array(new SharedArrayBuffer(count * 4))
    : new Float32Array(new SharedArrayBuffer(count * shapeSize(train.labelShape) * 4));
  train.readBatch(indices, inputs, labels);
  return {
    inputs, labels, sampleShape: train.sampleShape, labelShape: train.labelShape, classes: train.classes,
    ...(train.classNames ? { classNames: train.classNames } : {}), ...(train.source ? { source: train.source } : {}),
  };
}

export function datasetOfShared(s: SharedSamples): TensorDataset {
  return new TensorDataset({
    inputs: s.inputs, labels: s.labels, sampleShape: s.sampleShape, labelShape: s.labelShape, classes: s.classes, classNames: s.classNames, source: s.source,
  });
}

/** What the worker script receives as workerData. */
export interface TrialWorkerData {
  setup: TrialSetup;
  samples: SharedSamples;
}

export type ToTrialWorker = { kind: 'trial'; trial: Trial };
export type FromTrialWorker =
  | { kind: 'ready' }
  | { kind: 'setup-failed'; error: string }
  | { kind: 'result'; result: TrialResult };

export interface WorkerRunnerOptions extends TrialSetup {
  /** Worker threads, each running one trial at a time. */
  workers: number;
  /** onnxruntime threads of each worker's trials (default 1; overrides `threads`). */
  threadsPerWorker?: number;
  /** The worker entry (default: trial-worker.js beside this module). Tests give their own. */
  script?: URL;
}

interface Job {
  trial: Trial;
  resolve: (r: TrialResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
  job?: Job;
  /** The last 'error' event's message, for the crash report that follows it. */
  crash?: string;
}

/**
 * Runs trials in worker threads, one at a time per worker; trials beyond the workers wait in a queue.
 * - An error inside a trial comes back as TrialResult.error (runTrial never throws).
 * - A worker that dies while running a trial (uncaught error, out of memory, exit) rejects that trial's promise with
 *   an NnzipError naming the trial and the cause, and is replaced by a fresh worker; the other trials go on.
 * - A worker that cannot set up (model or data unreadable), the first ones or a replacement, fails the runner: every
 *   pending and later run() rejects with that error.
 */
class WorkerTrialRunner implements TrialRunner {
  readonly parallelism: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private failure?: Error;
  private closing = false;
  private readonly startups: Promise<void>[] = [];

  constructor(private readonly script: URL, private readonly data: TrialWorkerData, workers: number) {
    this.parallelism = workers;
    for (let i = 0; i < workers; i++) this.startups.push(this.spawn(i));
  }

  /** Resolves when every worker is set up; rejects with the first setup failure. */
  started(): Promise<void> {
    return Promise.all(this.startups).then(() => undefined);
  }

  private spawn(index: number): Promise<void> {
    return new Promise((resolveReady, rejectReady) => {
      const worker = new Worker(this.script, { workerData: this.data });
      const slot: Slot = { index, worker, ready: false };
      this.slots[index] = slot;
      worker.on('message', (m: FromTrialWorker) => {
        if (m.kind === 'ready') {
          slot.ready = true;
          resolveReady();
          this.dispatch();
        } else if (m.kind === 'setup-failed') {
          const error = new NnzipError(m.error);
          rejectReady(error);
          void this.fail(error);
        } else if (m.kind === 'result') {
          const job = slot.job;
          slot.job = undefined;
          job?.resolve(m.result);
          this.dispatch();
        }
      });
      worker.on('error', (e) => { slot.crash = e.message; });
      worker.on('exit', (code) => {
        if (this.closing || this.slots[index] !== slot) return;
        const cause = slot.crash ?? `exit code ${code}`;
        if (!slot.ready) {
          const error = new NnzipError(`trial worker ${index} stopped while setting up (${cause})`);
          rejectReady(error);
          void this.fail(error);
          return;
        }
        const job = slot.job;
        slot.job = undefined;
        job?.reject(new NnzipError(`trial ${job.trial.id} (${job.trial.origin}): its worker thread crashed (${cause})`));
        if (this.failure) return;
        // The replacement sets up again; until it is ready, its share of the queue waits.
        this.spawn(index).catch(() => undefined); // a failed replacement fails the runner (in its handlers)
      });
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!slot || !slot.ready || slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.postMessage({ kind: 'trial', trial: job.trial } satisfies ToTrialWorker);
    }
  }

  private async fail(error: Error): Promise<void> {
    if (this.failure || this.closing) return;
    this.failure = error;
    await this.shutDown(error);
  }

  private async shutDown(error: Error): Promise<void> {
    this.closing = true;
    for (const job of this.queue.splice(0)) job.reject(error);
    for (const slot of this.slots) {
      slot?.job?.reject(error);
      if (slot) slot.job = undefined;
    }
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  run(trial: Trial): Promise<TrialResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new NnzipError(`trial ${trial.id}: the trial runner is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ trial, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates the workers; trials still queued or running reject. */
  async close(): Promise<void> {
    if (this.closing) {
      await Promise.all(this.slots.map((s) => s?.worker.terminate()));
      return;
    }
    await this.shutDown(new NnzipError('the trial runner was closed before the trial finished'));
  }
}

/**
 * Starts `workers` worker threads that run trials with the setup's context. Opens the model and the data here first
 * (errors come before any thread starts), shares the samples the trials use, and resolves once every worker has
 * loaded the model; a worker that cannot set up rejects it.
 */
export async function createWorkerRunner(options: WorkerRunnerOptions): Promise<TrialRunner> {
  const { workers, threadsPerWorker, script, ...rest } = options;
  if (!Number.isInteger(workers) || workers < 1) throw new NnzipError(`--workers must be a positive integer, got ${workers}`);
  const setup: TrialSetup = { ...rest, threads: threadsPerWorker ?? rest.threads ?? 1 };
  const model = loadRunnableModel(setup.modelPath);
  const train = openDataset(setup.data, 'train');
  trialContextFrom(setup, { model, train }); // the checks, here, so that a bad setup fails before the threads start
  const data: TrialWorkerData = { setup, samples: shareTrialSamples(train, setup) };
  const runner = new WorkerTrialRunner(script ?? new URL('./trial-worker.js', import.meta.url), data, workers);
  try {
    await runner.started();
  } catch (e) {
    await runner.close();
    throw e;
  }
  return runner;
}
