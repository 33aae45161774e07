// nnzip lowrank MODEL: truncated SVD of Gemm/MatMul weights and Tucker-2 or spatial decomposition of convolutions,
// optionally fine-tuned; reports per layer and in total parameters, MACs, accuracy and onnxruntime latency before
// and after. The work is the library's lowRank pass; this file parses options, measures and prints.
import { Command, InvalidArgumentError, Option } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { modelStats } from '../core/stats.js';
import { LayerRankRule, LowRankPassOptions, lowRank } from '../compress/lowrank/index.js';
import { trainModel } from '../compress/prune/schedules.js';
import { DataLoader } from '../data/loader.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { feedableInputs, randomInputs } from '../runtime/inputs.js';
import { nodeRuntime } from '../runtime/node.js';
import { quantile } from '../eval/measure.js';
import { trainingProgress } from './progress.js';
import { accuracyOf, labelledTestLoader, openTaskData } from './task-data.js';
import { action, collect, collectPairs, humanCount, nonNegativeInt, nonNegativeNumber, openModel, positiveInt, positiveNumber, printJson, withCommonOptions } from './common.js';

function fraction(option: string, allowOne: boolean) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (allowOne ? n > 1 : n >= 1)) throw new InvalidArgumentError(`${option} must be in (0, 1${allowOne ? ']' : ')'}`);
    return n;
  };
}



interface LowRankCliOptions {
  energy?: number;
  rankRatio?: number;
  layer: Record<string, string>;
  exclude: string[];
  conv: 'tucker' | 'spatial' | 'none';
  refine: number;
  minMacsSaved?: number;
  finetuneEpochs: number;
  data?: string;
  lr: number;
  schedule: 'constant' | 'cosine' | 'linear';
  weightDecay: number;
  batch: number;
  limit?: number;
  testLimit?: number;
  seed: number;
  threads: number;
  latencyRuns: number;
  latencyBatch: number;
  output: string;
  json?: boolean;
}

/**
 * --layer PATTERN=VALUE: VALUE is a number of the model-wide kind (an energy with --energy, a ratio with
 * --rank-ratio), or kind:number with kind energy, ratio or rank.
 */
export function parseLayerRule(pattern: string, value: string, globalKind: 'energy' | 'rankRatio'): LayerRankRule {
  const m = /^(?:(energy|ratio|rank):)?(.+)$/.exec(value)!;
  const kind = m[1] === 'ratio' ? 'rankRatio' : (m[1] as 'energy' | 'rank' | undefined) ?? globalKind;
  const n = Number(m[2]);
  const bad = (what: string) => new NnzipError(`--layer ${pattern}=${value}: ${what}`);
  if (!Number.isFinite(n)) throw bad('the value must be a number, or energy:E, ratio:R or rank:N');
  if (kind === 'rank') {
    if (!Number.isSafeInteger(n) || n < 1) throw bad('the rank must be a positive whole number');
    return { pattern, rank: n };
  }
  if (n <= 0 || n > 1) throw bad(`the ${kind === 'energy' ? 'energy' : 'rank ratio'} must be in (0, 1]`);
  return kind === 'energy' ? { pattern, energy: n } : { pattern, rankRatio: n };
}

interface Latency {
  p50Ms: number;
  batch: number | null;
  threads: number;
  runs: number;
}

/**
 * onnxruntime p50 latency of each model on the same seeded random inputs (batch `batch` where the first dim is not
 * fixed), measured as `nnzip bench` does; the models alternate over two rounds and each keeps its best median, so a
 * drift of the machine's speed does not favour one.
 */
async function measureLatency(models: Model[], opts: LowRankCliOptions): Promise<Latency[]> {
  const fixedBatch = feedableInputs(models[0]!).some((v) => v.type?.kind === 'tensor' && typeof v.type.shape?.[0] === 'number');
  const batch = fixedBatch ? undefined : opts.latencyBatch;
  const feeds = randomInputs(models[0]!, { batch, seed: opts.seed });
  const best = models.map(() => Infinity);
  for (let round = 0; round < 2; round++) {
    for (const [i, model] of models.entries()) {
      const session = await nodeRuntime.createSession(model, { threads: opts.threads });
      try {
        for (let w = 0; w < 10; w++) await session.run(feeds);
        const times: number[] = [];
        for (let r = 0; r < opts.latencyRuns; r++) {
          const t0 = performance.now();
          await session.run(feeds);
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        best[i] = Math.min(best[i]!, quantile(times, 0.5));
      } finally {
        await session.release();
      }
    }
  }
  return best.map((p50) => ({ p50Ms: Number(p50.toFixed(4)), batch: batch ?? null, threads: opts.threads, runs: opts.latencyRuns }));
}

export function lowrankCommand(): Command {
  return withCommonOptions(new Command('lowrank'))
    .description('factorize Gemm/MatMul weights by truncated SVD and decompose convolutions (Tucker-2 or spatial); optionally fine-tune; reports MACs, accuracy and latency before and after')
    .argument('<model>', 'ONNX model file')
    .option('--energy <e>', 'keep this fraction of each weight\'s sum of squared singular values, in (0, 1]', fraction('--energy', true))
    .option('--rank-ratio <r>', 'rank = ratio x full rank, in (0, 1]', fraction('--rank-ratio', true))
    .option('--layer <pattern=value>', 'per-layer choice by node or weight name pattern (repeatable; * matches anything): a number of the --energy/--rank-ratio kind, or energy:E, ratio:R, rank:N', collectPairs, {})
    .option('--exclude <pattern>', 'leave layers matching this name pattern as they are (repeatable)', collect, [])
    .addOption(new Option('--conv <method>', 'how convolutions are decomposed (group=1 only)').choices(['tucker', 'spatial', 'none']).default('tucker'))
    .option('--refine <sweeps>', 'tucker: HOOI sweeps refining the factors at the chosen ranks', nonNegativeInt('--refine'), 0)
    .option('--min-macs-saved <f>', 'factorize a layer only when its MACs drop by at least this fraction, in (0, 1)', fraction('--min-macs-saved', false))
    .option('--finetune-epochs <e>', 'fine-tuning epochs after factorizing (needs --data)', nonNegativeInt('--finetune-epochs'), 0)
    .option('--data <data>', 'labelled data for fine-tuning and accuracy before and after')
    .option('--lr <lr>', 'fine-tuning learning rate (SGD, momentum 0.9)', positiveNumber('--lr'), 0.01)
    .addOption(new Option('--schedule <kind>', 'fine-tuning learning-rate schedule: cosine (decays to 0 over the epochs), linear, or constant').choices(['cosine', 'linear', 'constant']).default('cosine'))
    .option('--weight-decay <wd>', 'fine-tuning weight decay', nonNegativeNumber('--weight-decay'), 0)
    .option('--batch <b>', 'fine-tuning batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'fine-tune on the first N training samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure accuracy on the first N test samples only', positiveInt('--test-limit'))
    .option('--seed <s>', 'seed (shuffling, latency inputs)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads (training, evaluation and latency)', positiveInt('--threads'), 2)
    .option('--latency-runs <n>', 'timed runs per model and round for the latency figures (0 skips them)', nonNegativeInt('--latency-runs'), 200)
    .option('--latency-batch <b>', 'batch size of the latency runs', positiveInt('--latency-batch'), 32)
    .requiredOption('-o, --output <out.onnx>', 'where to write the factorized model')
    .action(action(async (path: string, opts: LowRankCliOptions) => {
      if ((opts.energy === undefined) === (opts.rankRatio === undefined)) throw new NnzipError('give one of --energy E or --rank-ratio R');
      const kind = opts.energy !== undefined ? 'energy' : 'rankRatio';
      const layers = Object.entries(opts.layer).map(([pattern, value]) => parseLayerRule(pattern, value, kind));
      if (opts.finetuneEpochs > 0 && !opts.data) throw new NnzipError('--data is needed for fine-tuning (--finetune-epochs)');
      const source = openModel(path, { runnable: true });
      const { train, test } = openTaskData(source, opts.data);
      const testLoader = labelledTestLoader(test, opts.testLimit);
      const accuracy = accuracyOf(testLoader, opts.threads);

      const options: LowRankPassOptions = {
        energy: opts.energy, rankRatio: opts.rankRatio, layers, exclude: opts.exclude, minMacsSaved: opts.minMacsSaved,
        conv: opts.conv, iterations: opts.refine,
      };
      const started = performance.now();
      const { model: factorized, report } = lowRank(source, options);
      const factorizeSeconds = (performance.now() - started) / 1000;
      const accuracyBefore = await accuracy(source);
      const accuracyFactorized = await accuracy(factorized);
      let result = factorized;
      let history = null;
      if (opts.finetuneEpochs > 0) {
        const loader = new DataLoader(train!, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, reuseBuffers: true });
        const progress = trainingProgress(!opts.json);
        try {
          const tuned = await trainModel(factorized, {}, {
            runtime: nodeRuntime, loader, epochs: opts.finetuneEpochs, lr: opts.lr, threads: opts.threads,
            optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: opts.weightDecay }, fit: { onStep: progress.step, schedule: { kind: opts.schedule } },
          });
          result = tuned.model;
          history = tuned.fit.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, trainAccuracy: h.trainAccuracy, seconds: h.seconds }));
        } finally {
          progress.stop();
        }
      }
      const accuracyAfter = opts.finetuneEpochs > 0 ? await accuracy(result) : accuracyFactorized;
      await saveCheckedModel(result, opts.output, { inputs: [path], pass: 'lowrank' });
      const before = modelStats(source), after = modelStats(result);
      const latency = opts.latencyRuns > 0 ? await measureLatency([source, result], opts) : null;
      const out = {
        output: opts.output,
        choice: opts.energy !== undefined ? { energy: opts.energy } : { rankRatio: opts.rankRatio },
        conv: opts.conv,
        factorizeSeconds: Number(factorizeSeconds.toFixed(3)),
        total: {
          paramsBefore: before.params, paramsAfter: after.params,
          macsBefore: before.macs, macsAfter: after.macs,
          bytesBefore: before.bytes, bytesAfter: after.bytes,
          accuracyBefore, accuracyFactorized, accuracyAfter,
          latencyBefore: latency?.[0] ?? null, latencyAfter: latency?.[1] ?? null,
          speedup: latency ? Number((latency[0]!.p50Ms / latency[1]!.p50Ms).toFixed(3)) : null,
        },
        factorizedLayers: report.total,
        layers: report.layers,
        refused: report.refused,
        finetune: opts.finetuneEpochs > 0 ? { epochs: opts.finetuneEpochs, lr: opts.lr, schedule: opts.schedule, weightDecay: opts.weightDecay, history } : null,
      };
      if (opts.json) return printJson(out);
      const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);
      const lines = [`wrote ${opts.output}: ${report.total.factorized} of ${report.layers.length} layers factorized`];
      for (const l of report.layers) {
        const what = l.factorized ? `${l.method} rank ${l.rank.join('/')} of ${l.fullRank.join('/')}, energy ${pct(l.energy)}, params ${humanCount(l.paramsBefore)} -> ${humanCount(l.paramsAfter)}, MACs ${l.macsBefore === null ? '?' : humanCount(l.macsBefore)} -> ${l.macsAfter === null ? '?' : humanCount(l.macsAfter)}`
          : `kept (${l.reason})`;
        lines.push(`  ${l.node} [${l.shape.join('x')}]: ${what}`);
      }
      for (const r of report.refused) lines.push(`  ${r.node}: cannot be factorized (${r.reason})`);
      const t = out.total;
      lines.push(`params ${humanCount(t.paramsBefore)} -> ${humanCount(t.paramsAfter)}; MACs per sample ${humanCount(t.macsBefore)} -> ${humanCount(t.macsAfter)} (${(t.macsBefore / Math.max(1, t.macsAfter)).toFixed(2)}x fewer)`);
      if (t.accuracyBefore !== null) lines.push(`accuracy ${pct(t.accuracyBefore)} -> ${pct(t.accuracyFactorized)} factorized${opts.finetuneEpochs > 0 ? ` -> ${pct(t.accuracyAfter)} after ${opts.finetuneEpochs} epoch(s) of fine-tuning` : ''}`);
      if (latency) lines.push(`latency p50 at batch ${latency[0]!.batch ?? 'fixed'}, ${opts.threads} thread(s): ${latency[0]!.p50Ms.toFixed(3)} ms -> ${latency[1]!.p50Ms.toFixed(3)} ms (${t.speedup}x)`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }));
}
