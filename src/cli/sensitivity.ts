// nnzip sensitivity MODEL: the model's accuracy, or its fidelity to the unpruned model, with each prunable layer
// pruned alone at several sparsities.
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { layerSensitivity } from '../compress/prune/sensitivity.js';
import { GENERATED_SAMPLES, measurePlan, sparsityList } from './sensitivity-metric.js';
import { action, nonNegativeInt, openModel, positiveInt, printJson, withCommonOptions } from './common.js';

interface SensitivityCliOptions {
  data?: string;
  metric?: 'accuracy' | 'fidelity';
  sparsities: number[];
  samples?: number;
  testLimit?: number;
  seed: number;
  threads: number;
  json?: boolean;
}

export function sensitivityCommand(): Command {
  return withCommonOptions(new Command('sensitivity'))
    .description('accuracy (or fidelity to the unpruned model) with each prunable layer pruned alone (magnitude) at several sparsities')
    .argument('<model>', 'ONNX model file')
    .option('--data <data>', "test data: 'mnist', an IDX/image/NPY/CSV folder, or a .npy/.csv file (default: generated inputs, fidelity)")
    .addOption(new Option('--metric <metric>', 'accuracy (needs labelled --data; the default when there is some) or fidelity (top-1 agreement with the unpruned model)').choices(['accuracy', 'fidelity']))
    .option('--sparsities <list>', 'sparsities to try', sparsityList, [0.5, 0.7, 0.9])
    .option('--samples <n>', `measure on the first N test samples, or N generated inputs without --data (default ${GENERATED_SAMPLES})`, positiveInt('--samples'))
    .option('--test-limit <n>', 'same as --samples with --data', positiveInt('--test-limit'))
    .option('--seed <s>', 'seed of the generated inputs', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .action(action(async (path: string, opts: SensitivityCliOptions) => {
      const model = openModel(path, { runnable: true });
      const plan = await measurePlan(model, { data: opts.data, metric: opts.metric, samples: opts.samples ?? opts.testLimit, seed: opts.seed, threads: opts.threads });
      const tty = process.stderr.isTTY;
      const report = await layerSensitivity(model, opts.sparsities, plan.measure, {
        metric: plan.metric,
        onProgress: tty ? (done, total) => process.stderr.write(`\r${done}/${total} evaluations`) : undefined,
      });
      if (tty) process.stderr.write('\n');
      if (opts.json) {
        // Extras (cosine, SQNR in dB) beside the metric in each layer; an infinite SQNR (identical outputs) prints as null.
        return printJson({
          file: path, data: opts.data ?? null, ...(opts.data ? {} : { seed: opts.seed }), samples: plan.samples, metric: report.metric, sparsities: report.sparsities,
          baseline: report.baseline, ...(report.baselineExtras ? { baselineExtras: report.baselineExtras } : {}),
          layers: report.layers.map(({ extras, ...l }) => ({ ...l, ...extras })),
        });
      }
      const value = (v: number) => (plan.metric === 'cosine' ? v.toFixed(4) : `${(100 * v).toFixed(2)}%`);
      const db = (v: number) => (v === Infinity ? 'inf' : `${v.toFixed(1)} dB`);
      const cell = (v: number, sqnr: number | undefined) => (sqnr === undefined ? value(v) : `${value(v)} (${db(sqnr)})`);
      const table = new Table({ head: ['layer', 'weight', 'params', ...report.sparsities.map((s) => `${Math.round(100 * s)}% pruned`)], style: { head: [], border: [], compact: true } });
      for (const l of report.layers) table.push([l.node, l.weight, String(l.params), ...l.metrics.map((v, i) => cell(v, l.extras?.sqnrDb?.[i]))]);
      const sqnrNote = report.layers.some((l) => l.extras?.sqnrDb) ? ' (SQNR of the output in brackets)' : '';
      process.stdout.write(`${path}: ${plan.describe}: ${value(report.baseline)} unpruned; each layer pruned alone${sqnrNote}:\n${table.toString()}\n`);
    }));
}
