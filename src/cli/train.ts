// nnzip train: trains a zoo architecture (or fine-tunes an ONNX model) on a data set, with onnxruntime running
// the training graph; writes the trained model as plain inference ONNX.
import { Command, Option } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { BatchTransform } from '../data/loader.js';
import { randomCrop, randomHorizontalFlip } from '../data/transforms.js';
import { evaluateClassifier } from '../eval/classification.js';
import { buildArch } from '../nn/zoo.js';
import { LoadedCheckpoint, TrainingPosition, loadCheckpoint, saveCheckpoint } from '../node/checkpoints.js';
import { openDataset } from '../node/datasets.js';
import { onInterrupt } from '../node/interrupt.js';
import { loadModel } from '../node/io.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { nodeRuntime } from '../runtime/node.js';
import { OptimizerSpec } from '../train/optimizers.js';
import { ScheduleSpec } from '../train/schedules.js';
import { NonFiniteError, TrainingSession } from '../train/session.js';
import { buildTrainingProgram, inferenceModelWith } from '../train/training-graph.js';
import { EarlyStoppingState, checkClassesFit, checkDataFits, fit } from '../train/trainer.js';
import { action, collect, fractionBelowOne, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, printJson, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';




export interface TrainOptions {
  arch?: string;
  init?: string;
  resume?: string;
  data: string;
  epochs: number;
  batch: number;
  optimizer: 'sgd' | 'adam' | 'adamw';
  lr?: number;
  momentum: number;
  nesterov?: boolean;
  weightDecay: number;
  schedule: ScheduleSpec['kind'];
  stepSize?: number;
  gamma: number;
  warmup: number;
  labelSmoothing: number;
  clipGradNorm?: number;
  freeze: string[];
  seed: number;
  threads: number;
  width: number;
  limit?: number;
  testLimit?: number;
  augment?: boolean;
  earlyStopping?: number;
  checkpointDir?: string;
  output: string;
  json?: boolean;
  quiet?: boolean;
}

function optimizerOf(o: TrainOptions): OptimizerSpec {
  if (o.optimizer === 'sgd') return { kind: 'sgd', momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay };
  return { kind: o.optimizer, weightDecay: o.weightDecay };
}

function scheduleOf(o: TrainOptions, stepsPerEpoch: number): ScheduleSpec {
  switch (o.schedule) {
    case 'step': return { kind: 'step', stepSize: (o.stepSize ?? Math.max(1, Math.floor(o.epochs / 3))) * stepsPerEpoch, gamma: o.gamma };
    case 'one-cycle': return { kind: 'one-cycle' };
    default: return { kind: o.schedule } as ScheduleSpec;
  }
}

/** The options that decide a run's result for a given starting point; a resume that changes one gets a warning. */
function resultSettings(o: TrainOptions): Record<string, unknown> {
  return {
    data: o.data, epochs: o.epochs, batch: o.batch, optimizer: o.optimizer, lr: o.lr ?? null, momentum: o.momentum, nesterov: !!o.nesterov,
    weightDecay: o.weightDecay, schedule: o.schedule, stepSize: o.stepSize ?? null, gamma: o.gamma, warmup: o.warmup,
    labelSmoothing: o.labelSmoothing, clipGradNorm: o.clipGradNorm ?? null, freeze: o.freeze, seed: o.seed, threads: o.threads,
    limit: o.limit ?? null, augment: !!o.augment, earlyStopping: o.earlyStopping ?? null,
  };
}

function startingModel(o: TrainOptions, train: Dataset): { model: Model } & Partial<LoadedCheckpoint> {
  const given = [o.arch, o.init, o.resume].filter(Boolean).length;
  if (given !== 1) throw new NnzipError('give exactly one of --arch ARCH, --init MODEL.onnx or --resume CHECKPOINT.onnx');
  if (o.resume) return loadCheckpoint(o.resume);
  if (o.init) return { model: loadModel(o.init) };
  if (train.classes === undefined) throw new NnzipError(`--data ${o.data}: zoo architectures need class labels; this data set has regression targets`);
  return { model: buildArch(o.arch!, { inputShape: [...train.sampleShape], classes: train.classes, seed: o.seed, width: o.width }) };
}

export function trainCommand(): Command {
  return withCommonOptions(new Command('train'))
    .description('train a zoo architecture, or fine-tune an ONNX model, on a data set')
    .option('--arch <arch>', 'architecture: lenet-300-100, lenet-5, mlp:784-300-100-10, resnet-8/20/56, resnet-18')
    .option('--init <model.onnx>', 'fine-tune this ONNX model instead of a new architecture')
    .option('--resume <checkpoint.onnx>', 'continue a run from a checkpoint (an epoch of --checkpoint-dir, or the one an interruption wrote); with the same options it ends as the uninterrupted run would')
    .requiredOption('--data <data>', "'mnist', an IDX/image/NPY/CSV folder, or a .npy/.csv file")
    .option('--epochs <n>', 'epochs (0 writes the initialized, untrained model: a start for sparse training from scratch)', nonNegativeInt('--epochs'), 1)
    .option('--batch <b>', 'batch size', positiveInt('--batch'), 64)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam', 'adamw']).default('sgd'))
    .option('--lr <lr>', 'learning rate (default 0.01 for sgd, 0.001 for adam/adamw)', positiveNumber('--lr'))
    .option('--momentum <m>', 'SGD momentum', nonNegativeNumber('--momentum'), 0.9)
    .option('--nesterov', 'Nesterov momentum')
    .option('--weight-decay <wd>', 'weight decay', nonNegativeNumber('--weight-decay'), 0)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule').choices(['constant', 'step', 'cosine', 'linear', 'one-cycle']).default('constant'))
    .option('--step-size <epochs>', 'step schedule: epochs between decays', positiveInt('--step-size'))
    .option('--gamma <g>', 'step schedule: decay factor', positiveNumber('--gamma'), 0.1)
    .option('--warmup <steps>', 'linear warm-up steps', nonNegativeInt('--warmup'), 0)
    .option('--label-smoothing <e>', 'cross-entropy label smoothing', fractionBelowOne('--label-smoothing'), 0)
    .option('--clip-grad-norm <n>', 'clip the global gradient norm', positiveNumber('--clip-grad-norm'))
    .option('--freeze <pattern>', 'keep parameters matching this name pattern fixed (repeatable; * matches anything)', collect, [])
    .option('--seed <s>', 'seed of weights, shuffling and augmentation', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .option('--width <w>', 'width multiplier of zoo architectures', positiveNumber('--width'), 1)
    .option('--limit <n>', 'train on the first N samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on the first N test samples only', positiveInt('--test-limit'))
    .option('--augment', 'random crop (padding 4 for 32 px, 2 otherwise) and, for color images, horizontal flips')
    .option('--early-stopping <patience>', 'stop after this many epochs without a better test accuracy', positiveInt('--early-stopping'))
    .option('--checkpoint-dir <dir>', 'write epoch-N.onnx (and optimizer state) after every epoch')
    .option('--quiet', 'no progress bar')
    .requiredOption('-o, --output <out.onnx>', 'where to write the trained model')
    .action(action(async (opts: TrainOptions) => {
      const started = performance.now();
      const train = openDataset(opts.data, 'train');
      const test = openDataset(opts.data, 'test');
      const start = startingModel(opts, train);
      const { model } = start;
      checkDataFits(model, train.sampleShape, `--data ${opts.data}`);
      checkClassesFit(model, train.classes, `--data ${opts.data}`);
      const inputs = [opts.init, opts.resume].filter((x): x is string => !!x);
      if (inputs.some((i) => i === opts.output)) throw new NnzipError(`${opts.output}: output would overwrite the input model; choose another output path`);
      const settings = resultSettings(opts);
      if (start.settings) {
        const changed = Object.keys(settings).filter((k) => k in start.settings! && JSON.stringify(start.settings![k]) !== JSON.stringify(settings[k]));
        if (changed.length) process.stderr.write(`nnzip: warning: resuming with different ${changed.map((k) => `${k} (was ${JSON.stringify(start.settings![k])}, now ${JSON.stringify(settings[k])})`).join(', ')}; the result will differ from an uninterrupted run\n`);
      }
      const optimizer = optimizerOf(opts);
      const lr = opts.lr ?? (opts.optimizer === 'sgd' ? 0.01 : 0.001);
      const transforms: BatchTransform[] = [];
      if (opts.augment) {
        const [c, h] = [train.sampleShape[0] ?? 1, train.sampleShape[1] ?? 0];
        if (train.sampleShape.length === 3) transforms.push(randomCrop(h >= 32 ? 4 : 2));
        if (c === 3) transforms.push(randomHorizontalFlip());
      }
      // fit() is done with each batch before it asks for the next, so the loader may refill one pair of buffers.
      const loader = new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, transforms, reuseBuffers: true });
      const testLoader = new DataLoader(test, { batchSize: 500, limit: opts.testLimit });
      const stepsPerEpoch = loader.batchCount;
      const program = buildTrainingProgram(model, { optimizer, freeze: opts.freeze, clipGradNorm: opts.clipGradNorm, losses: train.classes === undefined ? [{ kind: 'mse' }] : [{ kind: 'cross-entropy', labelSmoothing: opts.labelSmoothing }] });
      const session = await TrainingSession.create(nodeRuntime, program, optimizer, { threads: opts.threads });
      if (start.optimizerState) session.load(start.optimizerState);
      // Steps done so far: Adam's bias correction and the schedule go on from there.
      session.step = start.step ?? (start.epochsDone ?? 0) * stepsPerEpoch + (start.stepInEpoch ?? 0);
      const startEpoch = Math.floor(session.step / stepsPerEpoch);
      const progress = trainingProgress(!opts.quiet && !opts.json);
      const controller = new AbortController();
      const stopHandling = onInterrupt(() => controller.abort());
      if (opts.checkpointDir) mkdirSync(opts.checkpointDir, { recursive: true });
      const optimizerValues = () => new Map([...session.values].filter(([k]) => program.carried.some((c) => c.input === k && c.role === 'optimizer')));
      let earlyStopping: EarlyStoppingState | undefined = start.earlyStopping;
      const position = (): TrainingPosition => ({
        epochsDone: Math.floor(session.step / stepsPerEpoch), stepInEpoch: session.step % stepsPerEpoch, step: session.step, earlyStopping, settings,
      });
      let result;
      try {
        result = await fit(session, model, loader, {
          epochs: opts.epochs, startEpoch, startStep: session.step - startEpoch * stepsPerEpoch, earlyStoppingState: start.earlyStopping,
          lr, schedule: scheduleOf(opts, stepsPerEpoch), warmupSteps: opts.warmup,
          earlyStopping: opts.earlyStopping ? { patience: opts.earlyStopping } : undefined,
          evaluate: (m) => evaluateClassifier(nodeRuntime, m, testLoader, { threads: opts.threads }),
          onStep: (p) => progress.step(p),
          signal: controller.signal,
          onEpoch: (r, m, state) => {
            progress.stop();
            earlyStopping = state;
            if (opts.checkpointDir) saveCheckpoint(join(opts.checkpointDir, `epoch-${r.epoch + 1}.onnx`), m, position(), optimizerValues());
            if (!opts.json && train.classes !== undefined) {
              process.stderr.write(`epoch ${r.epoch + 1}/${opts.epochs}: train loss ${r.trainLoss.toFixed(4)}${r.trainAccuracy !== null ? `, train accuracy ${(100 * r.trainAccuracy).toFixed(2)}%` : ''}, ${Math.round(r.samplesPerSec)} samples/s${r.eval ? `; test accuracy ${(100 * r.eval.accuracy).toFixed(2)}%, loss ${r.eval.loss.toFixed(4)}` : ''}\n`);
            }
          },
        });
      } catch (e) {
        if (e instanceof NonFiniteError) {
          // The failed step changed nothing: the session still holds the last good values.
          const lastGood = opts.checkpointDir ? join(opts.checkpointDir, 'last-good.onnx') : `${opts.output.replace(/\.onnx$/, '')}.last-good.onnx`;
          saveCheckpoint(lastGood, inferenceModelWith(model, session.modelValues()), position(), optimizerValues());
          e.message = `${e.message}; training stopped, the last good weights are in ${lastGood}`;
        }
        throw e;
      } finally {
        progress.stop();
        stopHandling();
        await session.release();
      }
      const last = result.history[result.history.length - 1];
      const final = inferenceModelWith(model, session.modelValues());
      if (result.interrupted) {
        const partial = opts.checkpointDir ? join(opts.checkpointDir, 'interrupted.onnx') : `${opts.output.replace(/\.onnx$/, '')}.interrupted.onnx`;
        const at = position();
        saveCheckpoint(partial, final, at, optimizerValues());
        process.stderr.write(`nnzip: interrupted at epoch ${at.epochsDone + 1}, step ${at.stepInEpoch}/${stepsPerEpoch}; resume with the same options and --resume ${partial} (instead of ${opts.arch ? '--arch' : opts.init ? '--init' : '--resume'})\n`);
        process.exitCode = 130;
        return;
      }
      await saveCheckedModel(final, opts.output, { inputs, pass: 'training' });
      const trainSeconds = result.history.reduce((a, r) => a + r.seconds, 0);
      const trainSamples = result.history.reduce((a, r) => a + r.samples, 0);
      const evalResult = last?.eval;
      const report = {
        output: opts.output,
        accuracy: evalResult?.accuracy ?? null,
        top5: evalResult?.top5 ?? null,
        loss: evalResult?.loss ?? null,
        samplesPerSec: trainSeconds ? trainSamples / trainSeconds : 0,
        epochs: result.history.length,
        seconds: (performance.now() - started) / 1000,
        stoppedEarly: result.stoppedEarly,
        history: result.history.map((r) => ({ epoch: r.epoch + 1, trainLoss: r.trainLoss, trainAccuracy: r.trainAccuracy, testAccuracy: r.eval?.accuracy ?? null, testLoss: r.eval?.loss ?? null, samplesPerSec: r.samplesPerSec, lr: r.lr })),
      };
      if (opts.json) return printJson(report);
      process.stdout.write(`wrote ${opts.output}: test accuracy ${report.accuracy === null ? '-' : (100 * report.accuracy).toFixed(2) + '%'} after ${report.epochs} epoch${report.epochs === 1 ? '' : 's'} (${report.seconds.toFixed(1)} s, ${Math.round(report.samplesPerSec)} training samples/s)\n`);
    }));
}
