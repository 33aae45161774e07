// nnzip quantize MODEL|DIR: weight-only, dynamic, static (calibrated), fp16/bf16, QAT, binary/ternary or mixed-precision
// quantization, or a transformers.js preset (for one file, or for every model of a repository folder); reports sizes,
// bits per layer and accuracy (or fidelity to the original) before and after. The work is the library's passes.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { CALIBRATION_METHODS, CalibrationMethod, checkCalibrationFeed } from '../compress/quantize/calibrate.js';
import { prepareDistillation } from '../compress/distill/index.js';
import { foldBatchNorm } from '../compress/optimize/fold-batchnorm.js';
import { FineTuneOptions } from '../compress/prune/schedules.js';
import { assertFiniteWeights, assertNotQuantized } from '../compress/quantize/checks.js';
import { trainBinary } from '../compress/quantize/binary.js';
import { quantizeDynamic } from '../compress/quantize/dynamic.js';
import { convertFloat16 } from '../compress/quantize/float16.js';
import { quantizeMixedPrecision } from '../compress/quantize/mixed.js';
import { PRESETS, PresetName, applyPreset, presetOfFileName, presetOutputName } from '../compress/quantize/presets.js';
import { trainQat } from '../compress/quantize/qat.js';
import { quantizeStatic } from '../compress/quantize/static.js';
import { WeightGranularity, quantizeWeights } from '../compress/quantize/weight-only.js';
import { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { FidelityReference, generatedFeeds, loaderFeeds } from '../eval/fidelity.js';
import { openDataset } from '../node/datasets.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { isNnzFile } from '../node/nnz.js';
import { collectGarbage } from '../node/memory.js';
import { nodeRuntime } from '../runtime/node.js';
import { checkDataFits } from '../train/trainer.js';
import { action, bytesOnDisk, collect, nonNegativeInt, openModel, positiveInt, positiveNumber, printJson, unitInterval, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';
import { openTaskData } from './task-data.js';

const MODES = ['weight', 'dynamic', 'static', 'fp16', 'bf16', 'qat', 'binary', 'ternary'] as const;
type Mode = (typeof MODES)[number];

interface QuantizeCliOptions {
  teacher: string[];
  temperature?: number;
  alpha?: number;
  mode?: Mode;
  preset?: PresetName;
  bits?: number;
  perChannel?: boolean;
  block?: number;
  asymmetric?: boolean;
  symmetric?: boolean;
  format: 'qdq' | 'nbits';
  levels: 'uniform' | 'log2';
  rounding: 'nearest' | 'gptq';
  calib?: string;
  calibMethod: CalibrationMethod;
  calibSamples: number;
  activations: 'uint8' | 'int8';
  reduceRange?: boolean;
  equalize?: boolean;
  biasCorrection?: boolean;
  exclude: string[];
  keepOps: string[];
  keepIoFp32: boolean;
  lsq?: boolean;
  fp16Scales?: boolean;
  sizeBudget?: number;
  bitsCandidates: number[];
  data?: string;
  epochs: number;
  lr: number;
  batch: number;
  limit?: number;
  testLimit?: number;
  seed: number;
  threads: number;
  output?: string;
  json?: boolean;
}


function bitList(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((b) => !Number.isInteger(b) || b < 2 || b > 8)) throw new NnzipError(`--bits-candidates '${v}': give bit widths from 2 to 8, comma-separated`);
  return list;
}

/** What the original and the quantized model are compared on: accuracy on labelled test data, else fidelity. */
interface Judge {
  metric: string;
  before: number | null;
  measure: (m: Model) => Promise<Record<string, number | null>>;
}

/** `from`: the original's file, which onnxruntime reads itself for the measurement before (`model` then only names its inputs). */
async function makeJudge(model: Model, test: Dataset | undefined, opts: QuantizeCliOptions, from?: string): Promise<Judge> {
  if (test && test.classes !== undefined) {
    const loader = new DataLoader(test, { batchSize: 500, limit: opts.testLimit });
    const measure = async (m: Model, source?: string) => ({ accuracy: (await evaluateClassifier(nodeRuntime, m, loader, { threads: opts.threads, from: source })).accuracy });
    return { metric: 'accuracy', before: (await measure(model, from)).accuracy, measure };
  }
  const feeds = test ? loaderFeeds(model, new DataLoader(test, { batchSize: 256, limit: opts.testLimit ?? 1024 })) : generatedFeeds(model, opts.testLimit ?? 256, { seed: opts.seed, batchSize: 128 });
  const reference = await FidelityReference.create(nodeRuntime, model, feeds, { threads: opts.threads, from });
  return {
    metric: reference.comparesTop1 ? 'top1-agreement' : 'cosine',
    before: 1,
    measure: async (m) => {
      const r = await reference.compare(m);
      return { [reference.comparesTop1 ? 'top1Agreement' : 'cosine']: reference.comparesTop1 ? r.top1Agreement : r.meanCosine, meanCosine: r.meanCosine, sqnrDb: Number.isFinite(r.sqnrDb) ? r.sqnrDb : null };
    },
  };
}

/** Calibration inputs: the first N samples of --calib (or --data's training split), shaped for the model's input. */
function calibrationFeeds(model: Model, opts: QuantizeCliOptions, why: string): Record<string, import('../core/tensor.js').Tensor>[] {
  const source = opts.calib ?? opts.data;
  if (!source) throw new NnzipError(`${why} needs calibration inputs: give --calib DATA (or --data DATA)`);
  const dataset = openDataset(source, 'train');
  checkDataFits(model, dataset.sampleShape, `--calib ${source}`);
  const feeds = [...loaderFeeds(model, new DataLoader(dataset, { batchSize: 64, limit: opts.calibSamples }))];
  for (const f of feeds) checkCalibrationFeed(model, f);
  return feeds;
}

function granularityOf(opts: QuantizeCliOptions): WeightGranularity | undefined {
  if (opts.block !== undefined) return { block: opts.block };
  if (opts.perChannel === false) return 'tensor';
  return undefined;
}

/** Runs the chosen mode; returns the quantized model, per-layer bits, and the mode's own report. */
async function quantize(model: Model, opts: QuantizeCliOptions, train: Dataset | undefined, judge: Judge): Promise<{ model: Model; layers: { name: string; op?: string; bits: number | string }[]; details: unknown }> {
  const mode = opts.mode ?? 'weight';
  const progress = trainingProgress(!opts.json);
  let distillation: Awaited<ReturnType<typeof prepareDistillation>> | undefined;
  /** Training settings for qat/binary/ternary; with --teacher, the teachers' soft targets join the loss. */
  const fineTune = async (): Promise<FineTuneOptions> => {
    if (!train) throw new NnzipError(`--mode ${mode} trains the model: give --data DATA (and --epochs)`);
    const loader = new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed, limit: opts.limit });
    if (opts.teacher.length) {
      distillation = await prepareDistillation(model, opts.teacher.map((t) => openModel(t, { runnable: true })), { temperature: opts.temperature, alpha: opts.alpha }, { runtime: nodeRuntime, loader, threads: opts.threads });
    }
    return {
      runtime: nodeRuntime, loader: distillation?.loader ?? loader, epochs: opts.epochs, lr: opts.lr, threads: opts.threads,
      fit: { onStep: progress.step, extraFeeds: distillation?.extraFeeds }, losses: distillation?.losses,
    };
  };
  if (opts.teacher.length && mode !== 'qat' && mode !== 'binary' && mode !== 'ternary') throw new NnzipError(`--teacher distills while training: it goes with --mode qat, binary or ternary, not ${opts.preset ? `--preset ${opts.preset}` : `--mode ${mode}`}`);
  try {
    if (opts.preset) {
      const r = await applyPreset(model, opts.preset, { perChannel: opts.perChannel, reduceRange: opts.reduceRange, exclude: opts.exclude });
      return { model: r.model, layers: [], details: r.report };
    }
    switch (mode) {
      case 'weight': {
        const base = {
          symmetric: !opts.asymmetric, granularity: granularityOf(opts), format: opts.format, levels: opts.levels, exclude: opts.exclude,
          scaleType: opts.fp16Scales ? 'float16' as const : undefined,
          rounding: opts.rounding, calibration: opts.rounding === 'gptq' ? { runtime: nodeRuntime, feeds: calibrationFeeds(model, opts, 'GPTQ rounding'), threads: opts.threads } : undefined,
        };
        if (opts.sizeBudget !== undefined) {
          const key = judge.metric === 'accuracy' ? 'accuracy' : judge.metric === 'top1-agreement' ? 'top1Agreement' : 'cosine';
          const r = await quantizeMixedPrecision(model, async (m) => (await judge.measure(m))[key] ?? 0, {
            sizeBudget: opts.sizeBudget, candidates: opts.bitsCandidates, base,
            onProgress: !opts.json && process.stderr.isTTY ? (done, total) => process.stderr.write(`\rmixed precision: ${done}/${total} evaluations${done === total ? '\n' : ''}`) : undefined,
          });
          return { model: r.model, layers: r.report.layers.map((l) => ({ name: l.weight, bits: l.bitsChosen })), details: r.report };
        }
        // BatchNorm folded first (lossless): its scale then rides in the quantized weights, and the graph is smaller.
        const folded = foldBatchNorm(model);
        const r = await quantizeWeights(folded.model, { ...base, bits: opts.bits ?? 8 });
        return { model: r.model, layers: r.report.weights.map((w) => ({ name: w.name, op: w.op, bits: w.bits })), details: { foldedBatchNorms: folded.folded, ...r.report } };
      }
      case 'dynamic': {
        const r = quantizeDynamic(model, { weightType: opts.asymmetric ? 'uint8' : 'int8', perChannel: opts.perChannel, reduceRange: opts.reduceRange, exclude: opts.exclude });
        return { model: r.model, layers: r.report.quantized.map((q) => ({ name: q.weight, op: q.op, bits: q.bits })), details: r.report };
      }
      case 'static': {
        const r = await quantizeStatic(model, calibrationFeeds(model, opts, 'static quantization'), {
          runtime: nodeRuntime, calibMethod: opts.calibMethod, activations: opts.activations, symmetricActivations: opts.symmetric,
          perChannel: opts.perChannel, reduceRange: opts.reduceRange, exclude: opts.exclude, equalize: opts.equalize, biasCorrection: opts.biasCorrection, threads: opts.threads,
        });
        return { model: r.model, layers: r.report.quantized.map((q) => ({ name: q.node, op: q.op, bits: r.report.weightBits })), details: r.report };
      }
      case 'fp16': case 'bf16': {
        const r = convertFloat16(model, { type: mode === 'fp16' ? 'float16' : 'bfloat16', keepIoFloat32: opts.keepIoFp32, keepOps: opts.keepOps, keepNodes: opts.exclude });
        return { model: r.model, layers: [], details: r.report };
      }
      case 'qat': {
        const r = await trainQat(model, { bits: opts.bits ?? 8, lsq: opts.lsq, exclude: opts.exclude }, await fineTune());
        return { model: r.model, layers: r.report.layers.map((l) => ({ name: l.weight, op: l.opType, bits: l.bits })), details: r.report };
      }
      case 'binary': case 'ternary': {
        const r = await trainBinary(model, { kind: mode, exclude: opts.exclude }, await fineTune());
        return { model: r.model, layers: r.report.layers.map((l) => ({ name: l.weight, op: l.opType, bits: mode === 'binary' ? 1 : 'ternary' })), details: r.report };
      }
    }
    throw new NnzipError(`--mode ${String(mode)}: unknown mode`);
  } finally {
    progress.stop();
    await distillation?.release();
  }
}

/** The repository layout transformers.js reads: onnx/model.onnx and its variants beside it. */
function repositoryModels(dir: string): string[] {
  const folder = existsSync(join(dir, 'onnx')) && statSync(join(dir, 'onnx')).isDirectory() ? join(dir, 'onnx') : dir;
  const files = readdirSync(folder).filter((f) => f.endsWith('.onnx') && presetOfFileName(f) === undefined).sort();
  if (!files.length) throw new NnzipError(`${dir}: no ONNX model to quantize (looked for *.onnx in ${folder}, variants such as model_q4.onnx excluded)`);
  return files.map((f) => join(folder, f));
}

/** The model without its weights: what naming inputs and outputs and making feeds need. */
function interfaceOf(model: Model): Model {
  const m = model.clone();
  const listed = new Set(m.graph.inputs.map((v) => v.name));
  // Initializers listed as graph inputs (old exports) stay, so that they are still not taken for data inputs.
  m.graph.initializers = new Map([...m.graph.initializers].filter(([name]) => listed.has(name)));
  return m;
}

async function quantizeFile(path: string, output: string, opts: QuantizeCliOptions) {
  let source = openModel(path, { runnable: true });
  assertNotQuantized(source);
  assertFiniteWeights(source);
  const { train, test } = openTaskData(source, opts.data);
  const bytesBefore = bytesOnDisk(path, source);
  let judge: Judge;
  if (isNnzFile(path)) judge = await makeJudge(source, test, opts);
  else {
    // onnxruntime reads the original from its file for the measurement before, while nnzip holds only the graph; the
    // weights are read again afterwards. A big model's float weights are then never in memory twice (nnzip's copy
    // and onnxruntime's), which bounds the peak at about the model's size plus the quantized weights.
    const graphOnly = interfaceOf(source);
    source = undefined as unknown as Model;
    collectGarbage();
    judge = await makeJudge(graphOnly, test, opts, path);
    source = openModel(path, { runnable: true });
  }

  const started = performance.now();
  const result = await quantize(source, opts, train, judge);
  source = undefined as unknown as Model; // the float weights the result does not share can go
  collectGarbage();
  const seconds = (performance.now() - started) / 1000;
  const after = await judge.measure(result.model);
  const saved = await saveCheckedModel(result.model, output, { inputs: [path], pass: opts.preset ? `${opts.preset} preset` : `${opts.mode ?? 'weight'} quantization`, loadedByRuntime: true });
  return {
    input: path, output, mode: opts.preset ? `preset ${opts.preset}` : opts.mode ?? 'weight', seconds,
    bytesBefore, bytesAfter: saved.bytes + saved.externalBytes,
    metric: judge.metric, before: judge.before, after,
    layers: result.layers, details: result.details,
  };
}

export function quantizeCommand(): Command {
  return withCommonOptions(new Command('quantize'))
    .description('quantize a model (weight-only, dynamic, static, fp16/bf16, QAT, binary/ternary, mixed precision) or apply a transformers.js preset to a model or a repository folder')
    .argument('<model>', 'ONNX model file, or (with --preset) a folder laid out as onnx/model.onnx')
    .addOption(new Option('--mode <mode>', 'what to quantize and how').choices([...MODES]))
    .addOption(new Option('--preset <name>', 'transformers.js variant: fp16, q8, int8, uint8, q4, q4f16, bnb4').choices([...PRESETS]))
    .option('--bits <n>', 'weight bits (weight: 2-8, default 8; qat: 8 or 4)', positiveInt('--bits'))
    .option('--per-channel', 'one weight scale per output channel (default for weight and static; dynamic and presets default to per tensor)')
    .option('--no-per-channel', 'one weight scale per tensor')
    .option('--block <n>', 'weight: block-wise scales, one per N weights along the input dimension (16-256, power of two)', positiveInt('--block'))
    .option('--asymmetric', 'weight: asymmetric weights with zero points (default symmetric); dynamic: uint8 weights')
    .option('--symmetric', 'static: symmetric activations')
    .addOption(new Option('--format <f>', 'weight: QDQ (DequantizeLinear, standard ops) or com.microsoft MatMulNBits for MatMul/Gemm').choices(['qdq', 'nbits']).default('qdq'))
    .option('--fp16-scales', 'weight (QDQ): store scales as float16 (half a bit per weight less at block 32)')
    .addOption(new Option('--levels <l>', 'weight: uniform levels or powers of two').choices(['uniform', 'log2']).default('uniform'))
    .addOption(new Option('--rounding <r>', 'weight: round to nearest, or GPTQ error compensation (needs --calib)').choices(['nearest', 'gptq']).default('nearest'))
    .option('--calib <data>', 'calibration data (static, GPTQ): mnist, an IDX/image/NPY/CSV folder or file')
    .addOption(new Option('--calib-method <m>', 'static: how activation ranges are chosen').choices([...CALIBRATION_METHODS]).default('minmax'))
    .option('--calib-samples <n>', 'calibration samples', positiveInt('--calib-samples'), 256)
    .addOption(new Option('--activations <t>', 'static: activation type').choices(['uint8', 'int8']).default('uint8'))
    .option('--reduce-range', '7-bit weights, advised by onnxruntime for int8 on CPUs without VNNI')
    .option('--equalize', 'static: cross-layer equalization first')
    .option('--bias-correction', 'static: correct biases for the mean error of quantized weights')
    .option('--exclude <pattern>', 'leave nodes (or weights) matching this name pattern in float (repeatable; * matches anything)', collect, [])
    .option('--keep-ops <op>', 'fp16: op types kept in float32 (repeatable)', collect, [])
    .option('--no-keep-io-fp32', 'fp16: make graph inputs and outputs float16 too (default: kept float32, Casts at the edges)')
    .option('--lsq', 'qat: learnable scales (LSQ)')
    .option('--size-budget <bytes>', 'weight: mixed precision, per-layer bits chosen by sensitivity so the file fits in BYTES', positiveInt('--size-budget'))
    .option('--bits-candidates <list>', 'mixed precision: bit widths to choose from', bitList, [2, 3, 4, 8])
    .option('--data <data>', 'labelled data: training (qat, binary, ternary) and accuracy before and after; without it, fidelity on generated inputs')
    .option('--teacher <model.onnx>', 'qat/binary/ternary: distill from this teacher (e.g. the float model) while training (repeatable)', collect, [])
    .option('--temperature <t>', 'distillation temperature (default 4)', positiveNumber('--temperature'))
    .option('--alpha <a>', 'distillation: weight of the soft-target term, the labels get 1 - alpha (default 0.9)', unitInterval('--alpha'))
    .option('--epochs <e>', 'qat/binary/ternary: training epochs', nonNegativeInt('--epochs'), 1)
    .option('--lr <lr>', 'qat/binary/ternary: learning rate (SGD, momentum 0.9)', positiveNumber('--lr'), 0.01)
    .option('--batch <b>', 'training batch size', positiveInt('--batch'), 64)
    .option('--limit <n>', 'train on the first N samples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'measure on the first N test samples (or N generated inputs)', positiveInt('--test-limit'))
    .option('--seed <s>', 'seed (shuffling, generated inputs)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .option('-o, --output <out.onnx>', 'where to write the quantized model (a folder input writes its variants beside each model)')
    .action(action(async (path: string, opts: QuantizeCliOptions) => {
      if (opts.mode && opts.preset) throw new NnzipError('give --mode or --preset, not both');
      if (opts.bits !== undefined && (opts.bits < 2 || opts.bits > 8)) throw new NnzipError(`--bits ${opts.bits}: bit widths are 2 to 8`);
      const isDir = existsSync(path) && statSync(path).isDirectory();
      if (isDir) {
        if (!opts.preset) throw new NnzipError(`${path} is a folder: quantizing a repository folder needs --preset (${PRESETS.join(', ')})`);
        const reports = [];
        for (const file of repositoryModels(path)) {
          const out = presetOutputName(file, opts.preset);
          if (!opts.json) process.stderr.write(`${file} -> ${out}\n`);
          reports.push(await quantizeFile(file, out, opts));
        }
        if (opts.json) return printJson({ folder: path, preset: opts.preset, models: reports });
        for (const r of reports) process.stdout.write(`wrote ${r.output}: ${r.bytesBefore} -> ${r.bytesAfter} bytes\n`);
        return;
      }
      if (!opts.output) throw new NnzipError('give -o OUT.onnx (where to write the quantized model)');
      const report = await quantizeFile(path, opts.output, opts);
      if (opts.json) return printJson(report);
      const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '-' : report.metric === 'accuracy' || report.metric === 'top1-agreement' ? `${(100 * v).toFixed(2)}%` : v.toFixed(4));
      const key = report.metric === 'accuracy' ? 'accuracy' : report.metric === 'top1-agreement' ? 'top1Agreement' : 'cosine';
      process.stdout.write(`wrote ${report.output} (${report.mode}): ${report.bytesBefore} -> ${report.bytesAfter} bytes (${(report.bytesBefore / report.bytesAfter).toFixed(2)}x smaller); `
        + `${report.metric} ${fmt(report.before)} -> ${fmt(report.after[key])}\n`);
    }));
}
