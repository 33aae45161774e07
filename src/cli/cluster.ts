// nnzip cluster MODEL: weight sharing by k-means (Deep Compression's second stage), optionally with centroid
// fine-tuning; reports per layer and in total the bytes before and after and, with --data, the accuracy before and
// after. The work is the library's clusterWeights / fineTuneClustered; this file parses options and prints.
import { Command, Option } from 'commander';
import { NnzipError } from '../core/errors.js';
import { modelStats } from '../core/stats.js';
import { DataLoader } from '../data/loader.js';
import {
  CLUSTER_FORMATS, CLUSTER_SHARINGS, ClusterFormat, ClusterSharing, DEFAULT_CLUSTER_BITS, clusterWeights, denseFromClustered,
  fineTuneClustered,
} from '../compress/share/cluster.js';
import { KMEANS_INITS, KMeansInit } from '../compress/share/kmeans.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { nodeRuntime } from '../runtime/node.js';
import { trainingProgress } from './progress.js';
import { accuracyOf, labelledTestLoader, openTaskData } from './task-data.js';
import { action, collect, collectPairs, humanBytes, LR_SCHEDULES, lrScheduleOf, nonNegativeInt, openModel, positiveInt, positiveNumber, printJson, withCommonOptions } from './common.js';

interface ClusterCliOptions {
  bits?: string;
  layer: Record<string, string>;
  init: KMeansInit;
  sharing: ClusterSharing;
  shared: string[];
  exclude: string[];
  format: ClusterFormat;
  finetuneEpochs: number;
  data?: string;
  lr: number;
  lrSchedule: string;
  batch: number;
  limit?: number;
  testLimit?: number;
  seed: number;
  threads: number;
  output: string;
  json?: boolean;
}


/** Bits given on the command line: a whole number from 1 to 16, with an error naming where it was given. */
function parseBits(text: string, where: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 16) throw new NnzipError(`${where}: bits must be a whole number from 1 to 16, not '${text}'`);
  return n;
}

export function clusterCommand(): Command {
  const defaults = Object.entries(DEFAULT_CLUSTER_BITS).map(([op, b]) => `${op} ${b}`).join(', ');
  return withCommonOptions(new Command('cluster'))
    .description('share weights by k-means clustering (a codebook and small indices per layer, Deep Compression); optionally fine-tune the centroids')
    .argument('<model>', 'ONNX model file')
    .option('--bits <b>', `bits per weight index, 1 to 16 (default per layer type: ${defaults})`)
    .option('--layer <pattern=b>', 'bits for layers matching a name pattern (repeatable; * matches anything)', collectPairs, {})
    .addOption(new Option('--init <init>', 'centroid initialization: evenly spaced from min to max, on the CDF, or random weights').choices([...KMEANS_INITS]).default('linear'))
    .addOption(new Option('--sharing <s>', 'a codebook per layer, or one shared by the layers --shared names (default all)').choices([...CLUSTER_SHARINGS]).default('layer'))
    .option('--shared <pattern>', 'global sharing: layers that share the codebook (repeatable)', collect, [])
    .option('--exclude <pattern>', 'leave layers matching this name pattern as they are (repeatable)', collect, [])
    .addOption(new Option('--format <f>', 'gather: uint8/uint16 indices + codebook + Gather (smaller file); dense: plain float weights taking the shared values').choices([...CLUSTER_FORMATS]).default('gather'))
    .option('--finetune-epochs <e>', 'epochs of centroid fine-tuning (needs --data)', nonNegativeInt('--finetune-epochs'), 0)
    .option('--data <data>', 'labelled data: fine-tuning, and accuracy before and after')
    .option('--lr <lr>', 'fine-tuning learning rate (SGD, momentum 0.9)', positiveNumber('--lr'), 0.01)
    .addOption(new Option('--lr-schedule <s>', 'learning rate during fine-tuning: constant, or cosine decay to 0').choices([...LR_SCHEDULES]).default('constant'))
    .option('--batch <b>', 'fine-tuning batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'fine-tune on the first N training samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure accuracy on the first N test samples only', positiveInt('--test-limit'))
    .option('--seed <s>', 'seed (random initialization, shuffling)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <out.onnx>', 'where to write the clustered model')
    .action(action(async (path: string, opts: ClusterCliOptions) => {
      const bits = opts.bits === undefined ? undefined : parseBits(opts.bits, `--bits ${opts.bits}`);
      const layerBits = Object.entries(opts.layer).map(([pattern, value]) => ({ pattern, bits: parseBits(value, `--layer ${pattern}=${value}`) }));
      if (opts.finetuneEpochs > 0 && !opts.data) throw new NnzipError('--data is needed for fine-tuning (--finetune-epochs)');
      if (opts.shared.length && opts.sharing !== 'global') throw new NnzipError('--shared needs --sharing global');
      const source = openModel(path, { runnable: true });
      const { train, test } = openTaskData(source, opts.data);
      const testLoader = labelledTestLoader(test, opts.testLimit);
      const accuracy = accuracyOf(testLoader, opts.threads);

      const finetune = opts.finetuneEpochs > 0;
      // Centroids train in the gather form; a dense result is made from it afterwards.
      const clustered = clusterWeights(source, {
        bits, layerBits, init: opts.init, seed: opts.seed, sharing: opts.sharing, sharedLayers: opts.shared, exclude: opts.exclude,
        format: finetune ? 'gather' : opts.format,
      });
      const accuracyBefore = await accuracy(source);
      const accuracyClustered = await accuracy(clustered.model);
      let model = clustered.model;
      let history: { epoch: number; trainLoss: number; trainAccuracy: number | null }[] = [];
      if (finetune) {
        const loader = new DataLoader(train!, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, reuseBuffers: true });
        const progress = trainingProgress(!opts.json);
        try {
          const tuned = await fineTuneClustered(model, { runtime: nodeRuntime, loader, epochs: opts.finetuneEpochs, lr: opts.lr, threads: opts.threads, fit: { onStep: progress.step, schedule: lrScheduleOf(opts.lrSchedule) } });
          model = tuned.model;
          history = tuned.fit.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, trainAccuracy: h.trainAccuracy }));
        } finally {
          progress.stop();
        }
        if (opts.format === 'dense') model = denseFromClustered(model);
      }
      const accuracyAfter = finetune ? await accuracy(model) : accuracyClustered;
      await saveCheckedModel(model, opts.output, { inputs: [path], pass: 'cluster' });
      const r = clustered.report;
      const dense = opts.format === 'dense';
      const bytesAfter = dense ? r.total.bytesBefore : r.total.bytesAfter;
      const report = {
        output: opts.output,
        format: opts.format,
        sharing: r.sharing,
        init: r.init,
        total: {
          // Over the clustered layers: float32 bytes before, stored indices + codebooks after (the dense form: floats).
          ...r.total, bytesAfter,
          compression: r.total.bytesBefore / bytesAfter,
          packedCompression: r.total.bytesBefore / r.total.packedBytes,
          fileBytesBefore: modelStats(source).bytes, fileBytesAfter: modelStats(model).bytes,
          accuracyBefore, accuracyClustered, accuracyAfter,
        },
        layers: r.layers.map((l) => (dense ? { ...l, storage: 'float32', indexBytes: l.bytesBefore, codebookBytes: 0, bytesAfter: l.bytesBefore } : l)),
        codebooks: r.codebooks,
        skipped: r.skipped,
        finetune: finetune ? { epochs: opts.finetuneEpochs, lr: opts.lr, history } : null,
      };
      if (opts.json) return printJson(report);
      const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);
      const rows = report.layers.map((l) => [l.name, l.op, String(l.weights), pct(l.nonzeros / l.weights), String(l.bits), String(l.codebookSize), humanBytes(l.bytesBefore), humanBytes(l.bytesAfter), humanBytes(l.packedBytes), l.maxAbsError.toPrecision(3)]);
      const header = ['layer', 'op', 'weights', 'kept', 'bits', 'codebook', 'before', 'after', 'packed', 'max error'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
      const t = report.total;
      process.stdout.write(
        `${[line(header), ...rows.map(line)].join('\n')}\n`
        + `wrote ${opts.output} (${report.format}, ${report.sharing} codebooks, ${report.init} init${finetune ? `, ${opts.finetuneEpochs} epoch${opts.finetuneEpochs === 1 ? '' : 's'} of centroid fine-tuning` : ''}): `
        + `clustered weights ${humanBytes(t.bytesBefore)} -> ${humanBytes(t.bytesAfter)} (bit-packed ${humanBytes(t.packedBytes)}, ${t.packedCompression.toFixed(1)}x); `
        + `file ${humanBytes(t.fileBytesBefore)} -> ${humanBytes(t.fileBytesAfter)}`
        + `${t.accuracyBefore !== null ? `; accuracy ${pct(t.accuracyBefore)} -> ${pct(t.accuracyClustered)} clustered${finetune ? ` -> ${pct(t.accuracyAfter)} fine-tuned` : ''}` : ''}\n`,
      );
    }));
}
