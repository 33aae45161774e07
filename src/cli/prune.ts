// nnzip prune MODEL: unstructured (magnitude, random, Taylor, L1-penalty), N:M, structured channels (L1/L2 norm,
// BatchNorm slimming, FPGM, Taylor; or filter merging), residual-block removal and sparse training from scratch, with
// optional fine-tuning; reports parameters, non-zeros, MACs and accuracy before and after. The work is the library's
// prunePass; this file parses options and prints.
import { Command, Option } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { LayerStats, countNonzero, modelStats } from '../core/stats.js';
import { DataLoader } from '../data/loader.js';
import { prepareDistillation } from '../compress/distill/index.js';
import { prunableWeights } from '../compress/prune/index.js';
import { DEFAULT_PENALTY, PRUNE_METHODS, PruneMethod, PrunePassSpec, PruneSchedule, isStructured, prunePass } from '../compress/prune/pass.js';
import { BLOCK_CRITERIA, BlockCriterion } from '../compress/structured/blocks.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { nodeRuntime } from '../runtime/node.js';
import { measurePlan, sparsityList } from './sensitivity-metric.js';
import { trainingProgress } from './progress.js';
import { accuracyOf, labelledTestLoader, openTaskData } from './task-data.js';
import { action, collect, collectPairs, fractionBelowOne, LR_SCHEDULES, lrScheduleOf, nonNegativeInt, openModel, positiveInt, positiveNumber, printJson, unitInterval, withCommonOptions } from './common.js';


interface PruneCliOptions {
  teacher: string[];
  temperature?: number;
  alpha?: number;
  sparsity?: number;
  method?: PruneMethod;
  nm?: string;
  structured?: boolean;
  merge?: boolean;
  blocks?: number;
  blockCriterion: string;
  scope: 'global' | 'layer' | 'sensitivity';
  sensitivities: number[];
  metric?: 'accuracy' | 'fidelity';
  layer: Record<string, string>;
  skipFirst?: boolean;
  skipLast?: boolean;
  schedule: string;
  updateEvery?: number;
  regrowFraction?: number;
  finetuneEpochs: number;
  penalty?: number;
  penaltyEpochs: number;
  data?: string;
  lr: number;
  lrSchedule: string;
  batch: number;
  limit?: number;
  testLimit?: number;
  seed: number;
  threads: number;
  channelMultiple: number;
  output: string;
  json?: boolean;
}

const SCHEDULE_HELP = 'oneshot, iterative:K, agp, or sparse training from the given (initial) weights: scratch (fixed random mask), set or rigl (prune and regrow)';

function parseSchedule(text: string, opts: PruneCliOptions): PruneSchedule {
  const m = /^(oneshot|agp|scratch|set|rigl|iterative:(\d+))$/.exec(text);
  if (!m) throw new NnzipError(`--schedule '${text}': use ${SCHEDULE_HELP}`);
  if (m[2]) {
    if (Number(m[2]) < 1) throw new NnzipError(`--schedule '${text}': iterative needs at least 1 round`);
    return { kind: 'iterative', rounds: Number(m[2]) };
  }
  if (m[1] === 'set' || m[1] === 'rigl') return { kind: m[1], every: opts.updateEvery, fraction: opts.regrowFraction };
  return { kind: m[1] as 'oneshot' | 'agp' | 'scratch' };
}

interface LayerRow {
  name: string;
  op: string;
  paramsBefore: number;
  paramsAfter: number;
  nonzerosAfter: number;
  macsBefore: number | null;
  macsAfter: number | null;
}

/** Non-zero weights per node, for the per-layer report. */
function nonzerosByNode(model: Model): Map<string, number> {
  const out = new Map<string, number>();
  for (const w of prunableWeights(model)) {
    out.set(w.node, (out.get(w.node) ?? 0) + countNonzero(model.graph.initializers.get(w.name)!));
  }
  return out;
}

function layerRows(before: LayerStats[], after: LayerStats[], nonzeros: Map<string, number>): LayerRow[] {
  const afterByName = new Map(after.map((l) => [l.name, l]));
  return before.filter((l) => l.params > 0 || (l.macs ?? 0) > 0).map((l) => {
    const a = afterByName.get(l.name);
    return { name: l.name, op: l.op, paramsBefore: l.params, paramsAfter: a?.params ?? 0, nonzerosAfter: nonzeros.get(l.name) ?? a?.params ?? 0, macsBefore: l.macs, macsAfter: a?.macs ?? null };
  });
}

function methodLabel(spec: PrunePassSpec): string {
  const parts: string[] = [];
  if (spec.blocks) parts.push(`${spec.blocks.count} residual block${spec.blocks.count === 1 ? '' : 's'} (${spec.blocks.criterion})`);
  if (spec.sparsity > 0 || !spec.blocks) {
    if (spec.merge) parts.push('structured filter merging');
    else if (isStructured(spec)) parts.push(`structured ${spec.method ?? 'l1-norm'}`);
    else if (spec.method === 'nm' || spec.nm) parts.push(`nm ${spec.nm ?? '2:4'}`);
    else parts.push(spec.method ?? 'magnitude');
  }
  return parts.join(' + ');
}

export function pruneCommand(): Command {
  return withCommonOptions(new Command('prune'))
    .description('prune a model: unstructured, N:M, structured channels or residual blocks that shrink the graph, or sparse training; optionally fine-tune')
    .argument('<model>', 'ONNX model file')
    .option('--sparsity <s>', 'fraction of weights (or, structured, of channels per group) to remove, in [0, 1)', fractionBelowOne('--sparsity'))
    .addOption(new Option('--method <m>', 'criterion: magnitude, random, taylor, l1-reg (unstructured); nm; l1-norm, l2-norm, bn-slim, fpgm, taylor (structured); default magnitude, or l1-norm with --structured').choices([...PRUNE_METHODS]))
    .option('--nm <n:m>', 'N:M semi-structured pruning, e.g. 2:4 (keeps N of every M weights along the input dimension)')
    .option('--structured', 'remove whole channels so the graph itself shrinks')
    .option('--merge', 'structured: merge clusters of similar channels into one (folding them into the consumers) instead of removing channels')
    .option('--blocks <n>', 'remove N residual blocks (layer pruning) before anything else', positiveInt('--blocks'))
    .addOption(new Option('--block-criterion <c>', 'how blocks are ranked: BatchNorm scale, L1 norm, or measured sensitivity').choices([...BLOCK_CRITERIA, 'sensitivity']).default('bn-scale'))
    .addOption(new Option('--scope <scope>', 'one threshold across layers, the same sparsity in each, or per-layer sparsities from measured sensitivity').choices(['global', 'layer', 'sensitivity']).default('layer'))
    .option('--sensitivities <list>', 'scope sensitivity: sparsities at which each layer is measured', sparsityList, [0.5, 0.7, 0.8, 0.9, 0.95, 0.98])
    .addOption(new Option('--metric <metric>', 'sensitivity metric: accuracy (labelled --data) or fidelity to the unpruned model (default without labels)').choices(['accuracy', 'fidelity']))
    .option('--layer <pattern=s>', 'per-layer sparsity by name pattern (repeatable; * matches anything)', collectPairs, {})
    .option('--channel-multiple <n>', 'structured: round kept channels to a multiple of n (onnxruntime computes channels in blocks of 8)', positiveInt('--channel-multiple'), 8)
    .option('--skip-first', 'leave the first prunable layer alone')
    .option('--skip-last', 'leave the last prunable layer alone')
    .option('--schedule <kind>', SCHEDULE_HELP, 'oneshot')
    .option('--update-every <steps>', 'set/rigl: steps between mask updates (default 100)', positiveInt('--update-every'))
    .option('--regrow-fraction <f>', 'set/rigl: fraction of active weights dropped and regrown per update, cosine-decayed (default 0.3)', positiveNumber('--regrow-fraction'))
    .option('--penalty <lambda>', `L1 penalty strength for l1-reg (default ${DEFAULT_PENALTY['l1-reg']}) and bn-slim (default ${DEFAULT_PENALTY['bn-slim']})`, positiveNumber('--penalty'))
    .option('--penalty-epochs <e>', 'l1-reg and bn-slim: epochs of training with the L1 penalty before pruning (needs --data; bn-slim with 0 ranks the scales as they are)', nonNegativeInt('--penalty-epochs'), 2)
    .option('--finetune-epochs <e>', 'fine-tuning epochs after pruning (for scratch/set/rigl: training epochs); needs --data', nonNegativeInt('--finetune-epochs'), 0)
    .option('--data <data>', 'data for training, Taylor saliency, sensitivity and accuracy before and after')
    .option('--teacher <model.onnx>', 'distill from this teacher (e.g. the unpruned model) while fine-tuning (repeatable: an ensemble)', collect, [])
    .option('--temperature <t>', 'distillation temperature (default 4)', positiveNumber('--temperature'))
    .option('--alpha <a>', 'distillation: weight of the soft-target term, the labels get 1 - alpha (default 0.9)', unitInterval('--alpha'))
    .option('--lr <lr>', 'learning rate of fine-tuning and penalty training (SGD, momentum 0.9)', positiveNumber('--lr'), 0.01)
    .addOption(new Option('--lr-schedule <s>', 'learning rate during each fine-tuning run: constant, or cosine decay to 0').choices([...LR_SCHEDULES]).default('constant'))
    .option('--batch <b>', 'fine-tuning batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'fine-tune on the first N training samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure accuracy (and sensitivity) on the first N test samples only', positiveInt('--test-limit'))
    .option('--seed <s>', 'seed (random criterion, masks, shuffling, generated inputs)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <out.onnx>', 'where to write the pruned model')
    .action(action(async (path: string, opts: PruneCliOptions) => {
      if (opts.sparsity === undefined && !opts.blocks) throw new NnzipError('give --sparsity S (or --blocks N to remove residual blocks)');
      const source = openModel(path, { runnable: true });
      const overrides = Object.entries(opts.layer).map(([pattern, value]) => {
        const s = Number(value);
        if (!Number.isFinite(s) || s < 0 || s >= 1) throw new NnzipError(`--layer ${pattern}=${value}: the sparsity must be in [0, 1)`);
        return { pattern, sparsity: s };
      });
      const method = opts.method ?? (opts.nm ? 'nm' : undefined);
      const spec: PrunePassSpec = {
        sparsity: opts.sparsity ?? 0, method, structured: opts.structured, merge: opts.merge, nm: opts.nm,
        scope: opts.scope, overrides, skipFirst: opts.skipFirst, skipLast: opts.skipLast,
        schedule: parseSchedule(opts.schedule, opts), finetuneEpochs: opts.finetuneEpochs,
        penalty: method === 'l1-reg' || method === 'bn-slim' ? { strength: opts.penalty, epochs: opts.data ? opts.penaltyEpochs : 0 } : undefined,
        blocks: opts.blocks ? { count: opts.blocks, criterion: opts.blockCriterion as BlockCriterion | 'sensitivity' } : undefined,
        channelMultiple: opts.channelMultiple, sensitivities: opts.sensitivities, seed: opts.seed,
      };
      if (!opts.data) {
        const why = method === 'taylor' ? 'Taylor saliency' : method === 'l1-reg' ? 'training with the L1 penalty (--method l1-reg)'
          : opts.finetuneEpochs > 0 ? 'fine-tuning' : opts.schedule !== 'oneshot' ? `the ${opts.schedule} schedule` : undefined;
        if (why) throw new NnzipError(`--data is needed for ${why}`);
      }
      if (method === 'l1-reg' && opts.penaltyEpochs === 0) throw new NnzipError('--method l1-reg trains with an L1 penalty first: --penalty-epochs must be at least 1');
      const { train, test } = openTaskData(source, opts.data);
      const loader = train && new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit, reuseBuffers: true });
      const testLoader = labelledTestLoader(test, opts.testLimit);
      const accuracy = accuracyOf(testLoader, opts.threads);
      const needsMeasure = opts.scope === 'sensitivity' || (opts.blocks && opts.blockCriterion === 'sensitivity');
      const plan = needsMeasure ? await measurePlan(source, { data: opts.data, metric: opts.metric, samples: opts.testLimit, seed: opts.seed, threads: opts.threads }) : undefined;
      const before = modelStats(source);
      const accuracyBefore = await accuracy(source);
      const progress = trainingProgress(!opts.json);
      const tty = !opts.json && process.stderr.isTTY;
      // Distillation: the teachers' soft targets join every training run (fine-tuning, penalty, sparse training).
      if (opts.teacher.length && !loader) throw new NnzipError('--teacher distills while training: give --data and training epochs');
      const distillation = opts.teacher.length
        ? await prepareDistillation(source, opts.teacher.map((t) => openModel(t, { runnable: true })), { temperature: opts.temperature, alpha: opts.alpha }, { runtime: nodeRuntime, loader: loader!, threads: opts.threads })
        : undefined;
      let result;
      try {
        result = await prunePass(source, spec, {
          runtime: nodeRuntime, loader, lr: opts.lr, lrSchedule: lrScheduleOf(opts.lrSchedule), threads: opts.threads, measure: plan?.measure, onStep: progress.step,
          onMeasure: tty ? (done, total) => process.stderr.write(`\rsensitivity: ${done}/${total} evaluations${done === total ? '\n' : ''}`) : undefined,
          distill: distillation && { losses: distillation.losses, extraFeeds: distillation.extraFeeds, loader: distillation.loader },
        });
      } finally {
        progress.stop();
        await distillation?.release();
      }
      const pruned = result.model;
      const structured = isStructured(spec);
      const after = modelStats(pruned);
      const accuracyAfter = await accuracy(pruned);
      await saveCheckedModel(pruned, opts.output, { inputs: [path], pass: 'prune' });
      const prunableBefore = prunableWeights(source).reduce((n, w) => n + source.graph.initializers.get(w.name)!.size, 0);
      const nonzeros = nonzerosByNode(pruned);
      const prunableNonzeros = [...nonzeros.values()].reduce((a, b) => a + b, 0);
      const report = {
        output: opts.output,
        method: methodLabel(spec),
        schedule: opts.schedule,
        total: {
          paramsBefore: before.params, paramsAfter: after.params,
          nonzerosBefore: before.nonzeroParams, nonzerosAfter: after.nonzeroParams,
          prunableWeightsBefore: prunableBefore, prunableNonzerosAfter: prunableNonzeros,
          weightsRemoved: prunableBefore ? 1 - prunableNonzeros / prunableBefore : 0,
          macsBefore: before.macs, macsAfter: after.macs,
          bytesBefore: before.bytes, bytesAfter: after.bytes,
          accuracyBefore, accuracyAfter,
        },
        layers: layerRows(before.layers, after.layers, nonzeros),
        stages: result.stages,
      };
      if (opts.json) return printJson(report);
      const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
      const t = report.total;
      process.stdout.write(
        `wrote ${opts.output} (${report.method}, ${report.schedule}): ${pct(t.weightsRemoved)} of prunable weights removed, ${pct(1 - t.macsAfter / t.macsBefore)} of MACs; `
        + `non-zero parameters ${t.nonzerosBefore} -> ${t.nonzerosAfter}; MACs ${t.macsBefore} -> ${t.macsAfter}`
        + `${t.accuracyBefore !== null ? `; accuracy ${pct(t.accuracyBefore)} -> ${pct(t.accuracyAfter!)}` : ''}\n`,
      );
    }));
}
