// nnzip compress MODEL --recipe R: runs a recipe's stages (src/recipe/) and measures the model before and after each
// one (src/eval/measure.ts): accuracy with labelled data, otherwise fidelity to the original; bytes as ONNX, gzip'd and
// .nnz; parameters and non-zeros; MACs; onnxruntime latency; peak memory. Writes the result (.onnx, or .nnz when the
// recipe ends with pack) and, with --report DIR, report.json, report.md and report.html (src/report/): per-stage and
// per-layer figures, weight histograms, per-class scores, robustness and sensitivity of the original and the result.
import { readFileSync } from 'node:fs';
import Table from 'cli-table3';
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { DataLoader } from '../data/loader.js';
import { loaderFeeds } from '../eval/fidelity.js';
import { ModelMetrics, compareMetrics } from '../eval/measure.js';
import { saveModel } from '../node/io.js';
import { assertLoadable } from '../node/checked-save.js';
import { saveNnz } from '../node/nnz.js';
import { Recipe, RecipeContext, RecipeResult, checkRecipeContext, parseRecipe, runRecipe } from '../recipe/index.js';
import { Report, ReportEntry, measureEntry, reportSensitivity } from '../report/index.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, nonNegativeInt, openModel, positiveInt, printJson, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';
import { ReportCliOptions, entryOptionsFor, reportJson, withReportOptions, writeReport } from './report-files.js';
import { openTaskData } from './task-data.js';

export interface CompressSettings {
  data?: string;
  batch: number;
  limit?: number;
  testLimit?: number;
  calibSamples: number;
  latencyBatch: number;
  latencyRuns: number;
  seed: number;
  threads: number;
  /** Progress and stage lines on stderr. */
  verbose: boolean;
  /** Measure what the report needs beyond the stage table (per-layer figures are always measured). */
  details?: ReportCliOptions;
}

interface CompressCliOptions extends CompressSettings, ReportCliOptions {
  recipe: string;
  output: string;
  report?: string;
  json?: boolean;
}

export interface CompressRun {
  result: RecipeResult;
  report: Report;
}

export function readRecipe(path: string): Recipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new NnzipError(`${path}: cannot read the recipe (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseRecipe(text, path);
}

/**
 * Runs a recipe on a model and measures the original and every stage's output; the original and the result also get
 * per-class scores and robustness, and the original its pruning sensitivity, when `settings.details` asks for them.
 */
export async function compressWithReport(path: string, source: Model, recipe: Recipe, recipePath: string, settings: CompressSettings): Promise<CompressRun> {
  const { train, test } = openTaskData(source, settings.data);
  const trainLoader = train && new DataLoader(train, { batchSize: settings.batch, shuffle: true, seed: settings.seed, limit: settings.limit });
  const details = settings.details;
  const entryOptions = await entryOptionsFor(source, test, settings, details);
  const say = (line: string) => { if (settings.verbose) process.stderr.write(`${line}\n`); };
  const calibFeeds = train ? () => [...loaderFeeds(source, new DataLoader(train!, { batchSize: 64, limit: settings.calibSamples }))] : undefined;
  const progress = trainingProgress(settings.verbose);
  const entries: ReportEntry[] = [];
  let started = performance.now();
  const last = recipe.stages.length - 1;
  const context: RecipeContext = {
    runtime: nodeRuntime, trainLoader, calibFeeds, threads: settings.threads, loadModel: (p) => openModel(p, { runnable: true }), onStep: progress.step,
    onStage: async (index, stage, model) => {
      progress.stop();
      const seconds = (performance.now() - started) / 1000;
      say(`stage ${index} (${stage.stage}) done in ${seconds.toFixed(1)} s`);
      entries.push(await measureEntry(`${index}: ${stage.stage}`, model, entryOptions, !!details && index === last, seconds));
      started = performance.now();
    },
  };
  checkRecipeContext(recipe, context); // before the measuring of the original, which takes a while
  say('measuring the original model');
  entries.push(await measureEntry('original', source, entryOptions, !!details));
  const sensitivity = details?.sensitivity ? await reportSensitivity(source, entryOptions) : undefined;
  started = performance.now();
  let result: RecipeResult;
  try {
    result = await runRecipe(source, recipe, context);
  } finally {
    progress.stop();
  }
  const comparison = compareMetrics(entries[0]!.metrics, entries[entries.length - 1]!.metrics);
  const report: Report = {
    kind: 'compress', title: `nnzip compress ${path}`, created: new Date().toISOString(), recipe: recipePath, entries,
    ...(sensitivity ? { sensitivity } : {}),
    extra: { model: path, comparison, stages: result.stages.map((s) => ({ stage: s.stage.stage, seconds: s.seconds, report: s.report })) },
  };
  return { result, report };
}

/** Writes the recipe's result: the .nnz when it ends with pack, otherwise ONNX. Never over the input. */
export async function saveResult(result: RecipeResult, output: string, input: string): Promise<void> {
  // The packed model is checked as the model it holds; the .nnz itself unpacks losslessly.
  await assertLoadable(result.model, 'recipe');
  if (result.nnz) saveNnz(result.nnz, output, [input]);
  else saveModel(result.model, output, { inputs: [input] });
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
const kb = (v: number | undefined) => (v === undefined ? '-' : `${(v / 1024).toFixed(1)} KiB`);

function accuracyCell(m: ModelMetrics): string {
  if (m.accuracy !== undefined) return pct(m.accuracy);
  return m.fidelity ? `${pct(m.fidelity.top1Agreement ?? undefined)} agree` : '-';
}

/** The table of measured models printed on the terminal. */
export function stageTable(entries: readonly ReportEntry[], firstColumn = 'after'): string {
  const table = new Table({ head: [firstColumn, 'seconds', 'accuracy / fidelity', 'ONNX', 'gzip', '.nnz', 'params', 'non-zeros', 'MACs', 'p50 / p95 ms'], style: { head: [], border: [], compact: true } });
  for (const { name, seconds, metrics: m } of entries) {
    table.push([
      name, seconds ? seconds.toFixed(1) : '-', accuracyCell(m), kb(m.bytes.onnx), kb(m.bytes.gzip), kb(m.bytes.nnz),
      String(m.params), String(m.nonzeroParams), String(m.macs), m.latency ? `${m.latency.p50Ms.toFixed(3)} / ${m.latency.p95Ms.toFixed(3)}` : '-',
    ]);
  }
  return table.toString();
}

export function compressCommand(): Command {
  return withReportOptions(withCommonOptions(new Command('compress'))
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
    .option('--report <dir>', 'write report.json, report.md and report.html (charts) into this folder'))
    .action(action(async (path: string, opts: CompressCliOptions) => {
      const recipe = readRecipe(opts.recipe);
      const source = openModel(path, { runnable: true });
      const packs = recipe.stages[recipe.stages.length - 1]?.stage === 'pack';
      if (packs && !opts.output.endsWith('.nnz')) throw new NnzipError(`-o ${opts.output}: the recipe ends with pack, so the output is a .nnz file; name it *.nnz`);
      const { result, report } = await compressWithReport(path, source, recipe, opts.recipe, { ...opts, verbose: !opts.json, details: opts.report ? opts : undefined });
      await saveResult(result, opts.output, path);
      const html = opts.report ? await writeReport(opts.report, report) : undefined;
      if (opts.json) process.stdout.write(`${reportJson({ ...report, output: opts.output, ...(html ? { html } : {}) })}\n`);
      else process.stdout.write(`${stageTable(report.entries)}\nwrote ${opts.output}${html ? ` and the report ${html}` : ''}\n`);
    }));
}
