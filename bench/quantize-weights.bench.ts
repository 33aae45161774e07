// Weight-only int8 (per channel) of a generated 100M-parameter fp32 model: quantizeWeights + encodeModel time and the
// peak RSS of the process doing it. Each measurement runs in a fresh child Node process (this same file, started
// with --child), so its memory is its own; /usr/bin/time -v reports the child's peak RSS. Two flows: the fp32 input
// released once quantized (what a load -> quantize -> save command does), and kept alive through the encoding.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, modelOf } from '../src/core/builder.js';
import { encodeModel } from '../src/core/codec.js';
import { DataType } from '../src/core/dtype.js';
import { Model } from '../src/core/ir.js';
import { quantizeWeights } from '../src/compress/quantize/weight-only.js';
import { below, type BenchResult, type BenchRow, type Benchmark } from './types.js';
import { uniformWeights } from './weights.js';

const WIDTH = 4096;
const LAYERS = 6; // 6 x 4096 x 4096 = 100.7 M float parameters, 403 MB
const TIME_LIMIT_S = 5;
const RSS_LIMIT_FACTOR = 2;
const RUNS = 3;
const MB = 1e6;
const thisFile = fileURLToPath(import.meta.url);

function buildModel(): Model {
  const b = new GraphBuilder();
  let x = b.input('x', DataType.FLOAT, ['batch', WIDTH]);
  const scale = Math.sqrt(6 / WIDTH);
  for (let i = 0; i < LAYERS; i++) {
    const w = b.floats(`fc${i}.weight`, [WIDTH, WIDTH], uniformWeights(WIDTH * WIDTH, scale, 0x9e3779b9 + i));
    x = b.op('MatMul', [x, w], {}, { name: `fc${i}` });
    if (i < LAYERS - 1) x = b.op('Relu', [x], {}, { name: `relu${i}` });
  }
  b.output(x, DataType.FLOAT, ['batch', WIDTH]);
  return modelOf(b.graph, { '': 21 });
}

interface ChildReport {
  generateMs: number;
  quantizeMs: number;
  encodeMs: number;
  modelBytes: number;
  encodedBytes: number;
  weights: number;
  maxAbsError: number;
  rssBeforeBytes: number;
  maxRssKiB: number;
}

type Flow = 'release' | 'keep';

/** The child: generate, quantize, encode; one JSON line on stdout. */
async function child(flow: Flow): Promise<void> {
  const rssBeforeBytes = process.memoryUsage().rss;
  const t0 = performance.now();
  let model: Model | undefined = buildModel();
  const modelBytes = [...model.graph.initializers.values()].reduce((n, t) => n + t.byteLength, 0);
  const t1 = performance.now();
  const { model: quantized, report } = await quantizeWeights(model, { bits: 8, granularity: 'channel' });
  const t2 = performance.now();
  if (flow === 'release') model = undefined;
  const encoded = encodeModel(quantized).bytes;
  const t3 = performance.now();
  const out: ChildReport = {
    generateMs: t1 - t0, quantizeMs: t2 - t1, encodeMs: t3 - t2, modelBytes, encodedBytes: encoded.byteLength,
    weights: report.weights.length, maxAbsError: Math.max(...report.weights.map((w) => w.maxAbsError)),
    rssBeforeBytes, maxRssKiB: process.resourceUsage().maxRSS,
  };
  console.log(JSON.stringify(out));
  if (model) model.graph.name = ''; // keeps the input reachable until here in the 'keep' flow
}

function runChild(flow: Flow): { child: ChildReport; maxRssKiB?: number } {
  const haveTime = existsSync('/usr/bin/time');
  const node = [process.execPath, thisFile, '--child', flow];
  const [cmd, args] = haveTime ? ['/usr/bin/time', ['-v', ...node]] : [node[0]!, node.slice(1)];
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child process failed (status ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ChildReport;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { child: report, maxRssKiB: rss ? Number(rss[1]) : undefined };
}

const benchmark: Benchmark = {
  name: 'quantize-weights',
  description: `weight-only int8 per-channel quantizeWeights + encodeModel of a generated ${LAYERS}-layer ${WIDTH}x${WIDTH} `
    + 'MatMul model (100.7 M fp32 parameters), in fresh child processes: time and peak RSS.',
  async run(): Promise<BenchResult> {
    const runs = Array.from({ length: RUNS }, () => runChild('release'));
    const kept = Array.from({ length: RUNS }, () => runChild('keep'));
    const seconds = (r: { child: ChildReport }) => (r.child.quantizeMs + r.child.encodeMs) / 1000;
    const sorted = [...runs].sort((a, b) => seconds(a) - seconds(b));
    const median = sorted[Math.floor(RUNS / 2)]!;
    const peak = (list: typeof runs) => Math.max(...list.map((r) => (r.maxRssKiB ?? r.child.maxRssKiB) * 1024));
    const peakRssBytes = peak(runs);
    const keptRssBytes = peak(kept);
    const modelBytes = median.child.modelBytes;
    const rssLimit = RSS_LIMIT_FACTOR * modelBytes;
    const total = seconds(median);
    const rows: BenchRow[] = [
      { metric: 'parameters', value: `${(modelBytes / 4 / 1e6).toFixed(1)} M`, unit: 'float32' },
      { metric: 'model weights (fp32)', value: modelBytes / MB, unit: 'MB' },
      { metric: 'quantizeWeights (median run)', value: median.child.quantizeMs / 1000, unit: 's' },
      { metric: 'encodeModel (median run)', value: median.child.encodeMs / 1000, unit: 's' },
      { metric: `quantize + encode, median of ${RUNS} runs`, value: total, unit: 's', target: below(total, TIME_LIMIT_S, 's') },
      { metric: `quantize + encode, slowest of ${RUNS} runs`, value: seconds(sorted[RUNS - 1]!), unit: 's' },
      {
        metric: `peak RSS, input released after quantizing, largest of ${RUNS} runs (${runs[0]!.maxRssKiB !== undefined ? '/usr/bin/time -v' : 'resourceUsage'})`,
        value: peakRssBytes / MB, unit: 'MB',
        target: { goal: `< ${RSS_LIMIT_FACTOR}x model = ${(rssLimit / MB).toFixed(0)} MB`, pass: peakRssBytes < rssLimit },
      },
      { metric: 'peak RSS / model size, input released', value: peakRssBytes / modelBytes, unit: 'x' },
      { metric: `peak RSS, input kept alive through encodeModel, largest of ${RUNS} runs`, value: keptRssBytes / MB, unit: 'MB' },
      { metric: 'peak RSS / model size, input kept', value: keptRssBytes / modelBytes, unit: 'x' },
      { metric: 'RSS of the child before generating (Node + modules)', value: median.child.rssBeforeBytes / MB, unit: 'MB' },
      { metric: 'encoded int8 model', value: median.child.encodedBytes / MB, unit: 'MB' },
      { metric: 'size ratio fp32 / int8', value: modelBytes / median.child.encodedBytes, unit: 'x' },
      { metric: 'largest |w - dequantized w|', value: median.child.maxAbsError, unit: '' },
    ];
    const notes = [
      `Each child process generates the model (${LAYERS} MatMul weights of ${WIDTH}x${WIDTH}, deterministic uniform values, `
        + `${(median.child.generateMs / 1000).toFixed(1)} s, not timed), then times quantizeWeights(model, {bits: 8, granularity: 'channel'}) `
        + `and encodeModel of the result. Runs (quantize + encode): ${runs.map((r) => seconds(r).toFixed(2)).join(', ')} s.`,
      'Peak RSS covers the whole child: Node itself, the fp32 model, the int8 copy and the encoded bytes. MB = 10^6 bytes. '
        + 'quantizeWeights itself adds only the int8 copy (about 1/4 of the model) to the fp32 input; encodeModel adds about '
        + 'twice the encoded size while it runs (protobufjs doubles its write buffer as it grows, then copies the result out), '
        + 'which is why keeping the fp32 input alive through encodeModel ends near 2x. '
        + `Kept-input runs (quantize + encode): ${kept.map((r) => seconds(r).toFixed(2)).join(', ')} s.`,
      `quantizeWeights also checks every weight for NaN/Inf and validates the result; ${median.child.weights} weights were quantized.`,
    ];
    return { title: 'weight-only int8 of a 100M-parameter model', rows, notes };
  },
};

export default benchmark;

if (process.argv[1] === thisFile && process.argv[2] === '--child') await child(process.argv[3] === 'keep' ? 'keep' : 'release');
