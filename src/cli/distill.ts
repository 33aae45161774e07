// nnzip distill: trains a student (zoo architecture or ONNX model) to match one or more ONNX teachers on a data
// set; reports the teacher's and the student's test accuracy before and after.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { DistillError, HintPair, distill, DEFAULT_ALPHA, DEFAULT_TEMPERATURE } from '../compress/distill/index.js';
import { Teacher, outputClasses } from '../compress/distill/teacher.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { BatchTransform, DataLoader } from '../data/loader.js';
import { randomCrop, randomHorizontalFlip } from '../data/transforms.js';
import { evaluateClassifier } from '../eval/classification.js';
import { buildArch } from '../nn/zoo.js';
import { openDataset } from '../node/datasets.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { nodeRuntime } from '../runtime/node.js';
import { OptimizerSpec } from '../train/optimizers.js';
import { ScheduleSpec } from '../train/schedules.js';
import { checkClassesFit, checkDataFits } from '../train/trainer.js';
import { action, collect, nonNegativeInt, nonNegativeNumber, openModel, positiveInt, positiveNumber, printJson, unitInterval, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';

export interface DistillCliOptions {
  teacher: string[];
  student: string;
  data: string;
  temperature: number;
  alpha: number;
  mode: 'soft' | 'hard';
  hint: string[];
  hintWeight: number;
  cache?: boolean;
  epochs: number;
  batch: number;
  optimizer: 'sgd' | 'adam' | 'adamw';
  lr?: number;
  momentum: number;
  weightDecay: number;
  schedule: 'constant' | 'cosine' | 'linear';
  seed: number;
  threads: number;
  width: number;
  limit?: number;
  testLimit?: number;
  augment?: boolean;
  quiet?: boolean;
  output: string;
  json?: boolean;
}




/** TEACHER_TENSOR:STUDENT_TENSOR; names may hold ':' themselves, so the split that names existing tensors wins. */
export function parseHint(text: string, teacherNames: Set<string>, studentNames: Set<string>): HintPair {
  const splits: HintPair[] = [];
  for (let i = text.indexOf(':'); i > 0; i = text.indexOf(':', i + 1)) {
    if (i < text.length - 1) splits.push({ teacher: text.slice(0, i), student: text.slice(i + 1) });
  }
  if (!splits.length) throw new DistillError(`--hint '${text}': expected TEACHER_TENSOR:STUDENT_TENSOR`);
  return splits.find((s) => teacherNames.has(s.teacher) && studentNames.has(s.student)) ?? splits[0]!;
}

function studentOf(o: DistillCliOptions, sampleShape: readonly number[], classes: number | undefined): Model {
  if (o.student.endsWith('.onnx') || o.student.endsWith('.nnz') || existsSync(o.student)) return openModel(o.student, { runnable: true });
  if (classes === undefined) throw new NnzipError(`--data ${o.data}: distillation needs class labels; this data set has regression targets`);
  return buildArch(o.student, { inputShape: [...sampleShape], classes, seed: o.seed, width: o.width });
}

function optimizerOf(o: DistillCliOptions): OptimizerSpec {
  if (o.optimizer === 'sgd') return { kind: 'sgd', momentum: o.momentum, weightDecay: o.weightDecay };
  return { kind: o.optimizer, weightDecay: o.weightDecay };
}

const percent = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);

export function distillCommand(): Command {
  return withCommonOptions(new Command('distill'))
    .description('train a student to match one or more teachers (knowledge distillation)')
    .requiredOption('--teacher <t.onnx>', 'teacher model (repeat for an ensemble: softened probabilities are averaged)', collect, [])
    .requiredOption('--student <arch|s.onnx>', 'student: a zoo architecture (mlp:784-30-10, lenet-5, resnet-8, ...) or an ONNX model')
    .requiredOption('--data <data>', "'mnist', an IDX/image/NPY/CSV folder, or a .npy/.csv file")
    .option('--temperature <t>', 'softmax temperature of the soft targets', positiveNumber('--temperature'), DEFAULT_TEMPERATURE)
    .option('--alpha <a>', 'weight of the soft (KL) term; true-label cross-entropy gets 1 - alpha', unitInterval('--alpha'), DEFAULT_ALPHA)
    .addOption(new Option('--mode <mode>', "soft: match the teacher's softened outputs; hard: train on the teacher's argmax labels").choices(['soft', 'hard']).default('soft'))
    .option('--hint <teacher:student>', 'match a teacher tensor to a student tensor through a learned adapter (repeatable)', collect, [])
    .option('--hint-weight <w>', 'weight of each hint term', nonNegativeNumber('--hint-weight'), 1)
    .option('--cache', 'run the teacher once per sample and reuse its outputs every epoch')
    .requiredOption('--epochs <n>', 'epochs', positiveInt('--epochs'))
    .option('--batch <b>', 'batch size', positiveInt('--batch'), 64)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam', 'adamw']).default('sgd'))
    .option('--lr <lr>', 'learning rate (default 0.01 for sgd, 0.001 for adam/adamw)', positiveNumber('--lr'))
    .option('--momentum <m>', 'SGD momentum', nonNegativeNumber('--momentum'), 0.9)
    .option('--weight-decay <wd>', 'weight decay', nonNegativeNumber('--weight-decay'), 0)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule').choices(['constant', 'cosine', 'linear']).default('constant'))
    .option('--seed <s>', 'seed of the student weights (zoo) and the shuffling', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .option('--width <w>', 'width multiplier of zoo architectures', positiveNumber('--width'), 1)
    .option('--limit <n>', 'train on the first N samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on the first N test samples only', positiveInt('--test-limit'))
    .option('--augment', 'random crop (padding 4 for 32 px, 2 otherwise) and, for color images, horizontal flips, as train --augment (the teacher sees the same augmented batch)')
    .option('--quiet', 'no progress bar')
    .requiredOption('-o, --output <out.onnx>', 'where to write the distilled student')
    .action(action(async (opts: DistillCliOptions) => {
      const started = performance.now();
      if (!opts.teacher.length) throw new NnzipError('give at least one --teacher T.onnx');
      if ([...opts.teacher, opts.student].includes(opts.output)) throw new NnzipError(`${opts.output}: output would overwrite an input model; choose another output path`);
      const train = openDataset(opts.data, 'train');
      const test = openDataset(opts.data, 'test');
      const teachers = opts.teacher.map((t) => openModel(t, { runnable: true }));
      const student = studentOf(opts, train.sampleShape, train.classes);
      const teacherNames = new Set(teachers[0]!.graph.nodes.flatMap((n) => n.outputs));
      const studentNames = new Set(student.graph.nodes.flatMap((n) => n.outputs));
      const hints = opts.hint.map((h) => parseHint(h, teacherNames, studentNames));
      const transforms: BatchTransform[] = [];
      if (opts.augment) {
        const [c, h] = [train.sampleShape[0] ?? 1, train.sampleShape[1] ?? 0];
        if (train.sampleShape.length === 3) transforms.push(randomCrop(h >= 32 ? 4 : 2));
        if (c === 3) transforms.push(randomHorizontalFlip());
      }
      const loader = new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, transforms, reuseBuffers: true });
      const testLoader = new DataLoader(test, { batchSize: 500, limit: opts.testLimit });
      const evaluate = (m: Model) => evaluateClassifier(nodeRuntime, m, testLoader, { threads: opts.threads });

      // The teacher's accuracy (the ensemble's, for several), with the same checks distill() makes.
      const teacherCheck = await Teacher.create(nodeRuntime, teachers, { sampleShape: train.sampleShape, studentClasses: outputClasses(student) }, { temperature: opts.temperature, threads: opts.threads, names: opts.teacher });
      let teacherAccuracy: number;
      try {
        // Teacher-student mismatches first (the clearer message), then the data against the student.
        checkDataFits(student, train.sampleShape, `--data ${opts.data}`);
        checkClassesFit(student, train.classes, `--data ${opts.data}`);
        teacherAccuracy = await teacherCheck.accuracy(testLoader);
      } finally {
        await teacherCheck.release();
      }
      const before = await evaluate(student);

      const progress = trainingProgress(!opts.quiet && !opts.json);
      const lr = opts.lr ?? (opts.optimizer === 'sgd' ? 0.01 : 0.001);
      let result;
      try {
        result = await distill(student, teachers, {
          temperature: opts.temperature, alpha: opts.alpha, mode: opts.mode, hints, hintWeight: opts.hintWeight, cache: opts.cache, teacherNames: opts.teacher,
        }, {
          runtime: nodeRuntime, loader, epochs: opts.epochs, lr, optimizer: optimizerOf(opts), threads: opts.threads,
          fit: {
            schedule: { kind: opts.schedule } as ScheduleSpec,
            evaluate: (m) => evaluate(m),
            onStep: (p) => progress.step(p),
            onEpoch: (r) => {
              progress.stop();
              if (!opts.json) process.stderr.write(`epoch ${r.epoch + 1}/${opts.epochs}: train loss ${r.trainLoss.toFixed(4)}, ${Math.round(r.samplesPerSec)} samples/s${r.eval ? `; test accuracy ${percent(r.eval.accuracy)}` : ''}\n`);
            },
          },
        });
      } finally {
        progress.stop();
      }
      await saveCheckedModel(result.model, opts.output, { pass: 'distill', inputs: [...opts.teacher, opts.student].filter((p) => existsSync(p)) });
      const after = result.fit.history[result.fit.history.length - 1]?.eval ?? await evaluate(result.model);
      const report = {
        output: opts.output,
        teachers: opts.teacher,
        student: opts.student,
        mode: result.report.mode,
        temperature: result.report.temperature,
        alpha: result.report.alpha,
        hints: result.report.hints,
        teacherAccuracy,
        studentAccuracyBefore: before.accuracy,
        studentAccuracyAfter: after.accuracy,
        testError: 1 - after.accuracy,
        relabelled: result.report.relabelled ?? null,
        epochs: result.fit.history.length,
        seconds: (performance.now() - started) / 1000,
        history: result.fit.history.map((r) => ({ epoch: r.epoch + 1, trainLoss: r.trainLoss, testAccuracy: r.eval?.accuracy ?? null, lr: r.lr })),
      };
      if (opts.json) return printJson(report);
      process.stdout.write(`wrote ${opts.output}: student test accuracy ${percent(before.accuracy)} -> ${percent(after.accuracy)} (teacher ${percent(teacherAccuracy)}; ${report.mode}, T=${report.temperature}, alpha=${report.alpha}; ${report.seconds.toFixed(1)} s)\n`);
    }));
}
