// nnzip demo: the main job on the embedded default. Trains lenet-300-100 on the bundled MNIST (or reuses the one a
// previous run trained with the same settings), runs the Deep Compression recipe (recipes/), and prints a before/after
// table and the path of the HTML report.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { trainModel } from '../compress/prune/schedules.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { buildArch } from '../nn/zoo.js';
import { loadModel, saveModel, writeFileAtomic } from '../node/io.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { openDataset } from '../node/datasets.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, positiveInt, printJson, withCommonOptions } from './common.js';
import { compressWithReport, readRecipe, saveResult, stageTable } from './compress.js';
import { trainingProgress } from './progress.js';
import { writeReport } from './report-files.js';

interface DemoOptions {
  dir: string;
  retrain?: boolean;
  limit?: number;
  testLimit?: number;
  threads: number;
  json?: boolean;
}

/** How the baseline is trained; a cached model is reused only when it was trained with exactly these. */
const BASELINE = {
  arch: 'lenet-300-100', data: 'mnist', epochs: 20, batch: 64, lr: 0.05, schedule: 'cosine', momentum: 0.9, weightDecay: 0.0001, seed: 1,
} as const;

export const DEMO_RECIPE = fileURLToPath(new URL('../../../recipes/deep-compression-lenet-300-100.json', import.meta.url));

interface Baseline {
  model: Model;
  accuracy: number;
  /** Seconds spent training now (0 when reused). */
  trainSeconds: number;
  reused: boolean;
}

function cachedBaseline(modelPath: string, settingsPath: string, settings: object): { model: Model; accuracy: number } | undefined {
  if (!existsSync(modelPath) || !existsSync(settingsPath)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(settingsPath, 'utf8')) as { settings: unknown; accuracy: number };
    if (JSON.stringify(saved.settings) !== JSON.stringify(settings) || typeof saved.accuracy !== 'number') return undefined;
    return { model: loadModel(modelPath), accuracy: saved.accuracy };
  } catch {
    return undefined; // A damaged cache is retrained, not an error.
  }
}

async function baseline(dir: string, opts: DemoOptions, say: (line: string) => void): Promise<Baseline> {
  const modelPath = join(dir, `${BASELINE.arch}.onnx`);
  const settingsPath = join(dir, `${BASELINE.arch}.json`);
  // A run on a subset (--limit, --test-limit) trains a different model: it is part of the cache key.
  const settings = { ...BASELINE, limit: opts.limit ?? null, testLimit: opts.testLimit ?? null };
  const cached = opts.retrain ? undefined : cachedBaseline(modelPath, settingsPath, settings);
  if (cached) {
    say(`reusing ${modelPath} (test accuracy ${(100 * cached.accuracy).toFixed(2)}%; --retrain trains it again)`);
    return { ...cached, trainSeconds: 0, reused: true };
  }
  const started = performance.now();
  const train = openDataset(BASELINE.data, 'train');
  const test = openDataset(BASELINE.data, 'test');
  say(`training ${BASELINE.arch} on MNIST: ${BASELINE.epochs} epochs, SGD lr ${BASELINE.lr} (cosine), batch ${BASELINE.batch}`);
  const initial = buildArch(BASELINE.arch, { inputShape: [...train.sampleShape], classes: train.classes, seed: BASELINE.seed });
  const progress = trainingProgress(!opts.json);
  let trained: Model;
  try {
    ({ model: trained } = await trainModel(initial, {}, {
      runtime: nodeRuntime, loader: new DataLoader(train, { batchSize: BASELINE.batch, shuffle: true, seed: BASELINE.seed, limit: opts.limit }),
      epochs: BASELINE.epochs, lr: BASELINE.lr, threads: opts.threads,
      optimizer: { kind: 'sgd', momentum: BASELINE.momentum, weightDecay: BASELINE.weightDecay },
      fit: {
        schedule: { kind: BASELINE.schedule }, onStep: progress.step,
        onEpoch: (r) => {
          progress.stop();
          say(`epoch ${r.epoch + 1}/${BASELINE.epochs}: train loss ${r.trainLoss.toFixed(4)}, ${Math.round(r.samplesPerSec)} samples/s`);
        },
      },
    }));
  } finally {
    progress.stop();
  }
  const { accuracy } = await evaluateClassifier(nodeRuntime, trained, new DataLoader(test, { batchSize: 500, limit: opts.testLimit }), { threads: opts.threads });
  saveModel(trained, modelPath);
  writeFileAtomic(settingsPath, JSON.stringify({ settings, accuracy }, null, 2));
  const trainSeconds = (performance.now() - started) / 1000;
  say(`trained ${modelPath} in ${trainSeconds.toFixed(0)} s: test accuracy ${(100 * accuracy).toFixed(2)}%`);
  return { model: trained, accuracy, trainSeconds, reused: false };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function demoCommand(): Command {
  return withCommonOptions(new Command('demo'))
    .description('train lenet-300-100 on the bundled MNIST (cached), compress it with the Deep Compression recipe, and show the before/after figures and an HTML report')
    .option('--dir <dir>', 'folder for the trained model, the compressed model and the report', 'nnzip-demo')
    .option('--retrain', 'train the baseline again even if a cached one exists')
    .option('--limit <n>', 'train on the first N samples only (a quick look; the figures then fall short)', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure on the first N test samples only', positiveInt('--test-limit'))
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .action(action(async (opts: DemoOptions) => {
      const started = performance.now();
      const say = (line: string) => { if (!opts.json) process.stderr.write(`${line}\n`); };
      mkdirSync(opts.dir, { recursive: true });
      const base = await baseline(opts.dir, opts, say);
      const basePath = join(opts.dir, `${BASELINE.arch}.onnx`);
      const recipe = readRecipe(DEMO_RECIPE);
      say(`compressing with ${DEMO_RECIPE}: ${recipe.stages.map((s) => s.stage).join(', ')}`);
      const { result, report } = await compressWithReport(basePath, base.model, recipe, DEMO_RECIPE, {
        data: BASELINE.data, batch: BASELINE.batch, limit: opts.limit, testLimit: opts.testLimit, calibSamples: 256, latencyBatch: 32, latencyRuns: 100, seed: 0, threads: opts.threads,
        verbose: !opts.json, details: { reportSamples: Math.min(2000, opts.testLimit ?? Infinity), noise: [0.1, 0.2, 0.3], fgsm: [0.05, 0.1, 0.2], sensitivity: true },
      });
      if (!result.nnz) throw new NnzipError(`${DEMO_RECIPE}: the demo recipe must end with pack`);
      const output = join(opts.dir, `${BASELINE.arch}.nnz`);
      await saveResult(result, output, basePath);
      say('writing the report');
      const html = await writeReport(join(opts.dir, 'report'), report);
      const before = report.entries[0]!.metrics;
      const after = report.entries[report.entries.length - 1]!.metrics;
      const summary = {
        baseline: { path: basePath, bytes: before.bytes.onnx, accuracy: before.accuracy ?? base.accuracy, p50Ms: before.latency?.p50Ms ?? null, reused: base.reused, trainSeconds: base.trainSeconds },
        compressed: { path: output, bytes: result.nnz.length, accuracy: after.accuracy ?? null, p50Ms: after.latency?.p50Ms ?? null },
        compressionRatio: before.bytes.onnx / result.nnz.length,
        accuracyChangePoints: after.accuracy !== undefined && before.accuracy !== undefined ? 100 * (after.accuracy - before.accuracy) : null,
        report: html,
        seconds: (performance.now() - started) / 1000,
      };
      if (opts.json) return printJson({ ...summary, stages: report.entries.map((e) => ({ name: e.name, seconds: e.seconds, metrics: e.metrics })) });
      const table = new Table({ head: ['', 'before', 'after', 'change'], style: { head: [], border: [], compact: true } });
      table.push(
        ['size', `${kib(summary.baseline.bytes)} (ONNX)`, `${kib(summary.compressed.bytes)} (.nnz)`, `${summary.compressionRatio.toFixed(1)}x smaller`],
        ['test accuracy', pct(summary.baseline.accuracy), summary.compressed.accuracy === null ? '-' : pct(summary.compressed.accuracy), summary.accuracyChangePoints === null ? '-' : `${summary.accuracyChangePoints >= 0 ? '+' : ''}${summary.accuracyChangePoints.toFixed(2)} points`],
        ['latency p50 (batch 32)', summary.baseline.p50Ms === null ? '-' : `${summary.baseline.p50Ms.toFixed(3)} ms`, summary.compressed.p50Ms === null ? '-' : `${summary.compressed.p50Ms.toFixed(3)} ms`,
          summary.baseline.p50Ms && summary.compressed.p50Ms ? `${(summary.baseline.p50Ms / summary.compressed.p50Ms).toFixed(2)}x` : '-'],
      );
      process.stdout.write(`${stageTable(report.entries)}\n\n${table.toString()}\n\nwrote ${output}\nreport: ${html}\n(${summary.seconds.toFixed(0)} s)\n`);
    }));
}
