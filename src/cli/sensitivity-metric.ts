// How a model is measured against its unpruned self, for sensitivity analysis and sensitivity-driven pruning:
// test accuracy when the data has class labels, otherwise fidelity (top-1 agreement, or cosine similarity for
// non-classifier outputs) to the unpruned model on test data or on seeded generated inputs.
import { InvalidArgumentError } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Measurement } from '../compress/prune/sensitivity.js';
import { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { FeedBatches, FidelityReference, generatedFeeds, loaderFeeds } from '../eval/fidelity.js';
import { openDataset } from '../node/datasets.js';
import { nodeRuntime } from '../runtime/node.js';
import { checkClassesFit, checkDataFits } from '../train/trainer.js';

export const GENERATED_SAMPLES = 256;

/** A --sparsities option: comma-separated sparsities in (0, 1). */
export function sparsityList(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((s) => !Number.isFinite(s) || s <= 0 || s >= 1)) throw new InvalidArgumentError('--sparsities must be a comma-separated list of numbers in (0, 1)');
  return list;
}

export interface MeasureOptions {
  data?: string;
  metric?: 'accuracy' | 'fidelity';
  /** Test samples (with data) or generated inputs (without) to measure on. */
  samples?: number;
  seed: number;
  threads: number;
}

export interface Plan {
  metric: string;
  /** Says what was measured on what, for the text output. */
  describe: string;
  samples: number;
  measure: (m: Model) => Promise<Measurement>;
}

async function accuracyPlan(model: Model, test: Dataset, opts: MeasureOptions, limit: number | undefined): Promise<Plan> {
  checkClassesFit(model, test.classes, `--data ${opts.data}`);
  const loader = new DataLoader(test, { batchSize: 500, limit });
  return {
    metric: 'accuracy', describe: `test accuracy on ${loader.dataset.length} samples of ${opts.data}`, samples: loader.dataset.length,
    measure: async (m) => (await evaluateClassifier(nodeRuntime, m, loader, { threads: opts.threads })).accuracy,
  };
}

async function fidelityPlan(model: Model, feeds: FeedBatches, source: string, threads: number): Promise<Plan> {
  const reference = await FidelityReference.create(nodeRuntime, model, feeds, { threads });
  const top1 = reference.comparesTop1;
  return {
    metric: top1 ? 'top1-agreement' : 'cosine',
    describe: `${top1 ? 'top-1 agreement' : 'mean cosine similarity'} with the unpruned model on ${source}`,
    samples: reference.samples,
    measure: async (m): Promise<Measurement> => {
      const r = await reference.compare(m);
      return top1 ? { value: r.top1Agreement!, extras: { cosine: r.meanCosine, sqnrDb: r.sqnrDb } } : { value: r.meanCosine, extras: { sqnrDb: r.sqnrDb } };
    },
  };
}

/** The metric for this model and these options: accuracy on labelled data unless fidelity is asked or there are no labels. */
export async function measurePlan(model: Model, opts: MeasureOptions): Promise<Plan> {
  if (!opts.data) {
    if (opts.metric === 'accuracy') throw new NnzipError('--metric accuracy needs --data with class labels');
    const samples = opts.samples ?? GENERATED_SAMPLES;
    return fidelityPlan(model, generatedFeeds(model, samples, { seed: opts.seed, batchSize: 128 }), `${samples} generated inputs (seed ${opts.seed})`, opts.threads);
  }
  const test = openDataset(opts.data, 'test');
  checkDataFits(model, test.sampleShape, `--data ${opts.data}`);
  const labelled = test.classes !== undefined;
  if (opts.metric === 'accuracy' && !labelled) throw new NnzipError(`--data ${opts.data}: accuracy needs class labels, and this data set has none (use --metric fidelity)`);
  if ((opts.metric ?? (labelled ? 'accuracy' : 'fidelity')) === 'accuracy') return accuracyPlan(model, test, opts, opts.samples);
  const loader = new DataLoader(test, { batchSize: 500, limit: opts.samples });
  return fidelityPlan(model, loaderFeeds(model, loader), `${loader.dataset.length} samples of ${opts.data}`, opts.threads);
}
