// Issue 7 acceptance (hints): a resnet-8 student distilled from a resnet-20 teacher (KD 'kl' T=4 weight 0.5 +
// cross-entropy 0.5), once without and once with one FitNets hint (teacher tensor after its first stage -> the
// student's tensor after its first stage, through a learned 1x1 conv adapter), for several seeds. Teacher outputs
// are computed online by onnxruntime per batch. Prints a per-seed table and the averages (test error on all 10k).
//
//   npm run build && node scripts/experiments/hints.mjs --teacher /tmp/resnet-20.onnx [--seeds 1,2,3] [--train 20000]
//     [--epochs 1] [--batch 64] [--lr 0.05] [--hint-weight 1] [--teacher-hint layer1.2.relu2] [--student-hint layer1.0.relu2]
import { parseArgs } from 'node:util';
import { DataLoader } from '../../build/src/data/loader.js';
import { asModelInput, evaluateClassifier } from '../../build/src/eval/classification.js';
import { buildArch } from '../../build/src/nn/zoo.js';
import { openDataset } from '../../build/src/node/datasets.js';
import { loadModel } from '../../build/src/node/io.js';
import { nodeRuntime } from '../../build/src/runtime/node.js';
import { inferShapes } from '../../build/src/core/shape/infer.js';
import { TrainingSession } from '../../build/src/train/session.js';
import { fit } from '../../build/src/train/trainer.js';
import { buildTrainingProgram, inferenceModelWith } from '../../build/src/train/training-graph.js';

const { values: args } = parseArgs({
  options: {
    teacher: { type: 'string', default: '/tmp/resnet-20.onnx' },
    seeds: { type: 'string', default: '1,2,3' },
    train: { type: 'string', default: '20000' },
    epochs: { type: 'string', default: '1' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.05' },
    'hint-weight': { type: 'string', default: '1' },
    'teacher-hint': { type: 'string', default: 'layer1.2.relu2' },
    'student-hint': { type: 'string', default: 'layer1.0.relu2' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = args.seeds.split(',').map(Number);
const trainSamples = Number(args.train), epochs = Number(args.epochs), batchSize = Number(args.batch), lr = Number(args.lr);
const hintWeight = Number(args['hint-weight']), threads = Number(args.threads);
const teacherHint = args['teacher-hint'], studentHint = args['student-hint'];

const teacherModel = await loadModel(args.teacher);
const teacherFacts = inferShapes(teacherModel).values;
const hintShape = teacherFacts.get(teacherHint)?.shape;
if (!hintShape) throw new Error(`the teacher has no tensor '${teacherHint}'`);
const logitsName = teacherModel.graph.outputs[0].name;
teacherModel.graph.outputs.push({ name: teacherHint, type: { kind: 'tensor', elemType: 1, shape: hintShape } });
const teacher = await nodeRuntime.createSession(teacherModel, { threads });
const teacherInput = teacherModel.graph.inputs.find((v) => !teacherModel.graph.initializers.has(v.name)).name;

const trainSet = openDataset('mnist', 'train');
const testSet = openDataset('mnist', 'test');
const testLoader = new DataLoader(testSet, { batchSize: 500 });

async function run(seed, withHint) {
  const student = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10, seed });
  const optimizer = { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 };
  const losses = [
    { kind: 'cross-entropy', weight: 0.5 },
    { kind: 'kl', temperature: 4, weight: 0.5 },
    ...(withHint ? [{ kind: 'hint', student: studentHint, teacher: 'hint0_teacher', teacherShape: hintShape, weight: hintWeight, seed }] : []),
  ];
  const program = buildTrainingProgram(student, { optimizer, losses });
  const klInput = program.lossInputs.find((i) => i.name !== 'labels' && i.name !== 'hint0_teacher').name;
  const session = await TrainingSession.create(nodeRuntime, program, optimizer, { threads });
  const loader = new DataLoader(trainSet, { batchSize, shuffle: true, seed, limit: trainSamples, randomSubset: true, dropLast: true });
  const started = performance.now();
  await fit(session, student, loader, {
    epochs, lr, schedule: { kind: 'cosine' },
    extraFeeds: async (batch) => {
      const out = await teacher.run({ [teacherInput]: asModelInput(batch.inputs, teacherInput, 4) }, withHint ? [logitsName, teacherHint] : [logitsName]);
      const feeds = { [klInput]: out[logitsName].renamed(klInput) };
      if (withHint) feeds.hint0_teacher = out[teacherHint].renamed('hint0_teacher');
      return feeds;
    },
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const exported = inferenceModelWith(student, session.modelValues());
  const leaked = program.lossParams.filter((p) => exported.graph.initializers.has(p));
  if (leaked.length) throw new Error(`adapter leaked into the inference model: ${leaked.join(', ')}`);
  const result = await evaluateClassifier(nodeRuntime, exported, testLoader, { threads });
  await session.release();
  return { error: 1 - result.accuracy, trainSeconds };
}

const rows = [];
for (const seed of seeds) {
  const plain = await run(seed, false);
  const hinted = await run(seed, true);
  rows.push({ seed, plain, hinted });
  console.error(`seed ${seed}: KD ${(plain.error * 100).toFixed(2)}% (${plain.trainSeconds.toFixed(0)} s), KD+hint ${(hinted.error * 100).toFixed(2)}% (${hinted.trainSeconds.toFixed(0)} s)`);
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`resnet-8 student, resnet-20 teacher (${args.teacher}), MNIST ${trainSamples} training samples x ${epochs} epoch(s), batch ${batchSize}, SGD momentum 0.9 lr ${lr} cosine, wd 5e-4`);
console.log(`losses: 0.5 CE + 0.5 KD (T=4); hint: teacher '${teacherHint}' [${hintShape.join(',')}] -> student '${studentHint}' via 1x1 conv adapter, weight ${hintWeight}`);
console.log('| seed | KD test error | KD + hint test error |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.seed} | ${(r.plain.error * 100).toFixed(2)}% | ${(r.hinted.error * 100).toFixed(2)}% |`);
console.log(`| mean | ${(mean(rows.map((r) => r.plain.error)) * 100).toFixed(2)}% | ${(mean(rows.map((r) => r.hinted.error)) * 100).toFixed(2)}% |`);
await teacher.release();
