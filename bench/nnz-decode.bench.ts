// .nnz decoding speed: unpackModel (checksum, graph, every tensor) of generated 3-layer 4096-wide MLPs, in MB/s of
// the dense float32 weights the model stands for. Three cases: pruned 90% then clustered to 5 bits by the share/cluster
// pass (uint8 cluster indices behind Gather(codebook), coded as sparse gaps + Huffman-coded indices),
// pruned 90% left as float32 (sparse gaps + raw values), and dense float32 (raw).
import { GraphBuilder, modelOf } from '../src/core/builder.js';
import { DataType } from '../src/core/dtype.js';
import { Model } from '../src/core/ir.js';
import { packModel, unpackModel } from '../src/compress/encode/nnz.js';
import { clusterWeights } from '../src/compress/share/cluster.js';
import { type BenchResult, type BenchRow, type Benchmark } from './types.js';
import { uniformWeights } from './weights.js';

const WIDTH = 4096;
const LAYERS = 3; // 3 x 4096 x 4096 = 50.3 M weights, 201 MB as float32
const SPARSITY = 0.9;
const CLUSTER_BITS = 5;
const RUNS = 5;
const TARGET_MB_S = 200;
const MB = 1e6;

type Case = 'clustered' | 'sparse' | 'dense';

/** Weights uniform in [-1, 1]; pruning keeps |w| >= SPARSITY, so 10% survive (magnitude pruning at 90%). */
function layerWeights(i: number, pruned: boolean): Float32Array {
  const w = uniformWeights(WIDTH * WIDTH, 1, 0x9e3779b9 + i);
  if (pruned) for (let k = 0; k < w.length; k++) if (Math.abs(w[k]!) < SPARSITY) w[k] = 0;
  return w;
}

function buildModel(kind: Case): Model {
  const b = new GraphBuilder();
  let x = b.input('x', DataType.FLOAT, ['batch', WIDTH]);
  for (let i = 0; i < LAYERS; i++) {
    const weight = b.floats(`fc${i}.weight`, [WIDTH, WIDTH], layerWeights(i, kind !== 'dense'));
    x = b.op('MatMul', [x, weight], {}, { name: `fc${i}` });
    if (i < LAYERS - 1) x = b.op('Relu', [x]);
  }
  b.output(x, DataType.FLOAT, ['batch', WIDTH]);
  const model = modelOf(b.graph, { '': 21 });
    // Density-based initialization: on these weights (two bands, |w| in [0.9, 1]) linear initialization leaves 26 of
  // the 31 centroids in the empty middle, and the indices would be far easier to code than real 5-bit indices.
  return kind === 'clustered' ? clusterWeights(model, { bits: CLUSTER_BITS, init: 'density' }).model : model;
}

interface Measured {
  kind: Case;
  nnzBytes: number;
  float32Bytes: number;
  decodedBytes: number;
  packSeconds: number;
  runs: number[];
  encodings: string;
}

function measure(kind: Case): Measured {
  const model = buildModel(kind);
  const t0 = performance.now();
  const { bytes, report } = packModel(model);
  const packSeconds = (performance.now() - t0) / 1000;
  const decodedBytes = report.tensorBytesBefore;
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    const back = unpackModel(bytes);
    runs.push((performance.now() - start) / 1000);
    if (r === 0) {
      // Spot-check losslessness on the largest tensor (the tests check every byte).
      const name = report.tensors[report.tensors.length - 1]!.name;
      const a = model.graph.initializers.get(name)!.numeric();
      const c = back.graph.initializers.get(name)!.numeric();
      for (let i = 0; i < a.length; i += 997) if (a[i] !== c[i]) throw new Error(`${kind}: tensor '${name}' differs at ${i}`);
    }
  }
  const encodings = [...new Set(report.tensors.filter((t) => t.bytesBefore > 1 << 20).map((t) => (t.encoding === 'sparse' ? `sparse (${t.gapBits}-bit gaps, ${t.values} values)` : t.encoding)))].join(', ');
  return { kind, nnzBytes: bytes.byteLength, float32Bytes: report.float32WeightBytes, decodedBytes, packSeconds, runs, encodings };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const benchmark: Benchmark = {
  name: 'nnz-decode',
  description: `unpackModel of generated ${LAYERS}-layer ${WIDTH}-wide MLPs packed as .nnz (pruned 90% + clustered 5 bits; pruned 90% float32; dense float32): `
    + `MB/s of dense float32 weights produced, median of ${RUNS} runs (target >= ${TARGET_MB_S} MB/s).`,
  async run(): Promise<BenchResult> {
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    for (const kind of ['clustered', 'sparse', 'dense'] as Case[]) {
      const m = measure(kind);
      const seconds = median(m.runs);
      const speed = m.float32Bytes / MB / seconds;
      const label = kind === 'clustered' ? 'pruned 90% + clustered 5-bit' : kind === 'sparse' ? 'pruned 90%, float32' : 'dense float32';
      rows.push(
        { metric: `${label}: decode speed (dense float32 weights)`, value: speed, unit: 'MB/s', target: { goal: `>= ${TARGET_MB_S} MB/s`, pass: speed >= TARGET_MB_S } },
        { metric: `${label}: unpackModel time`, value: seconds * 1000, unit: 'ms' },
        { metric: `${label}: decoded tensor bytes / s`, value: m.decodedBytes / MB / seconds, unit: 'MB/s' },
        { metric: `${label}: .nnz size`, value: m.nnzBytes / MB, unit: 'MB' },
        { metric: `${label}: ratio vs float32 weights`, value: m.float32Bytes / m.nnzBytes, unit: 'x' },
        { metric: `${label}: packModel time`, value: m.packSeconds, unit: 's' },
      );
      notes.push(`${label}: ${m.encodings}; runs ${m.runs.map((s) => (s * 1000).toFixed(0)).join(', ')} ms.`);
    }
    notes.push(
      `Each model has ${LAYERS} MatMul weights of ${WIDTH}x${WIDTH} (${((LAYERS * WIDTH * WIDTH * 4) / MB).toFixed(0)} MB as float32), uniform in [-1, 1]; `
        + 'pruning zeroes |w| < 0.9 (magnitude pruning at 90%); clusterWeights(model, {bits: 5, init: "density"}) then shares the non-zeros of '
        + 'each layer among 31 k-means centroids plus the zero (uint8 indices -> Cast -> Gather(codebook)); not timed. Density initialization '
        + 'because linear initialization leaves 26 of the 31 centroids empty on these two-band weights (indices then far easier to code).',
      'Decode speed counts the dense float32 bytes the weights stand for (4 bytes per weight) over the wall time of unpackModel: checksum, '
        + 'graph decoding and every tensor. For the clustered model the decoded tensors are the uint8 indices (a quarter of those bytes); '
        + '"decoded tensor bytes / s" gives that figure. MB = 10^6 bytes.',
    );
    return { title: '.nnz decoding speed', rows, notes };
  },
};

export default benchmark;
