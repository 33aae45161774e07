// Big models: weight-only int8 quantization and .nnz packing of a generated 1 GB fp32 model (external data), and
// weight-only quantization of a 2.2 GB one (over protobuf's 2 GiB limit), each by the CLI in a fresh process under
// /usr/bin/time -v: peak RSS against the model's size, wall time, and a check of the outputs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, modelOf } from '../src/core/builder.js';
import { DataType } from '../src/core/dtype.js';
import { Model } from '../src/core/ir.js';
import { nodeRuntime } from '../src/runtime/node.js';
import { Tensor } from '../src/core/tensor.js';
import { loadModel, saveModel } from '../src/node/io.js';
import { loadNnz } from '../src/node/nnz.js';
import { parseTimeReport } from './time-report.js';
import type { BenchResult, BenchRow, Benchmark } from './types.js';
import { uniformWeights } from './weights.js';

const WIDTH = 4096;
const RSS_LIMIT = 1.5; // peak RSS at most 1.5x the model's size (the bound)
const MB = 1e6;

const compiledDir = dirname(fileURLToPath(import.meta.url));
const cli = resolve(compiledDir, '../src/cli/main.js');
const outRoot = resolve(compiledDir, '../../bench/out');

/** An MLP of `layers` 4096x4096 Gemm layers: 67 MB of float32 weights each. Written with external data. */
function writeMlp(path: string, layers: number): void {
  const b = new GraphBuilder();
  let x = b.input('x', DataType.FLOAT, ['batch', WIDTH]);
  const scale = Math.sqrt(6 / WIDTH);
  for (let i = 0; i < layers; i++) {
    const w = b.floats(`fc${i}.weight`, [WIDTH, WIDTH], uniformWeights(WIDTH * WIDTH, scale, 0x9e3779b9 + i));
    const bias = b.floats(`fc${i}.bias`, [WIDTH], uniformWeights(WIDTH, 0.01, 0x85ebca6b + i));
    x = b.op('Gemm', [x, w, bias], { transB: 1 }, { name: `fc${i}` });
    if (i < layers - 1) x = b.op('Relu', [x], {}, { name: `relu${i}` });
  }
  b.output(x, DataType.FLOAT, ['batch', WIDTH]);
  saveModel(modelOf(b.graph, { '': 21 }), path, { externalData: true });
}

function filesBytes(...paths: string[]): number {
  return paths.filter((p) => existsSync(p)).reduce((n, p) => n + statSync(p).size, 0);
}

interface Measured { peakMB: number; wallS: number; report: Record<string, unknown> }

/** Runs `nnzip ARGS --json` under /usr/bin/time -v. */
function measure(args: string[]): Measured {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, cli, ...args, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`nnzip ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const time = parseTimeReport(r.stderr);
  if (time.maxRssKiB === undefined || time.elapsedS === undefined) throw new Error('/usr/bin/time -v gave no figures');
  return { peakMB: (time.maxRssKiB * 1024) / MB, wallS: time.elapsedS, report: JSON.parse(r.stdout) as Record<string, unknown> };
}

/** The outputs of two models on the same seeded input: the largest absolute difference, relative to the largest output. */
async function relativeDifference(a: string, b: Model | string): Promise<number> {
  const x = Tensor.fromFloat32('x', [4, WIDTH], uniformWeights(4 * WIDTH, 1, 7));
  const run = async (m: Model | string) => {
    const s = await nodeRuntime.createSession(m, { threads: 2 });
    try { return (await s.run({ x })) ; } finally { await s.release(); }
  };
  const ya = Object.values(await run(a))[0]!.toFloat32();
  const yb = Object.values(await run(b))[0]!.toFloat32();
  let diff = 0, scale = 0;
  for (let i = 0; i < ya.length; i++) { diff = Math.max(diff, Math.abs(ya[i]! - yb[i]!)); scale = Math.max(scale, Math.abs(ya[i]!)); }
  return diff / scale;
}

const benchmark: Benchmark = {
  name: 'big-model',
  description: 'nnzip quantize (weight-only int8) and nnzip pack of a generated 1 GB fp32 MLP, and quantize of a 2.2 GB one, '
    + 'in fresh processes under /usr/bin/time -v: peak RSS at most 1.5x the model\'s size.',
  async run(): Promise<BenchResult> {
    if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is missing (Debian: apt-get install time)');
    const dir = join(outRoot, `big-model-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    try {
      for (const layers of [16, 33]) {
        const source = join(dir, `mlp-${layers}.onnx`);
        const started = performance.now();
        writeMlp(source, layers);
        const modelBytes = filesBytes(source, `${source}.data`);
        const label = `${(modelBytes / 1e9).toFixed(2)} GB model`;
        notes.push(`${label}: ${layers} Gemm layers of ${WIDTH}x${WIDTH} plus biases, written with external data in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
        rows.push({ metric: `${label}: size (.onnx + .data)`, value: modelBytes / MB, unit: 'MB' });
        const limitMB = (RSS_LIMIT * modelBytes) / MB;

        const quantized = join(dir, `mlp-${layers}-int8.onnx`);
        const q = measure(['quantize', source, '--mode', 'weight', '--bits', '8', '-o', quantized]);
        const qBytes = filesBytes(quantized, `${quantized}.data`);
        rows.push(
          { metric: `${label}: quantize --mode weight --bits 8, peak RSS`, value: q.peakMB, unit: 'MB', target: { goal: `<= ${RSS_LIMIT}x model = ${limitMB.toFixed(0)} MB`, pass: q.peakMB <= limitMB } },
          { metric: `${label}: quantize, peak RSS / model size`, value: (q.peakMB * MB) / modelBytes, unit: 'x' },
          { metric: `${label}: quantize, wall time`, value: q.wallS, unit: 's' },
          { metric: `${label}: quantized size`, value: qBytes / MB, unit: 'MB' },
          { metric: `${label}: quantized top-1 agreement (CLI's fidelity check)`, value: String((q.report.after as Record<string, unknown>).top1Agreement), unit: '' },
        );
        if (layers === 16) {
          // The dequantized model's outputs stay close to the float model's: the file holds what it should.
          rows.push({ metric: `${label}: int8 output vs float output, max abs difference / max abs output`, value: await relativeDifference(source, quantized), unit: '' });
          const packed = join(dir, `mlp-${layers}.nnz`);
          const p = measure(['pack', source, '-o', packed]);
          rows.push(
            { metric: `${label}: pack, peak RSS`, value: p.peakMB, unit: 'MB', target: { goal: `<= ${RSS_LIMIT}x model = ${limitMB.toFixed(0)} MB`, pass: p.peakMB <= limitMB } },
            { metric: `${label}: pack, peak RSS / model size`, value: (p.peakMB * MB) / modelBytes, unit: 'x' },
            { metric: `${label}: pack, wall time (with the tensor-by-tensor check)`, value: p.wallS, unit: 's' },
            { metric: `${label}: .nnz size (random weights: stored raw)`, value: filesBytes(packed) / MB, unit: 'MB' },
          );
          const unpackedSame = (await relativeDifference(source, loadNnz(packed))) === 0;
          rows.push({ metric: `${label}: .nnz runs with outputs identical to the source`, value: unpackedSame ? 'yes' : 'no', unit: '', target: { goal: 'yes', pass: unpackedSame } });
          rmSync(packed, { force: true });
          const qp = join(dir, `mlp-${layers}-int8.nnz`);
          const pq = measure(['pack', quantized, '-o', qp]);
          rows.push(
            { metric: `${label}: pack of its int8 model (${(qBytes / MB).toFixed(0)} MB), peak RSS`, value: pq.peakMB, unit: 'MB' },
            { metric: `${label}: pack of its int8 model, peak RSS / int8 model size`, value: (pq.peakMB * MB) / qBytes, unit: 'x' },
          );
        } else {
          const external = [...loadModel(quantized).graph.initializers.values()].some((t) => t.external);
          rows.push({ metric: `${label}: quantized model loads back (${external ? 'external data' : 'inline'})`, value: 'yes', unit: '' });
        }
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
      }
      notes.push(
        'Each command runs as a user runs it (node build/src/cli/main.js ... --json) in a fresh process under /usr/bin/time -v; '
          + 'peak RSS is the process\'s maximum resident set size and includes Node itself (about 60 MB) and onnxruntime.',
        'quantize also measures the model before and after (top-1 agreement on 256 generated inputs): onnxruntime reads the original from its '
          + 'file while nnzip holds only the graph, then nnzip reads the weights, quantizes, and frees the float weights before onnxruntime loads the result.',
        'pack writes the container part by part (raw payloads are views of the model\'s tensors) and checks each tensor decodes to the same bytes, one at a time.',
        'Models stored inline (one 1 GB .onnx file) peak higher: reading the file and decoding its tensors hold both for a moment, and so does onnxruntime.',
        'MB = 10^6 bytes.',
      );
      return { title: 'big models: quantize and pack a 1 GB and a 2.2 GB model, peak memory', rows, notes };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default benchmark;
