import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InProcessRunner, trialId } from '../../src/compress/auto/trial.js';
import { Trial, TrialResult } from '../../src/compress/auto/types.js';
import { Batch } from '../../src/data/loader.js';
import { buildArch } from '../../src/nn/zoo.js';
import { openDataset } from '../../src/node/datasets.js';
import { saveModel } from '../../src/node/io.js';
import { TrialSetup, createWorkerRunner, datasetOfShared, shareTrialSamples, trialContextFrom } from '../../src/node/trial-workers.js';
import { Recipe, validateRecipe } from '../../src/recipe/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'nnzip-trials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = join(dir, 'lenet.onnx');
saveModel(buildArch('lenet-300-100', { seed: 11 }), modelPath);

const setup: TrialSetup = { modelPath, data: 'mnist', batch: 64, seed: 3, trainLimit: 512, validation: { samples: 500 }, threads: 1 };
const trialOf = (stages: unknown[], origin: string): Trial => {
  const recipe = validateRecipe({ stages });
  return { id: trialId(recipe), origin, recipe };
};

const firstBatch = (batches: Iterable<Batch>) => batches[Symbol.iterator]().next().value!;

test('trialContextFrom: the last N training samples are the validation set; training draws from the first trainLimit others', () => {
  const train = openDataset('mnist', 'train');
  const ctx = trialContextFrom(setup, { train });
  assert.equal(ctx.evalLoader.dataset.length, 500);
  assert.equal(ctx.trainLoader!.dataset.length, 512);
  const evalBatch = firstBatch(ctx.evalLoader.batches(0));
  // The first validation sample is sample 60000 - 500 of the training split.
  const expected = new Float32Array(784);
  const label = new Int32Array(1);
  train.readBatch([train.length - 500], expected, label);
  assert.deepEqual((evalBatch.inputs.data as Float32Array).subarray(0, 784), expected);
  assert.equal(Number(evalBatch.labels.at(0)), label[0]);
  for (const b of ctx.trainLoader!.batches(0)) for (const i of b.indices) assert.ok(i < 512);

  // The shared copy a worker gets holds 512 + 500 samples and yields the same batches as the whole split.
  const shared = datasetOfShared(shareTrialSamples(train, setup));
  assert.equal(shared.length, 1012);
  assert.ok(shared.inputs.buffer instanceof SharedArrayBuffer);
  const fromShared = trialContextFrom(setup, { train: shared, model: ctx.model });
  for (const [a, b] of [[ctx.trainLoader!, fromShared.trainLoader!], [ctx.evalLoader, fromShared.evalLoader]] as const) {
    const x = [...a.batches(1)];
    const y = [...b.batches(1)];
    assert.equal(x.length, y.length);
    x.forEach((batch, i) => {
      assert.deepEqual(batch.inputs.data, y[i]!.inputs.data);
      assert.deepEqual(batch.labels.data, y[i]!.labels.data);
    });
  }
  assert.throws(() => trialContextFrom({ ...setup, validation: { samples: 60000 } }, { train, model: ctx.model }), /validation of 60000 samples does not fit the training split of 60000/);
});

test('2 worker threads running 4 trials at once give the same results as the in-process runner', async () => {
  const trials = [
    trialOf([{ stage: 'prune', sparsity: 0.5 }, { stage: 'cluster', bits: 4 }, { stage: 'pack' }], 'a'),
    trialOf([{ stage: 'prune', sparsity: 0.7 }, { stage: 'finetune', epochs: 1, lr: 0.05 }], 'b'),
    trialOf([{ stage: 'quantize', mode: 'static' }], 'c'),
    trialOf([{ stage: 'prune', sparsity: 0.8, finetuneEpochs: 1, lr: 0.05 }, { stage: 'cluster', bits: 3, finetuneEpochs: 1, lr: 0.01 }, { stage: 'pack' }], 'd'),
    trialOf([{ stage: 'distill', teacher: join(dir, 'missing.onnx'), epochs: 1, lr: 0.01 }], 'e'),
  ];
  const workers = await createWorkerRunner({ ...setup, workers: 2 });
  assert.equal(workers.parallelism, 2);
  let inThreads: TrialResult[];
  try {
    inThreads = await Promise.all(trials.map((t) => workers.run(t)));
  } finally {
    await workers.close();
  }
  const local = new InProcessRunner(trialContextFrom(setup));
  const inProcess = await Promise.all(trials.map((t) => local.run(t)));
  await local.close();
  for (const [i, t] of trials.entries()) {
    const w = inThreads[i]!;
    const p = inProcess[i]!;
    assert.equal(w.id, t.id);
    assert.equal(w.origin, t.origin);
    assert.deepEqual(w.recipe, t.recipe);
    assert.deepEqual({ accuracy: w.accuracy, bytes: w.bytes, macs: w.macs, error: w.error }, { accuracy: p.accuracy, bytes: p.bytes, macs: p.macs, error: p.error }, `trial ${t.origin}`);
  }
  for (const r of inThreads.slice(0, 4)) assert.equal(r.error, undefined, `trial ${r.origin}: ${r.error}`);
  // The model is untrained (about 10%): the trials that fine-tune in the threads learned something.
  for (const i of [1, 3]) assert.ok(inThreads[i]!.accuracy > inThreads[0]!.accuracy + 0.2, `trial ${trials[i]!.origin}: ${inThreads[i]!.accuracy} against ${inThreads[0]!.accuracy}`);
  assert.match(inThreads[4]!.error ?? '', /missing\.onnx: no such file/);
  await assert.rejects(workers.run(trials[0]!), /closed/);
});

/** A stand-in worker entry (an ES module in a data: URL): ready at once, exits with code 3 on a trial whose origin is 'crash'. */
const fakeWorker = (body: string) => new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads';\n${body}`)}`);

test('a worker that crashes rejects its trial naming it, and a fresh worker takes the next trials', async () => {
  const script = fakeWorker(`
    parentPort.on('message', ({ trial }) => {
      if (trial.origin === 'crash') process.exit(3);
      parentPort.postMessage({ kind: 'result', result: { id: trial.id, origin: trial.origin, recipe: trial.recipe, accuracy: 0.5, bytes: 1, macs: 2, seconds: 0 } });
    });
    parentPort.postMessage({ kind: 'ready' });`);
  const runner = await createWorkerRunner({ ...setup, trainLimit: 64, validation: { samples: 10 }, workers: 1, script });
  try {
    const ok = trialOf([{ stage: 'pack' }], 'fine');
    const crash = trialOf([{ stage: 'optimize' }], 'crash');
    const results = await Promise.allSettled([runner.run(crash), runner.run(ok), runner.run(ok)]);
    assert.equal(results[0]!.status, 'rejected');
    assert.match(((results[0] as PromiseRejectedResult).reason as Error).message, new RegExp(`^trial ${crash.id} \\(crash\\): its worker thread crashed \\(exit code 3\\)$`));
    for (const r of results.slice(1)) {
      assert.equal(r.status, 'fulfilled');
      assert.deepEqual((r as PromiseFulfilledResult<unknown>).value, { id: ok.id, origin: 'fine', recipe: ok.recipe, accuracy: 0.5, bytes: 1, macs: 2, seconds: 0 });
    }
  } finally {
    await runner.close();
  }
});

test('a worker that cannot set up fails createWorkerRunner with its reason; a bad setup fails before any thread starts', async () => {
  const script = fakeWorker(`parentPort.postMessage({ kind: 'setup-failed', error: 'model.onnx: no such file' }); parentPort.on('message', () => {});`);
  await assert.rejects(createWorkerRunner({ ...setup, trainLimit: 64, validation: { samples: 10 }, workers: 2, script }), (e: Error) => e.message === 'model.onnx: no such file');
  await assert.rejects(createWorkerRunner({ ...setup, modelPath: join(dir, 'nothing.onnx'), workers: 2 }), /nothing\.onnx: no such file/);
  await assert.rejects(createWorkerRunner({ ...setup, workers: 0 }), /--workers must be a positive integer/);
});
