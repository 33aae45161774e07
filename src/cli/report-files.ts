// What the commands that write reports (compress, report, demo) share: the options of the detailed measurements, the
// labelled subset they run on, and writing report.json, report.md and report.html into a folder (each atomically).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { RobustnessOptions } from '../eval/robustness.js';
import { writeFileAtomic } from '../node/io.js';
import { Model } from '../core/ir.js';
import { FidelityReference, generatedFeeds, loaderFeeds } from '../eval/fidelity.js';
import { EntryOptions, Report, reportHtml, reportMarkdown } from '../report/index.js';
import { nodeRuntime } from '../runtime/node.js';
import { labelledTestLoader } from './task-data.js';
import { positiveInt } from './common.js';

export interface ReportCliOptions {
  reportSamples: number;
  noise: number[];
  fgsm: number[];
  sensitivity: boolean;
}

function strengths(option: string): (value: string) => number[] {
  return (value) => {
    const list = value.split(',').filter((v) => v.trim() !== '').map(Number);
    if (list.some((v) => !Number.isFinite(v) || v < 0)) throw new NnzipError(`${option}: expected comma-separated non-negative numbers, got '${value}'`);
    return list;
  };
}

/** The options of the report's detailed measurements (per-class scores, robustness, sensitivity). */
export function withReportOptions(cmd: Command): Command {
  return cmd
    .option('--report-samples <n>', 'labelled test samples for per-class scores, robustness and sensitivity in the report', positiveInt('--report-samples'), 2000)
    .option('--noise <stds>', 'robustness: Gaussian input noise standard deviations, comma-separated (empty: none)', strengths('--noise'), [0.1, 0.2, 0.3])
    .option('--fgsm <eps>', 'robustness: FGSM step sizes, comma-separated (empty: none)', strengths('--fgsm'), [0.05, 0.1, 0.2])
    .option('--no-sensitivity', 'leave the per-layer pruning sensitivity out of the report');
}

/** The labelled subset of the test split the detailed measurements run on. */
export function detailLoaderOf(test: Dataset | undefined, samples: number): DataLoader | undefined {
  return test?.classes !== undefined ? new DataLoader(test, { batchSize: 250, limit: samples }) : undefined;
}

/**
 * Robustness settings for the report: perturbed inputs are clamped to the range the data itself spans (pixels stay
 * pixels), read off the subset.
 */
export function robustnessOf(opts: ReportCliOptions, loader: DataLoader | undefined, seed: number): RobustnessOptions | undefined {
  if (!loader || (!opts.noise.length && !opts.fgsm.length)) return undefined;
  let lo = Infinity, hi = -Infinity;
  for (const batch of loader.batches(0)) {
    for (const v of batch.inputs.toFloat32()) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return { noise: opts.noise, fgsm: opts.fgsm, clamp: lo < hi ? [lo, hi] : undefined, seed };
}

export interface MeasurementSettings {
  testLimit?: number;
  latencyBatch: number;
  latencyRuns: number;
  seed: number;
  threads: number;
}

/**
 * How the commands that report measure each model: accuracy on the labelled test split, otherwise fidelity to
 * `reference` on test inputs or seeded generated ones; latency, memory; with `details`, per-class scores and
 * robustness on a labelled subset.
 */
export async function entryOptionsFor(reference: Model, test: Dataset | undefined, o: MeasurementSettings, details?: ReportCliOptions): Promise<EntryOptions> {
  const testLoader = labelledTestLoader(test, o.testLimit);
  const fidelity = testLoader ? undefined : await FidelityReference.create(nodeRuntime, reference,
    test ? loaderFeeds(reference, new DataLoader(test, { batchSize: 256, limit: o.testLimit ?? 1024 })) : generatedFeeds(reference, o.testLimit ?? 256, { seed: o.seed, batchSize: 128 }),
    { threads: o.threads });
  const detailLoader = details ? detailLoaderOf(test, details.reportSamples) : undefined;
  return {
    measure: {
      runtime: nodeRuntime, threads: o.threads, testLoader, reference: fidelity,
      latency: o.latencyRuns ? { batch: o.latencyBatch, runs: o.latencyRuns, warmup: 10, seed: o.seed } : undefined,
      memory: () => process.memoryUsage().rss,
    },
    detailLoader,
    robustness: details ? robustnessOf(details, detailLoader, o.seed) : undefined,
  };
}

/** Infinity is not JSON: the report writes it as a string. */
export function reportJson(report: unknown): string {
  return JSON.stringify(report, (_k, v) => (v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v), 2);
}

/** Writes report.json, report.md and report.html into `dir`; returns the HTML file's path. */
export async function writeReport(dir: string, report: Report): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const html = join(dir, 'report.html');
  writeFileAtomic(join(dir, 'report.json'), reportJson(report));
  writeFileAtomic(join(dir, 'report.md'), reportMarkdown(report));
  writeFileAtomic(html, await reportHtml(report));
  return html;
}
