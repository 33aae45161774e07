// Convolution decompositions (group=1 only; the bias always goes on the last conv):
// - Tucker-2 (Kim et al. 2016): a 1x1 conv from C_in to R_in channels, the kxk conv from R_in to R_out with the
//   original strides, pads and dilations, then a 1x1 conv to C_out. Ranks per mode from the singular values of the
//   weight's mode-0 [C_out, C_in·k] and mode-1 [C_in, C_out·k] unfoldings (HOSVD), optionally refined by HOOI sweeps.
// - Spatial separation (Jaderberg et al. 2014, scheme 2): a kx1 conv to K channels then a 1xk conv to C_out, from the
//   SVD of the kernel arranged as [C_in·kh, C_out·kw].
// 1x1 convolutions are plain matrices: either method factorizes them by SVD into two 1x1 convs.
import { AttributeInput } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { InferenceResult } from '../../core/shape/infer.js';
import { constantsToInitializers } from '../../core/weights.js';
import { Matrix, frobeniusSquared, keptEnergy, matrix, multiplyTransposed, svd, transpose } from './linalg.js';
import {
  Candidate, LowRankError, LowRankLayerReport, LowRankMethod, LowRankOptions, LowRankResult, RankChoice, checkOptions,
  checkPatterns, choiceFor, concreteShapes, rankFor, refusedLayers, savesEnough, staticShape, totals,
} from './plan.js';
import { Rewriter } from './rewrite.js';

export type ConvMethod = 'tucker' | 'spatial';

export interface ConvDecompositionOptions extends LowRankOptions {
  /** Default 'tucker'. */
  method?: ConvMethod;
  /** Tucker-2: HOOI sweeps refining the HOSVD factors at the chosen ranks (default 0). */
  iterations?: number;
}

interface ConvLayer {
  node: Node;
  weight: string;
  dims: number[];
  cout: number;
  cin: number;
  kernel: number[];
  /** Kernel taps (product of the kernel dims). */
  taps: number;
  data: Float32Array;
}

/** A Conv with a float32 initializer weight as a ConvLayer, the reason it cannot be decomposed, or undefined (no weight). */
function convLayer(graph: Graph, node: Node): ConvLayer | string | undefined {
  if (node.domain !== '' || node.opType !== 'Conv') return undefined;
  const weight = node.input(1);
  const t = weight ? graph.initializers.get(weight) : undefined;
  if (!weight || !t) return undefined;
  if (graph.inputs.some((v) => v.name === weight)) return `its weight '${weight}' is also a graph input`;
  if (t.dataType !== DataType.FLOAT) return `its weight '${weight}' is not float32`;
  if (t.dims.length < 3) return `its weight '${weight}' has rank ${t.dims.length}`;
  const group = node.int('group', 1);
  if (group !== 1) return `Conv with group=${group}: only group=1 convolutions are decomposed`;
  const [cout, cin, ...kernel] = t.dims as number[];
  return { node, weight, dims: [...t.dims], cout: cout!, cin: cin!, kernel, taps: kernel.reduce((a, b) => a * b, 1), data: t.toFloat32() };
}

/** Conv nodes reading an initializer weight, as layers or with the reason they cannot be decomposed. */
export function convCandidates(graph: Graph): { layer: ConvLayer | string; node: Node; candidate: Candidate }[] {
  const out: { layer: ConvLayer | string; node: Node; candidate: Candidate }[] = [];
  for (const node of graph.nodes) {
    const layer = convLayer(graph, node);
    if (layer === undefined) continue;
    out.push({ layer, node, candidate: { names: [node.label, node.input(1)!], refusal: typeof layer === 'string' ? layer : undefined } });
  }
  return out;
}

interface ConvGeometry {
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function geometry(node: Node, spatial: number): ConvGeometry {
  const ones = Array<number>(spatial).fill(1);
  return {
    strides: node.ints('strides', ones),
    dilations: node.ints('dilations', ones),
    pads: node.ints('pads', Array<number>(2 * spatial).fill(0)),
    autoPad: node.string('auto_pad', 'NOTSET'),
  };
}

function convAttributes(kernel: number[], g: ConvGeometry): Record<string, AttributeInput> {
  const attrs: Record<string, AttributeInput> = { kernel_shape: kernel, strides: g.strides, dilations: g.dilations };
  if (g.autoPad !== 'NOTSET') attrs.auto_pad = g.autoPad;
  else attrs.pads = g.pads;
  return attrs;
}

const plain = (spatial: number): ConvGeometry => ({
  strides: Array<number>(spatial).fill(1), dilations: Array<number>(spatial).fill(1), pads: Array<number>(2 * spatial).fill(0), autoPad: 'NOTSET',
});

const toFloat32 = (m: Float64Array) => Float32Array.from(m);

/** Layer sizes for MACs: batch x spatial sizes of the input and output, or null when unknown. */
function spatialSizes(shapes: InferenceResult, node: Node): { input: number[]; output: number[]; batch: number } | null {
  const x = staticShape(shapes, node.inputs[0] ?? ''), y = staticShape(shapes, node.outputs[0] ?? '');
  if (!x || !y || x.length !== y.length || x.length < 3) return null;
  return { input: x.slice(2), output: y.slice(2), batch: x[0]! };
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** What one decomposition would produce for one layer. */
interface Plan {
  method: LowRankMethod;
  rank: number[];
  fullRank: number[];
  paramsAfter: number;
  /** MACs after, or null when shapes are unknown. */
  macsAfter: number | null;
  /** Builds the nodes (called only when the plan saves enough). */
  build(rw: Rewriter): { nodes: Node[]; energy: number };
  /** Energy kept, for a plan that is not built. */
  energy(): number;
}

/** Weight as a [C_out, C_in·taps] matrix (its storage order). */
const mode0 = (l: ConvLayer): Matrix => matrix(l.cout, l.cin * l.taps, Float64Array.from(l.data));

/** Weight as a [C_in, C_out·taps] matrix: M[c][(o, t)] = W[o][c][t]. */
function mode1(data: ArrayLike<number>, cout: number, cin: number, taps: number): Matrix {
  const out = new Float64Array(cin * cout * taps);
  for (let o = 0; o < cout; o++) for (let c = 0; c < cin; c++) for (let t = 0; t < taps; t++) out[(c * cout + o) * taps + t] = data[(o * cin + c) * taps + t]!;
  return matrix(cin, cout * taps, out);
}

/** T ×₀ Uᵀ for T [d0, rest] and U [d0, r] (columns): [r, rest]. */
function contractMode0(t: Matrix, u: Matrix): Matrix {
  return multiplyTransposed(transpose(u), transpose(t));
}

/** T ×₁ Uᵀ for T [d0, d1, taps] and U [d1, r]: [d0, r, taps]. */
function contractMode1(data: Float64Array, d0: number, d1: number, taps: number, u: Matrix): Float64Array {
  const r = u.cols;
  // Rows (o, t) of length d1 against rows of Uᵀ: [(o, t), b] = Σ_c T[o][c][t] U[c][b].
  const permuted = new Float64Array(d0 * taps * d1);
  for (let o = 0; o < d0; o++) for (let c = 0; c < d1; c++) for (let t = 0; t < taps; t++) permuted[(o * taps + t) * d1 + c] = data[(o * d1 + c) * taps + t]!;
  const p = multiplyTransposed(matrix(d0 * taps, d1, permuted), transpose(u)).data; // [(o, t), b]
  const out = new Float64Array(d0 * r * taps);
  for (let o = 0; o < d0; o++) for (let t = 0; t < taps; t++) for (let b = 0; b < r; b++) out[(o * r + b) * taps + t] = p[(o * taps + t) * r + b]!;
  return out;
}

function tuckerPlan(l: ConvLayer, choice: RankChoice, sizes: ReturnType<typeof spatialSizes>, iterations: number): Plan {
  const { cout, cin, taps } = l;
  const w0 = mode0(l);
  const w1 = mode1(l.data, cout, cin, taps);
  const full = [Math.min(cout, cin * taps), Math.min(cin, cout * taps)];
  const dims = `[${l.dims.join(', ')}]`;
  const values0 = choice.energy !== undefined ? svd(w0, 0).values : undefined;
  const values1 = choice.energy !== undefined ? svd(w1, 0).values : undefined;
  const rOut = rankFor(choice, full[0]!, values0, l.node.label, dims);
  const rIn = rankFor(choice, full[1]!, values1, l.node.label, dims);
  const paramsAfter = cin * rIn + rOut * rIn * taps + rOut * cout;
  const macsAfter = sizes ? sizes.batch * (product(sizes.input) * cin * rIn + product(sizes.output) * (rIn * rOut * taps + rOut * cout)) : null;
  let cached: { uOut: Matrix; uIn: Matrix; core: Float64Array } | undefined;
  const factors = () => {
    if (cached) return cached;
    let uOut = svd(w0, rOut).u;
    let uIn = svd(w1, rIn).u;
    for (let i = 0; i < iterations; i++) {
      // HOOI: each mode's factor from the weight projected on the other mode's factor.
      uIn = svd(mode1(contractMode0(w0, uOut).data, rOut, cin, taps), rIn).u;
      uOut = svd(matrix(cout, rIn * taps, contractMode1(w0.data, cout, cin, taps, uIn)), rOut).u;
    }
    const core = contractMode1(contractMode0(w0, uOut).data, rOut, cin, taps, uIn); // [rOut, rIn, taps]
    return (cached = { uOut, uIn, core });
  };
  const energyOf = (core: Float64Array) => frobeniusSquared(matrix(1, core.length, core)) / Math.max(frobeniusSquared(w0), Number.MIN_VALUE);
  return {
    method: 'tucker', rank: [rOut, rIn], fullRank: full, paramsAfter, macsAfter,
    energy: () => energyOf(factors().core),
    build(rw) {
      const { uOut, uIn, core } = factors();
      const { node } = l;
      const label = node.name || node.outputs[0]!;
      const spatial = l.kernel.length;
      const ones = Array<number>(spatial).fill(1);
      const first = rw.initializer(`${l.weight}.in`, [rIn, cin, ...ones], toFloat32(transpose(uIn).data));
      const middle = rw.initializer(`${l.weight}.core`, [rOut, rIn, ...l.kernel], toFloat32(core));
      const last = rw.initializer(`${l.weight}.out`, [cout, rOut, ...ones], toFloat32(uOut.data));
      const a = rw.value(`${label}.in`), b = rw.value(`${label}.core`);
      const bias = node.input(2);
      const nodes = [
        rw.node('Conv', `${label}.in`, [node.inputs[0]!, first], [a], convAttributes(ones, plain(spatial))),
        rw.node('Conv', `${label}.core`, [a, middle], [b], convAttributes(l.kernel, geometry(node, spatial))),
        rw.node('Conv', `${label}.out`, bias ? [b, last, bias] : [b, last], [...node.outputs], convAttributes(ones, plain(spatial))),
      ];
      return { nodes, energy: energyOf(core) };
    },
  };
}

/** A 1x1 convolution (or any conv seen as its [C_out, C_in] matrix) split into two 1x1 convs by SVD. */
function pointwisePlan(l: ConvLayer, choice: RankChoice, sizes: ReturnType<typeof spatialSizes>): Plan {
  const { cout, cin } = l;
  const w = mode0(l);
  const full = Math.min(cout, cin);
  const values = choice.energy !== undefined ? svd(w, 0).values : undefined;
  const r = rankFor(choice, full, values, l.node.label, `[${l.dims.join(', ')}]`);
  let cached: ReturnType<typeof svd> | undefined;
  const factors = () => (cached ??= svd(w, r));
  return {
    method: 'svd', rank: [r], fullRank: [full], paramsAfter: r * (cin + cout),
    macsAfter: sizes ? sizes.batch * product(sizes.output) * r * (cin + cout) : null,
    energy: () => keptEnergy(factors().values, r),
    build(rw) {
      const s = factors();
      const { node } = l;
      const label = node.name || node.outputs[0]!;
      const spatial = l.kernel.length;
      const ones = Array<number>(spatial).fill(1);
      // first [r, C_in] = √S·Vᵀ, second [C_out, r] = U·√S
      const first = new Float32Array(r * cin), second = new Float32Array(cout * r);
      for (let c = 0; c < r; c++) {
        const root = Math.sqrt(s.values[c]!);
        for (let i = 0; i < cin; i++) first[c * cin + i] = s.v.data[i * r + c]! * root;
        for (let o = 0; o < cout; o++) second[o * r + c] = s.u.data[o * r + c]! * root;
      }
      const a = rw.initializer(`${l.weight}.v`, [r, cin, ...ones], first);
      const b = rw.initializer(`${l.weight}.u`, [cout, r, ...ones], second);
      const mid = rw.value(`${label}.lowrank`);
      const bias = node.input(2);
      // Strides and pads go on the first conv: padded positions give zeros there, so the second adds just the bias,
      // as the original conv did on its zero padding.
      const nodes = [
        rw.node('Conv', `${label}.v`, [node.inputs[0]!, a], [mid], convAttributes(ones, geometry(node, spatial))),
        rw.node('Conv', `${label}.u`, bias ? [mid, b, bias] : [mid, b], [...node.outputs], convAttributes(ones, plain(spatial))),
      ];
      return { nodes, energy: keptEnergy(s.values, r) };
    },
  };
}

function spatialPlan(l: ConvLayer, choice: RankChoice, sizes: ReturnType<typeof spatialSizes>): Plan {
  const { cout, cin } = l;
  const [kh, kw] = l.kernel as [number, number];
  // M[(c, y), (o, x)] = W[o][c][y][x]
  const rows = cin * kh, cols = cout * kw;
  const m = new Float64Array(rows * cols);
  for (let o = 0; o < cout; o++) for (let c = 0; c < cin; c++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    m[(c * kh + y) * cols + o * kw + x] = l.data[((o * cin + c) * kh + y) * kw + x]!;
  }
  const mat = matrix(rows, cols, m);
  const full = Math.min(rows, cols);
  const values = choice.energy !== undefined ? svd(mat, 0).values : undefined;
  const k = rankFor(choice, full, values, l.node.label, `[${l.dims.join(', ')}]`);
  // The vertical conv's output keeps the input's width: [batch, K, H_out, W_in].
  const macsAfter = sizes ? sizes.batch * (sizes.output[0]! * sizes.input[1]! * k * cin * kh + product(sizes.output) * cout * k * kw) : null;
  let cached: ReturnType<typeof svd> | undefined;
  const factors = () => (cached ??= svd(mat, k));
  return {
    method: 'spatial', rank: [k], fullRank: [full], paramsAfter: k * (cin * kh + cout * kw), macsAfter,
    energy: () => keptEnergy(factors().values, k),
    build(rw) {
      const s = factors();
      const { node } = l;
      const label = node.name || node.outputs[0]!;
      const vertical = new Float32Array(k * cin * kh), horizontal = new Float32Array(cout * k * kw);
      for (let q = 0; q < k; q++) {
        const root = Math.sqrt(s.values[q]!);
        for (let i = 0; i < rows; i++) vertical[q * rows + i] = s.u.data[i * k + q]! * root; // [K, C_in, kh, 1]
        for (let o = 0; o < cout; o++) for (let x = 0; x < kw; x++) horizontal[(o * k + q) * kw + x] = s.v.data[(o * kw + x) * k + q]! * root; // [C_out, K, 1, kw]
      }
      const g = geometry(node, 2);
      const [sh, sw] = g.strides as [number, number];
      const [dh, dw] = g.dilations as [number, number];
      const [pt, pl, pb, pr] = g.pads as [number, number, number, number];
      const a = rw.initializer(`${l.weight}.vertical`, [k, cin, kh, 1], vertical);
      const b = rw.initializer(`${l.weight}.horizontal`, [cout, k, 1, kw], horizontal);
      const mid = rw.value(`${label}.vertical`);
      const bias = node.input(2);
      // auto_pad pads each axis from its own kernel, stride and dilation, so it carries over to both convs as it is.
      const nodes = [
        rw.node('Conv', `${label}.vertical`, [node.inputs[0]!, a], [mid],
          convAttributes([kh, 1], { strides: [sh, 1], dilations: [dh, 1], pads: [pt, 0, pb, 0], autoPad: g.autoPad })),
        rw.node('Conv', `${label}.horizontal`, bias ? [mid, b, bias] : [mid, b], [...node.outputs],
          convAttributes([1, kw], { strides: [1, sw], dilations: [1, dw], pads: [0, pl, 0, pr], autoPad: g.autoPad })),
      ];
      return { nodes, energy: keptEnergy(s.values, k) };
    },
  };
}

/**
 * Decomposes every group=1 Conv with a constant float32 weight, per the options (see factorizeLinear for how layers
 * are chosen and skipped): Tucker-2 or spatial separation, and SVD into two 1x1 convs for 1x1 kernels. Spatial
 * separation needs 2-D kernels; other convs are reported and left alone. The input model is not modified.
 */
export function decomposeConv(model: Model, options: ConvDecompositionOptions): LowRankResult {
  const global = checkOptions(options);
  checkIterations(options.iterations);
  const out = constantsToInitializers(model);
  const found = convCandidates(out.graph);
  checkPatterns(options, found.map((f) => f.candidate), 'Conv layer');
  const layers = decomposeLayers(out, found, options, global);
  return { model: out, report: { layers, refused: refusedLayers(found), total: totals(layers) } };
}

export function checkIterations(iterations: number | undefined): void {
  if (iterations !== undefined && !(Number.isSafeInteger(iterations) && iterations >= 0)) throw new LowRankError(`HOOI iterations ${iterations} must be a whole number >= 0`);
}

/** Decomposes the given convs of `out` in place (`out` is the pass's own copy); returns their reports. */
export function decomposeLayers(out: Model, found: ReturnType<typeof convCandidates>, options: ConvDecompositionOptions, global: RankChoice | undefined): LowRankLayerReport[] {
  const shapes = concreteShapes(out);
  const rw = new Rewriter(out.graph);
  const method = options.method ?? 'tucker';
  const reports: LowRankLayerReport[] = [];
  for (const { layer, node, candidate } of found) {
    if (typeof layer === 'string') continue; // reported as refused
    const sizes = spatialSizes(shapes, node);
    const paramsBefore = layer.data.length;
    const macsBefore = sizes ? sizes.batch * product(sizes.output) * layer.cout * layer.cin * layer.taps : null;
    const pointwise = layer.taps === 1;
    const base: LowRankLayerReport = {
      node: node.label, weight: layer.weight, opType: 'Conv', method: pointwise ? 'svd' : method, shape: layer.dims,
      rank: [], fullRank: [], energy: 1, paramsBefore, paramsAfter: paramsBefore, macsBefore, macsAfter: macsBefore,
      factorized: false, nodes: [node.label],
    };
    const choice = choiceFor(candidate.names, options, global);
    if (choice === undefined || choice === 'excluded') {
      reports.push({ ...base, reason: choice === 'excluded' ? 'excluded' : 'no rule matches it' });
      continue;
    }
    const bad = layer.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new LowRankError(`layer '${node.label}': weight '${layer.weight}' holds ${layer.data[bad]} at element ${bad}`);
    if (!pointwise && method === 'spatial' && layer.kernel.length !== 2) {
      reports.push({ ...base, reason: `spatial separation needs a 2-D kernel, this one is [${layer.kernel.join(', ')}]` });
      continue;
    }
    const plan = pointwise ? pointwisePlan(layer, choice, sizes)
      : method === 'spatial' ? spatialPlan(layer, choice, sizes) : tuckerPlan(layer, choice, sizes, options.iterations ?? 0);
    const planned = { ...base, method: plan.method, rank: plan.rank, fullRank: plan.fullRank };
    // MACs decide when the shapes are known; parameters otherwise.
    const [before, after] = plan.macsAfter !== null && macsBefore !== null ? [macsBefore, plan.macsAfter] : [paramsBefore, plan.paramsAfter];
    if (!options.force && !savesEnough(before, after, options.minMacsSaved ?? 0)) {
      const saved = 1 - after / before;
      const reason = saved <= 0 ? `ranks [${plan.rank.join(', ')}] save nothing (${after} >= ${before} ${macsBefore !== null ? 'MACs' : 'parameters'})`
        : `ranks [${plan.rank.join(', ')}] save ${(100 * saved).toFixed(1)}% of MACs, under the minimum`;
      reports.push({ ...planned, energy: plan.energy(), reason });
      continue;
    }
    const built = plan.build(rw);
    rw.replace(node, built.nodes);
    reports.push({ ...planned, energy: built.energy, paramsAfter: plan.paramsAfter, macsAfter: plan.macsAfter, factorized: true, nodes: built.nodes.map((n) => n.name) });
  }
  return reports;
}
