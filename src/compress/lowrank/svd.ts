// Truncated SVD of dense layers: a Gemm or MatMul with a constant weight W [K, N] becomes two, x·(U·√S) [K, r] then
// ·(√S·Vᵀ) [r, N] (+ the bias on the second), which costs r(K+N) multiply-adds per row instead of K·N. The rank comes
// from kept energy, a ratio of the full rank, or is given, per layer by name pattern.
import { AttributeInput, floatAttr } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { InferenceResult } from '../../core/shape/infer.js';
import { constantsToInitializers } from '../../core/weights.js';
import { keptEnergy, Matrix, matrix, svd } from './linalg.js';
import {
  Candidate, LowRankError, LowRankLayerReport, LowRankOptions, LowRankResult, RankChoice, checkOptions, checkPatterns,
  choiceFor, concreteShapes, rankFor, refusedLayers, savesEnough, staticShape, totals,
} from './plan.js';
import { Rewriter } from './rewrite.js';

/** A Gemm or MatMul whose weight is a float32 rank-2 initializer, seen as x·W with W [K, N]. */
interface LinearLayer {
  node: Node;
  weight: string;
  /** The weight as stored. */
  dims: number[];
  k: number;
  n: number;
  /** Gemm with transB=1 stores W transposed, [N, K]. */
  transposed: boolean;
}

/** The Gemm/MatMul layers of the graph, or why a node is not one (undefined for other ops). */
function linearLayer(graph: Graph, node: Node): LinearLayer | string | undefined {
  if (node.domain !== '' || (node.opType !== 'Gemm' && node.opType !== 'MatMul')) return undefined;
  const weight = node.input(1);
  const t = weight ? graph.initializers.get(weight) : undefined;
  if (!weight || !t) return undefined; // both operands computed: not a layer with weights
  if (graph.inputs.some((v) => v.name === weight)) return `its weight '${weight}' is also a graph input`;
  if (t.dataType !== DataType.FLOAT) return `its weight '${weight}' is not float32`;
  if (t.dims.length !== 2) return `its weight '${weight}' has rank ${t.dims.length}, not 2`;
  const transposed = node.opType === 'Gemm' && node.int('transB', 0) === 1;
  const [rows, cols] = t.dims as [number, number];
  return { node, weight, dims: [rows, cols], k: transposed ? cols : rows, n: transposed ? rows : cols, transposed };
}

/** Gemm/MatMul nodes reading an initializer weight, as layers or with the reason they cannot be factorized. */
export function linearCandidates(graph: Graph): { layer: LinearLayer | string; node: Node; candidate: Candidate }[] {
  const out: { layer: LinearLayer | string; node: Node; candidate: Candidate }[] = [];
  for (const node of graph.nodes) {
    const layer = linearLayer(graph, node);
    if (layer === undefined) continue;
    const names = [node.label, ...(typeof layer === 'string' ? [] : [layer.weight])];
    out.push({ layer, node, candidate: { names, refusal: typeof layer === 'string' ? layer : undefined } });
  }
  return out;
}

/** W as a [K, N] float64 matrix. */
function weightMatrix(graph: Graph, layer: LinearLayer): Matrix {
  const w = graph.initializers.get(layer.weight)!.toFloat32();
  const out = new Float64Array(layer.k * layer.n);
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i]!)) throw new LowRankError(`layer '${layer.node.label}': weight '${layer.weight}' holds ${w[i]} at element ${i}`);
  }
  if (!layer.transposed) out.set(w);
  else for (let r = 0; r < layer.n; r++) for (let c = 0; c < layer.k; c++) out[c * layer.n + r] = w[r * layer.k + c]!;
  return matrix(layer.k, layer.n, out);
}

/** Rows the layer multiplies per run (the product of the output's leading dims), or null when unknown. */
function rowsOf(shapes: InferenceResult, layer: LinearLayer): number | null {
  const out = staticShape(shapes, layer.node.outputs[0] ?? '');
  if (!out || !out.length) return null;
  return out.slice(0, -1).reduce((a, b) => a * b, 1);
}

/**
 * Factors of rank r, balanced: left = U_r·√S [K, r] and right = √S·V_rᵀ [r, N], as float32 in the layout the node
 * reads (transposed for a Gemm with transB=1).
 */
function balancedFactors(s: { values: Float64Array; u: Matrix; v: Matrix }, layer: LinearLayer, r: number): { left: Float32Array; right: Float32Array } {
  const { k, n } = layer;
  const left = new Float32Array(k * r), right = new Float32Array(r * n);
  for (let c = 0; c < r; c++) {
    const root = Math.sqrt(s.values[c]!);
    for (let i = 0; i < k; i++) {
      const x = s.u.data[i * s.u.cols + c]! * root;
      if (layer.transposed) left[c * k + i] = x; else left[i * r + c] = x;
    }
    for (let j = 0; j < n; j++) {
      const x = s.v.data[j * s.v.cols + c]! * root;
      if (layer.transposed) right[j * r + c] = x; else right[c * n + j] = x;
    }
  }
  return { left, right };
}

/** The two nodes that replace the layer: first factor without bias, second with the layer's bias and outputs. */
function factorNodes(rw: Rewriter, model: Model, layer: LinearLayer, left: string, right: string): Node[] {
  const { node } = layer;
  const label = node.name || node.outputs[0]!;
  const mid = rw.value(`${label}.lowrank`);
  if (node.opType === 'MatMul') {
    return [
      rw.node('MatMul', `${label}.u`, [node.inputs[0]!, left], [mid], {}),
      rw.node('MatMul', `${label}.v`, [mid, right], [...node.outputs], {}),
    ];
  }
  const alpha = node.float('alpha', 1), beta = node.float('beta', 1), transA = node.int('transA', 0);
  const firstAttrs: Record<string, AttributeInput> = {};
  const secondAttrs: Record<string, AttributeInput> = {};
  if (layer.transposed) firstAttrs.transB = secondAttrs.transB = 1;
  if (transA) firstAttrs.transA = 1;
  if (alpha !== 1) firstAttrs.alpha = floatAttr(alpha);
  const c = node.input(2);
  if (c && beta !== 1) secondAttrs.beta = floatAttr(beta);
  const firstInputs = [node.inputs[0]!, left];
  // Before opset 11 Gemm's C is required: a zero bias broadcast over the columns.
  if ((model.opset('') ?? 21) < 11) firstInputs.push(rw.initializer(`${label}.u.zero`, [1], new Float32Array(1)));
  return [
    rw.node('Gemm', `${label}.u`, firstInputs, [mid], firstAttrs),
    rw.node('Gemm', `${label}.v`, c ? [mid, right, c] : [mid, right], [...node.outputs], secondAttrs),
  ];
}

/**
 * Factorizes every Gemm/MatMul with a constant float32 [K, N] weight into two by truncated SVD, per the options:
 * layers matched by no rule (when only rules are given), excluded ones, ones whose rank would save nothing
 * (r(K+N) >= K·N) or less than `minMacsSaved`, and those that are not plain layers (weight not an initializer,
 * not float32, batched) are reported and left as they are. The input model is not modified.
 */
export function factorizeLinear(model: Model, options: LowRankOptions): LowRankResult {
  const global = checkOptions(options);
  const out = constantsToInitializers(model);
  const found = linearCandidates(out.graph);
  checkPatterns(options, found.map((f) => f.candidate), 'Gemm/MatMul layer');
  const layers = factorizeLayers(out, found, options, global);
  return { model: out, report: { layers, refused: refusedLayers(found), total: totals(layers) } };
}

/** Factorizes the given layers of `out` in place (`out` is the pass's own copy); returns their reports. */
export function factorizeLayers(out: Model, found: ReturnType<typeof linearCandidates>, options: LowRankOptions, global: RankChoice | undefined): LowRankLayerReport[] {
  const graph = out.graph;
  const shapes = concreteShapes(out);
  const rw = new Rewriter(graph);
  const reports: LowRankLayerReport[] = [];
  for (const { layer, node, candidate } of found) {
    if (typeof layer === 'string') continue; // reported as refused
    const choice = choiceFor(candidate.names, options, global);
    const rows = rowsOf(shapes, layer);
    const { k, n } = layer;
    const full = Math.min(k, n);
    const base: LowRankLayerReport = {
      node: node.label, weight: layer.weight, opType: node.opType, method: 'svd', shape: layer.dims, rank: [full], fullRank: [full],
      energy: 1, paramsBefore: k * n, paramsAfter: k * n, macsBefore: rows === null ? null : rows * k * n, macsAfter: rows === null ? null : rows * k * n,
      factorized: false, nodes: [node.label],
    };
    if (choice === undefined || choice === 'excluded') {
      reports.push({ ...base, reason: choice === 'excluded' ? 'excluded' : 'no rule matches it' });
      continue;
    }
    const dims = `[${layer.dims.join(', ')}]`;
    if (choice.rank !== undefined) rankFor(choice, full, undefined, node.label, dims); // a rank too large fails before any work
    let rank = 0;
    let reason: string | undefined;
    const factors = svd(weightMatrix(graph, layer), (values) => {
      rank = rankFor(choice, full, values, node.label, dims);
      if (options.force) reason = undefined;
      else if (rank * (k + n) >= k * n) reason = `rank ${rank} saves nothing (r(K+N) = ${rank * (k + n)} >= K·N = ${k * n})`;
      else if (!savesEnough(k * n, rank * (k + n), options.minMacsSaved ?? 0)) reason = `rank ${rank} saves ${(100 * (1 - (rank * (k + n)) / (k * n))).toFixed(1)}% of MACs, under the minimum`;
      return reason ? 0 : rank;
    });
    const energy = keptEnergy(factors.values, rank);
    if (reason) {
      reports.push({ ...base, rank: [rank], energy, reason });
      continue;
    }
    const { left, right } = balancedFactors(factors, layer, rank);
    const leftName = rw.initializer(`${layer.weight}.u`, layer.transposed ? [rank, k] : [k, rank], left);
    const rightName = rw.initializer(`${layer.weight}.v`, layer.transposed ? [n, rank] : [rank, n], right);
    const nodes = factorNodes(rw, out, layer, leftName, rightName);
    rw.replace(node, nodes);
    const after = rank * (k + n);
    reports.push({
      ...base, rank: [rank], energy, paramsAfter: after, macsAfter: rows === null ? null : rows * after,
      factorized: true, nodes: nodes.map((x) => x.name),
    });
  }
  return reports;
}
