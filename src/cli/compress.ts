// nnzip compress MODEL --recipe R: runs a recipe's stages (src/recipe/) and measures the model before and after each
// one (src/eval/measure.ts): accuracy with labelled data, otherwise fidelity to the original; bytes as ONNX, gzip'd and
// .nnz; parameters and non-zeros; MACs; onnxruntime latency; peak memory. Writes the result (.onnx, or .nnz when the
// recipe ends with pack) and, with --report DIR, the report as JSON and Markdown.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { DataLoader } from '../data/loader.js';
import { FidelityReference, generatedFeeds, loaderFeeds } from '../eval/fidelity.js';
import { ModelMetrics, compareMetrics, measureModel } from '../eval/measure.js';
import { saveModel, writeFileAtomic } from '../node/io.js';
import { saveNnz } from '../node/nnz.js';
import { Recipe, parseRecipe, runRecipe } from '../recipe/index.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, nonNegativeInt, openModel, positiveInt, printJson, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';
import { labelledTestLoader, openTaskData } from './task-data.js';

interface CompressCliOptions {
  recipe: string;
  data?: string;
  batch: number;
  limit?: number;
  testLimit?: number;
  calibSamples: number;
  latencyBatch: number;
  latencyRuns: number;
  seed: number;
  threads: number;
  output: string;
  report?: string;
  json?: boolean;
}

interface StageRow {
  stage: string;
  seconds: number;
  metrics: ModelMetrics;
}

function readRecipe(path: string): Recipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new NnzipError(`${path}: cannot read the recipe (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseRecipe(text, path);
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
const kb = (v: number | undefined) => (v === undefined ? '-' : `${(v / 1024).toFixed(1)} KiB`);

/** One row per measured model, for the terminal and the Markdown report. */
function tableRows(rows: StageRow[]): string[][] {
  return rows.map((r) => [
    r.stage, r.seconds ? r.seconds.toFixed(1) : '-',
    r.metrics.accuracy !== undefined ? pct(r.metrics.accuracy) : r.metrics.fidelity ? `${pct(r.metrics.fidelity.top1Agreement ?? undefined)} agree` : '-',
    kb(r.metrics.bytes.onnx), kb(r.metrics.bytes.gzip), kb(r.metrics.bytes.nnz),
    String(r.metrics.params), String(r.metrics.nonzeroParams), String(r.metrics.macs),
    r.metrics.latency ? `${r.metrics.latency.p50Ms.toFixed(3)} / ${r.metrics.latency.p95Ms.toFixed(3)}` : '-',
  ]);
}

const HEAD = ['after', 'seconds', 'accuracy / fidelity', 'ONNX', 'gzip', '.nnz', 'params', 'non-zeros', 'MACs', 'p50 / p95 ms'];

function markdownReport(model: string, recipe: string, rows: StageRow[], comparison: unknown): string {
  const lines = [`# nnzip compress: ${model}`, '', `Recipe: ${recipe}`, '', `| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`];
  for (const r of tableRows(rows)) lines.push(`| ${r.join(' | ')} |`);
  lines.push('', '## Original against final', '', '```json', JSON.stringify(comparison, null, 2), '```', '');
  return lines.join('\n');
}

export function compressCommand(): Command {
  return withCommonOptions(new Command('compress'))
    .description('run a compression recipe (optimize, prune, finetune, cluster, hash, lowrank, quantize, distill, pack) and measure the model after each stage')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--recipe <file>', 'recipe file (JSON or YAML; examples in recipes/)')
    .option('--data <data>', 'labelled data: training stages, calibration, and accuracy after each stage (without it: fidelity on generated inputs)')
    .option('--batch <b>', 'training batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'train on the first N samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure on the first N test samples (or N generated inputs)', positiveInt('--test-limit'))
    .option('--calib-samples <n>', 'calibration samples for static quantization', positiveInt('--calib-samples'), 256)
    .option('--latency-batch <n>', 'batch of the latency measurement', positiveInt('--latency-batch'), 32)
    .option('--latency-runs <n>', 'timed runs of the latency measurement (0 skips it)', nonNegativeInt('--latency-runs'), 100)
    .option('--seed <s>', 'seed (shuffling, generated inputs)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <out>', 'where to write the result (.onnx; .nnz when the recipe ends with pack)')
    .option('--report <dir>', 'write report.json and report.md into this folder')
    .action(action(async (path: string, opts: CompressCliOptions) => {
      const recipe = readRecipe(opts.recipe);
      const source = openModel(path, { runnable: true });
      const { train, test } = openTaskData(source, opts.data);
      const packs = recipe.stages[recipe.stages.length - 1]?.stage === 'pack';
      if (packs && !opts.output.endsWith('.nnz')) throw new NnzipError(`-o ${opts.output}: the recipe ends with pack, so the output is a .nnz file; name it *.nnz`);
      const trainLoader = train && new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit });
      const testLoader = labelledTestLoader(test, opts.testLimit);
      const reference = testLoader ? undefined : await FidelityReference.create(nodeRuntime, source,
        test ? loaderFeeds(source, new DataLoader(test, { batchSize: 256, limit: opts.testLimit ?? 1024 })) : generatedFeeds(source, opts.testLimit ?? 256, { seed: opts.seed, batchSize: 128 }),
        { threads: opts.threads });
      const measure = (m: Model) => measureModel(m, {
        runtime: nodeRuntime, threads: opts.threads, testLoader, reference,
        latency: opts.latencyRuns ? { batch: opts.latencyBatch, runs: opts.latencyRuns, warmup: 10, seed: opts.seed } : undefined,
        memory: () => process.memoryUsage().rss,
      });
      const calibFeeds = train ? () => [...loaderFeeds(source, new DataLoader(train!, { batchSize: 64, limit: opts.calibSamples }))] : undefined;
      const rows: StageRow[] = [{ stage: 'original', seconds: 0, metrics: await measure(source) }];
      const progress = trainingProgress(!opts.json);
      let started = performance.now();
      let result;
      try {
        result = await runRecipe(source, recipe, {
          runtime: nodeRuntime, trainLoader, calibFeeds, threads: opts.threads, loadModel: (p) => openModel(p, { runnable: true }), onStep: progress.step,
          onStage: async (index, stage, model) => {
            progress.stop();
            const seconds = (performance.now() - started) / 1000;
            rows.push({ stage: `${index}: ${stage.stage}`, seconds, metrics: await measure(model) });
            if (!opts.json) process.stderr.write(`stage ${index} (${stage.stage}) done in ${seconds.toFixed(1)} s\n`);
            started = performance.now();
          },
        });
      } finally {
        progress.stop();
      }
      if (packs && result.nnz) saveNnz(result.nnz, opts.output, [path]);
      else saveModel(result.model, opts.output, { inputs: [path] });
      const comparison = compareMetrics(rows[0]!.metrics, rows[rows.length - 1]!.metrics);
      const report = { model: path, recipe: opts.recipe, output: opts.output, stages: rows, comparison, details: result.stages.map((s) => ({ stage: s.stage.stage, seconds: s.seconds, report: s.report })) };
      if (opts.report) {
        mkdirSync(opts.report, { recursive: true });
        writeFileAtomic(join(opts.report, 'report.json'), JSON.stringify(report, (_k, v) => (v === Infinity ? 'Infinity' : v), 2));
        writeFileAtomic(join(opts.report, 'report.md'), markdownReport(path, opts.recipe, rows, comparison));
      }
      if (opts.json) return printJson(report);
      const table = new Table({ head: HEAD, style: { head: [], border: [], compact: true } });
      for (const r of tableRows(rows)) table.push(r);
      process.stdout.write(`${table.toString()}\nwrote ${opts.output}${opts.report ? ` and ${opts.report}/report.{json,md}` : ''}\n`);
    }));
}
