// nnzip hash MODEL: hashed weight sharing (HashedNets): each Gemm/MatMul/Conv weight becomes ceil(ratio·N) trainable
// buckets read through a fixed seeded hash, optionally fine-tuned; reports per layer buckets, virtual weights and bytes,
// and accuracy before and after. The work is the library's hashWeights and trainModel; this file parses and prints.
import { Command, InvalidArgumentError, Option } from 'commander';
import { encodeModel } from '../core/codec.js';
import { NnzipError } from '../core/errors.js';
import { DataLoader } from '../data/loader.js';
import { trainModel } from '../compress/prune/schedules.js';
import { hashWeights } from '../compress/share/hash.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, collect, collectPairs, humanBytes, nonNegativeInt, openModel, positiveInt, positiveNumber, printJson, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';
import { accuracyOf, labelledTestLoader, openTaskData } from './task-data.js';

interface HashCliOptions {
  ratio: number;
  layer: Record<string, string>;
  exclude: string[];
  seed: number;
  signHash: boolean;
  init: 'weights' | 'fresh';
  finetuneEpochs: number;
  data?: string;
  lr: number;
  batch: number;
  limit?: number;
  testLimit?: number;
  threads: number;
  output: string;
  json?: boolean;
}

/** A ratio such as 0.125 or 1/8. */
function parseRatio(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  const value = m ? (m[2] !== undefined ? Number(m[1]) / Number(m[2]) : Number(m[1])) : Number.NaN;
  if (!Number.isFinite(value) || value <= 0 || value > 1) throw new InvalidArgumentError(`'${text}': the ratio of buckets to weights must be in (0, 1], e.g. 0.125 or 1/8`);
  return value;
}


export function hashCommand(): Command {
  return withCommonOptions(new Command('hash'))
    .description('hashed weight sharing (HashedNets): each layer\'s weights drawn from ratio·N trainable buckets by a fixed seeded hash; optionally fine-tune')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--ratio <r>', 'buckets per weight, in (0, 1]: 0.125 or 1/8 stores 8x fewer weights', parseRatio)
    .option('--layer <pattern=r>', 'per-layer ratio by weight or node name pattern (repeatable; * matches anything)', collectPairs, {})
    .option('--exclude <pattern>', 'leave weights (or nodes) matching this pattern dense (repeatable)', collect, [])
    .option('--seed <s>', 'hash seed (and fresh buckets, shuffling)', nonNegativeInt('--seed'), 0)
    .option('--no-sign-hash', 'no second hash giving each virtual weight a ±1 sign')
    .addOption(new Option('--init <i>', 'bucket values: fitted to the weights (least squares) or fresh random').choices(['weights', 'fresh']).default('weights'))
    .option('--finetune-epochs <e>', 'fine-tuning epochs after hashing (trains the buckets); needs --data', nonNegativeInt('--finetune-epochs'), 0)
    .option('--data <data>', 'labelled data: fine-tuning and accuracy before and after')
    .option('--lr <lr>', 'fine-tuning learning rate (SGD, momentum 0.9)', positiveNumber('--lr'), 0.01)
    .option('--batch <b>', 'fine-tuning batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'fine-tune on the first N training samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure accuracy on the first N test samples only', positiveInt('--test-limit'))
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <out.onnx>', 'where to write the hashed model')
    .action(action(async (path: string, opts: HashCliOptions) => {
      if (opts.finetuneEpochs > 0 && !opts.data) throw new NnzipError('--finetune-epochs needs --data DATA (the training data)');
      const layers = Object.entries(opts.layer).map(([pattern, value]) => {
        try {
          return { pattern, ratio: parseRatio(value) };
        } catch (e) {
          throw new NnzipError(`--layer ${pattern}=${value}: ${(e as Error).message.replace(/^'[^']*': /, '')}`);
        }
      });
      const source = openModel(path, { runnable: true });
      const { train, test } = openTaskData(source, opts.data);
      const testLoader = labelledTestLoader(test, opts.testLimit);
      const accuracy = accuracyOf(testLoader, opts.threads);

      const hashed = hashWeights(source, { ratio: opts.ratio, layers, exclude: opts.exclude, seed: opts.seed, signHash: opts.signHash, init: opts.init });
      const accuracyBefore = await accuracy(source);
      const accuracyHashed = await accuracy(hashed.model);
      let model = hashed.model;
      if (opts.finetuneEpochs > 0) {
        const progress = trainingProgress(!opts.json);
        try {
          const loader = new DataLoader(train!, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, reuseBuffers: true });
          model = (await trainModel(model, {}, { runtime: nodeRuntime, loader, epochs: opts.finetuneEpochs, lr: opts.lr, threads: opts.threads, fit: { onStep: progress.step } })).model;
        } finally {
          progress.stop();
        }
      }
      const accuracyAfter = opts.finetuneEpochs > 0 ? await accuracy(model) : accuracyHashed;
      await saveCheckedModel(model, opts.output, { inputs: [path], pass: 'hash' });
      const r = hashed.report;
      const report = {
        output: opts.output,
        ratio: opts.ratio, seed: r.seed, signHash: r.signHash, init: r.init, finetuneEpochs: opts.finetuneEpochs,
        total: {
          virtualWeights: r.virtualWeights, buckets: r.buckets,
          weightBytesBefore: r.bytesBefore, weightBytesAfter: r.bytesAfter,
          fileBytesBefore: encodeModel(source).bytes.byteLength, fileBytesAfter: encodeModel(model).bytes.byteLength,
          accuracyBefore, accuracyHashed, accuracyAfter,
        },
        layers: r.layers.map((l) => ({
          weight: l.weight, op: l.opType, nodes: l.nodes, dims: l.dims, ratio: l.ratio, virtualWeights: l.virtualWeights, buckets: l.buckets,
          bytesBefore: l.bytesBefore, bytesAfter: l.bytesAfter, relativeError: l.relativeError,
        })),
        excluded: r.excluded,
      };
      if (opts.json) return printJson(report);
      const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);
      const out = process.stdout;
      for (const l of report.layers) {
        out.write(`${l.weight} (${l.op} [${l.dims.join('x')}]): ${l.virtualWeights} weights -> ${l.buckets} buckets, ${humanBytes(l.bytesBefore)} -> ${humanBytes(l.bytesAfter)}\n`);
      }
      const t = report.total;
      out.write(`wrote ${opts.output}: weights ${humanBytes(t.weightBytesBefore)} -> ${humanBytes(t.weightBytesAfter)} (${(t.weightBytesBefore / t.weightBytesAfter).toFixed(2)}x), `
        + `file ${humanBytes(t.fileBytesBefore)} -> ${humanBytes(t.fileBytesAfter)}`
        + (t.accuracyBefore !== null ? `; accuracy ${pct(t.accuracyBefore)} -> ${pct(t.accuracyHashed)} hashed${opts.finetuneEpochs > 0 ? ` -> ${pct(t.accuracyAfter)} fine-tuned` : ''}` : '')
        + '\n');
    }));
}
