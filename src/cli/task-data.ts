// --data for the commands that train and measure a model: both splits, checked against the model (samples fit its
// input, labels index its outputs), the labelled test split as a loader, and test accuracy as a function.
import { Model } from '../core/ir.js';
import { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { openDataset } from '../node/datasets.js';
import { nodeRuntime } from '../runtime/node.js';
import { checkClassesFit, checkDataFits } from '../train/trainer.js';

export interface TaskData {
  train?: Dataset;
  test?: Dataset;
}

export function openTaskData(model: Model, data: string | undefined): TaskData {
  if (!data) return {};
  const train = openDataset(data, 'train');
  const test = openDataset(data, 'test');
  checkDataFits(model, train.sampleShape, `--data ${data}`);
  checkClassesFit(model, train.classes, `--data ${data}`);
  return { train, test };
}

/** The test split as a loader when it has class labels (accuracy needs them). */
export function labelledTestLoader(test: Dataset | undefined, limit?: number): DataLoader | undefined {
  return test?.classes !== undefined ? new DataLoader(test, { batchSize: 500, limit }) : undefined;
}

/** Test accuracy of a model, or null without labelled test data. */
export function accuracyOf(loader: DataLoader | undefined, threads: number): (m: Model) => Promise<number | null> {
  return async (m) => (loader ? (await evaluateClassifier(nodeRuntime, m, loader, { threads })).accuracy : null);
}
