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
import { Report, reportHtml, reportMarkdown } from '../report/index.js';
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
