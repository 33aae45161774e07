// nnzip report A.onnx B.onnx ... -o DIR: measures any models side by side (accuracy with labelled data, otherwise
// fidelity to the first model; sizes, parameters, non-zeros, MACs, latency, memory; per-layer figures, weight
// histograms, per-class scores and robustness) and writes report.json, report.md and report.html into DIR.
import { basename } from 'node:path';
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { compareMetrics } from '../eval/measure.js';
import { Report, ReportEntry, measureEntry, reportSensitivity } from '../report/index.js';
import { action, nonNegativeInt, openModel, positiveInt, withCommonOptions } from './common.js';
import { stageTable } from './compress.js';
import { ReportCliOptions, entryOptionsFor, reportJson, withReportOptions, writeReport } from './report-files.js';
import { openTaskData } from './task-data.js';

interface ReportOptions extends ReportCliOptions {
  data?: string;
  testLimit?: number;
  latencyBatch: number;
  latencyRuns: number;
  seed: number;
  threads: number;
  output: string;
  json?: boolean;
}

/** Entry names: file names, or the paths when two files share a name. */
function entryNames(paths: string[]): string[] {
  const names = paths.map((p) => basename(p));
  return new Set(names).size === names.length ? names : paths;
}

export function reportCommand(): Command {
  return withReportOptions(withCommonOptions(new Command('report'))
    .description('measure models side by side and write report.json, report.md and report.html (charts)')
    .argument('<models...>', 'ONNX or .nnz files (the first is the reference for fidelity)')
    .option('--data <data>', 'labelled data for accuracy, per-class scores and robustness (without it: fidelity to the first model on generated inputs)')
    .option('--test-limit <n>', 'measure on the first N test samples (or N generated inputs)', positiveInt('--test-limit'))
    .option('--latency-batch <n>', 'batch of the latency measurement', positiveInt('--latency-batch'), 32)
    .option('--latency-runs <n>', 'timed runs of the latency measurement (0 skips it)', nonNegativeInt('--latency-runs'), 100)
    .option('--seed <s>', 'seed (generated inputs, noise)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <dir>', 'folder for report.json, report.md and report.html'))
    .action(action(async (paths: string[], opts: ReportOptions) => {
      const models = paths.map((p) => openModel(p, { runnable: true }));
      const first = models[0]!;
      const inputs = JSON.stringify(first.graph.inputs.map((v) => v.name));
      models.forEach((m, i) => {
        if (JSON.stringify(m.graph.inputs.map((v) => v.name)) !== inputs) throw new NnzipError(`${paths[i]}: its inputs differ from ${paths[0]}'s; models compared side by side take the same inputs`);
      });
      const { test } = openTaskData(first, opts.data);
      const entryOptions = await entryOptionsFor(first, test, opts, opts);
      const names = entryNames(paths);
      const entries: ReportEntry[] = [];
      for (const [i, m] of models.entries()) {
        if (!opts.json) process.stderr.write(`measuring ${paths[i]}\n`);
        entries.push(await measureEntry(names[i]!, m, entryOptions, true));
      }
      const sensitivity = opts.sensitivity ? await reportSensitivity(first, entryOptions) : undefined;
      const report: Report = {
        kind: 'compare', title: `nnzip report: ${names.join(', ')}`, created: new Date().toISOString(), entries,
        ...(sensitivity ? { sensitivity } : {}),
        extra: { models: paths, comparisons: entries.slice(1).map((e) => ({ model: e.name, against: names[0], ...compareMetrics(entries[0]!.metrics, e.metrics) })) },
      };
      const html = await writeReport(opts.output, report);
      if (opts.json) process.stdout.write(`${reportJson({ ...report, html })}\n`);
      else process.stdout.write(`${stageTable(entries, 'model')}\nreport: ${html}\n`);
    }));
}
