// Weight sharing by k-means (Deep Compression's second stage, Han, Mao & Dally 2016): the weights of each Gemm, MatMul
// and Conv layer (or of several layers together: global sharing) are clustered by 1-D k-means and every weight is
// replaced by its cluster's centroid, so a layer stores a small codebook and one b-bit index per weight.
//
// Pruned layers: only non-zero weights are clustered. Their zeros get a codebook entry of their own, index 0, fixed
// at exactly 0 (fine-tuning re-zeroes it after every step), so a layer with zeros has 2^b - 1 trained centroids and the
// zero: 2^b entries, every index fits in b bits. The other entries are the centroids in ascending order.
//
// Forms written:
// - 'gather': indices (uint8 for codebooks of up to 256 entries, uint16 beyond; stored with the weight's shape) ->
//   Cast(int64) -> Gather(codebook [K], axis 0), whose output takes the weight's name, so its readers are unchanged.
//   onnxruntime's Gather takes int32 or int64 indices only, hence the Cast; int64 (not int32) because the training
//   engine's Gather gradient is a ScatterND, which takes int64 indices only. The file is smaller (1 or 2 bytes per
//   weight instead of 4) and every runtime runs it; fineTuneClustered trains the codebooks of this form.
// - 'dense': plain float32 weights that take at most K distinct values (what a packer or a runtime without Gather
//   wants; no smaller as ONNX).
// Isomorphic: no Node-only imports.
import { DataType, dataTypeName } from '../../core/dtype.js';
import { NnzipError } from '../../core/errors.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { constantsToInitializers } from '../../core/weights.js';
import { PrunableWeight, maskTensor, prunableWeights } from '../prune/masks.js';
import { FineTuneOptions, trainModel } from '../prune/schedules.js';
import { ParameterHook, maskHook } from '../../train/hooks.js';
import { matchesPattern } from '../../train/training-graph.js';
import { FitResult } from '../../train/trainer.js';
import { KMEANS_INITS, KMeansInit, kmeans1d } from './kmeans.js';

/** A clustering request that cannot be carried out: bits outside 1..16, a pattern matching no layer, no weights. */
export class ClusterError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

export type ClusterSharing = 'layer' | 'global';
export type ClusterFormat = 'gather' | 'dense';
export const CLUSTER_FORMATS: readonly ClusterFormat[] = ['gather', 'dense'];
export const CLUSTER_SHARINGS: readonly ClusterSharing[] = ['layer', 'global'];

/** Bits per layer type when none are given: the paper's 8 for convolutions and 5 for fully connected layers. */
export const DEFAULT_CLUSTER_BITS: Readonly<Record<string, number>> = { Conv: 8, Gemm: 5, MatMul: 5 };

export interface LayerBits {
  /** Matched against the weight's name and its node's name; '*' matches anything. */
  pattern: string;
  bits: number;
}

export interface ClusterOptions {
  /** Bits of every layer (1 to 16); default per op: DEFAULT_CLUSTER_BITS. */
  bits?: number;
  /** Bits for particular layers by name pattern; the first matching pattern wins over `bits`. */
  layerBits?: LayerBits[] | Record<string, number>;
  /** Centroid initialization (default 'linear', the paper's choice). */
  init?: KMeansInit;
  /** Seed of the 'random' initialization (default 0). */
  seed?: number;
  /** 'layer' (default): a codebook per layer; 'global': one codebook for the layers `sharedLayers` names. */
  sharing?: ClusterSharing;
  /** Global sharing: patterns of the layers that share one codebook (default: every clustered layer); it takes the largest bits among them. */
  sharedLayers?: string[];
  /** Layers (weight or node names, '*' matches anything) left as they are. */
  exclude?: string[];
  /** Default 'gather'. */
  format?: ClusterFormat;
  /** Lloyd iterations at most (default 1000). */
  maxIterations?: number;
}

export interface ClusteredLayerReport {
  /** The weight (initializer) name; in the gather form, the name of the Gather's output. */
  name: string;
  node: string;
  op: string;
  weights: number;
  nonzeros: number;
  bits: number;
  /** The codebook it reads (shared by several layers under global sharing); in the dense form only a label. */
  codebook: string;
  /** Entries of that codebook, the fixed zero included. */
  codebookSize: number;
  /** Whether entry 0 is the fixed zero of pruned weights. */
  zeroEntry: boolean;
  /** Element type of the stored indices ('float32' for the dense form). */
  storage: string;
  /** Bytes of the float32 weight. */
  bytesBefore: number;
  /** Bytes of the stored indices (the dense form: of the float weight). */
  indexBytes: number;
  /** Bytes of the codebook it reads (counted once per codebook in the totals; 0 in the dense form). */
  codebookBytes: number;
  /** indexBytes + codebookBytes. */
  bytesAfter: number;
  /** Indices packed in `bits` bits each plus the codebook: what a bit-packing container stores before entropy coding. */
  packedBytes: number;
  /** Largest |w - shared w|. */
  maxAbsError: number;
}

export interface CodebookReport {
  name: string;
  /** Weights (initializer names) that read it. */
  layers: string[];
  bits: number;
  size: number;
  zeroEntry: boolean;
  /** Lloyd iterations, and the sums of squared errors over the clustered (non-zero) weights at the start and end. */
  iterations: number;
  initialError: number;
  error: number;
}

export interface SkippedLayer {
  name: string;
  node: string;
  reason: string;
}

export interface ClusterReport {
  format: ClusterFormat;
  sharing: ClusterSharing;
  init: KMeansInit;
  layers: ClusteredLayerReport[];
  codebooks: CodebookReport[];
  skipped: SkippedLayer[];
  /** Over the clustered layers, each codebook counted once. */
  total: { weights: number; nonzeros: number; bytesBefore: number; bytesAfter: number; packedBytes: number };
  /** Bytes of all initializers of the model before and after. */
  modelBytesBefore: number;
  modelBytesAfter: number;
}

export interface ClusterResult {
  model: Model;
  report: ClusterReport;
}

/** Refuses bit widths outside 1..16 with a one-line error naming what they were given for. */
export function checkClusterBits(bits: number, what = 'bits'): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) throw new ClusterError(`${what} ${bits} is not supported: weight sharing takes 1 to 16 bits`);
  return bits;
}

interface ResolvedOptions {
  bits?: number;
  layerBits: LayerBits[];
  init: KMeansInit;
  seed: number;
  sharing: ClusterSharing;
  sharedLayers: string[];
  exclude: string[];
  format: ClusterFormat;
  maxIterations?: number;
}

function resolveOptions(options: ClusterOptions): ResolvedOptions {
  if (options.bits !== undefined) checkClusterBits(options.bits);
  const raw = options.layerBits ?? [];
  const layerBits = Array.isArray(raw) ? raw : Object.entries(raw).map(([pattern, bits]) => ({ pattern, bits }));
  for (const l of layerBits) checkClusterBits(l.bits, `bits for layers '${l.pattern}':`);
  const init = options.init ?? 'linear';
  if (!KMEANS_INITS.includes(init)) throw new ClusterError(`unknown centroid initialization '${String(init)}' (use ${KMEANS_INITS.join(', ')})`);
  const sharing = options.sharing ?? 'layer';
  if (!CLUSTER_SHARINGS.includes(sharing)) throw new ClusterError(`unknown sharing '${String(sharing)}' (use ${CLUSTER_SHARINGS.join(' or ')})`);
  if (options.sharedLayers?.length && sharing !== 'global') throw new ClusterError("sharedLayers needs sharing 'global'");
  const format = options.format ?? 'gather';
  if (!CLUSTER_FORMATS.includes(format)) throw new ClusterError(`unknown format '${String(format)}' (use ${CLUSTER_FORMATS.join(' or ')})`);
  return {
    bits: options.bits, layerBits, init, seed: options.seed ?? 0, sharing, sharedLayers: options.sharedLayers ?? [],
    exclude: options.exclude ?? [], format, maxIterations: options.maxIterations,
  };
}

const matchesLayer = (w: PrunableWeight, pattern: string) => matchesPattern(w.name, pattern) || matchesPattern(w.node, pattern);

function layerList(weights: PrunableWeight[]): string {
  return `${weights.slice(0, 8).map((w) => w.node).join(', ')}${weights.length > 8 ? ', ...' : ''}`;
}

interface LayerPlan {
  weight: PrunableWeight;
  tensor: Tensor;
  bits: number;
}

function planLayers(model: Model, o: ResolvedOptions): { plans: LayerPlan[]; skipped: SkippedLayer[] } {
  const weights = prunableWeights(model);
  if (!weights.length) throw new ClusterError('the model has no weights to cluster (Gemm, MatMul or Conv weights held as initializers)');
  for (const pattern of [...o.layerBits.map((l) => l.pattern), ...o.sharedLayers, ...o.exclude]) {
    if (!weights.some((w) => matchesLayer(w, pattern))) throw new ClusterError(`layer pattern '${pattern}' matches no layer (layers: ${layerList(weights)})`);
  }
  const graphOutputs = new Set(model.graph.outputs.map((v) => v.name));
  const plans: LayerPlan[] = [];
  const skipped: SkippedLayer[] = [];
  for (const weight of weights) {
    const tensor = model.graph.initializers.get(weight.name)!;
    const excluded = o.exclude.find((p) => matchesLayer(weight, p));
    const reason = excluded !== undefined ? `excluded by pattern '${excluded}'`
      : tensor.dataType !== DataType.FLOAT ? `the weight is ${dataTypeName(tensor.dataType)}; only float32 weights are clustered`
        : graphOutputs.has(weight.name) ? 'the weight is also a graph output' : undefined;
    if (reason) { skipped.push({ name: weight.name, node: weight.node, reason }); continue; }
    const bits = o.layerBits.find((l) => matchesLayer(weight, l.pattern))?.bits ?? o.bits ?? DEFAULT_CLUSTER_BITS[weight.opType] ?? 8;
    plans.push({ weight, tensor, bits });
  }
  if (!plans.length) throw new ClusterError(`every layer is excluded or skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`);
  return { plans, skipped };
}

/** The layers clustered together: one group per layer, or the shared group plus the layers it leaves out. */
function groupLayers(plans: LayerPlan[], o: ResolvedOptions): LayerPlan[][] {
  if (o.sharing === 'layer') return plans.map((p) => [p]);
  const shared = o.sharedLayers.length ? plans.filter((p) => o.sharedLayers.some((pat) => matchesLayer(p.weight, pat))) : plans;
  if (!shared.length) throw new ClusterError(`global sharing: the patterns ${o.sharedLayers.map((p) => `'${p}'`).join(', ')} match only excluded or skipped layers`);
  return [shared, ...plans.filter((p) => !shared.includes(p)).map((p) => [p])];
}

interface ClusteredGroup {
  codebook: Float32Array;
  zeroEntry: boolean;
  bits: number;
  /** Per member: the index of each weight into the codebook. */
  indices: Int32Array[];
  iterations: number;
  initialError: number;
  error: number;
}

/** k-means over the non-zero weights of the group's layers; zeros map to the fixed entry 0. */
function clusterGroup(group: LayerPlan[], o: ResolvedOptions): ClusteredGroup {
  const datas = group.map((p) => p.tensor.toFloat32());
  let nonzeros = 0;
  for (const d of datas) for (let i = 0; i < d.length; i++) if (d[i] !== 0) nonzeros++;
  const zeroEntry = datas.some((d) => d.length > 0) && nonzeros < datas.reduce((n, d) => n + d.length, 0);
  const pooled = new Float32Array(nonzeros);
  let at = 0;
  for (const d of datas) {
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (!Number.isFinite(v)) throw new ClusterError(`weight '${group[datas.indexOf(d)]!.weight.name}' holds ${v} at position ${i}; only finite weights can be clustered`);
      if (v !== 0) pooled[at++] = v;
    }
  }
  const bits = Math.max(...group.map((p) => p.bits));
  const clusters = Math.min(2 ** bits - (zeroEntry ? 1 : 0), Math.max(1, nonzeros));
  const k = kmeans1d(pooled, clusters, { init: o.init, seed: o.seed, maxIterations: o.maxIterations });
  const offset = zeroEntry ? 1 : 0;
  const codebook = new Float32Array(k.centroids.length + offset);
  codebook.set(k.centroids, offset);
  at = 0;
  const indices = datas.map((d) => {
    const idx = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) idx[i] = d[i] === 0 ? 0 : offset + k.assignments[at++]!;
    return idx;
  });
  return { codebook, zeroEntry, bits, indices, iterations: k.iterations, initialError: k.initialError, error: k.error };
}

function maxAbsError(data: Float32Array, indices: Int32Array, codebook: Float32Array): number {
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(data[i]! - codebook[indices[i]!]!));
  return max;
}

function indexTensor(name: string, dims: readonly number[], indices: Int32Array, codebookSize: number): Tensor {
  return codebookSize <= 256
    ? new Tensor(name, DataType.UINT8, dims, Uint8Array.from(indices))
    : new Tensor(name, DataType.UINT16, dims, Uint16Array.from(indices));
}

function initializerBytes(graph: Graph): number {
  let n = 0;
  for (const t of graph.initializers.values()) n += t.byteLength;
  return n;
}

/**
 * Returns a copy of the model whose Gemm, MatMul and Conv weights share values through k-means codebooks (see the file
 * comment for the forms), and a report per layer and per codebook. The input model is not changed.
 */
export function clusterWeights(source: Model, options: ClusterOptions = {}): ClusterResult {
  const o = resolveOptions(options);
  const model = constantsToInitializers(source);
  const graph = model.graph;
  const modelBytesBefore = initializerBytes(graph);
  const { plans, skipped } = planLayers(model, o);
  const groups = groupLayers(plans, o);

  const taken = graph.valueNames();
  const nodeNames = new Set(graph.nodes.map((n) => n.name).filter(Boolean));
  const nodeName = (prefix: string) => { let name = prefix; for (let i = 1; nodeNames.has(name); i++) name = `${prefix}_${i}`; nodeNames.add(name); return name; };
  const consumers = graph.consumers();
  const insertBefore = new Map<Node, Node[]>();
  const layers: ClusteredLayerReport[] = [];
  const codebooks: CodebookReport[] = [];
  let total = { weights: 0, nonzeros: 0, bytesBefore: 0, bytesAfter: 0, packedBytes: 0 };

  for (const group of groups) {
    const c = clusterGroup(group, o);
    const gather = o.format === 'gather';
    const bookName = gather ? graph.uniqueName(group.length > 1 ? 'shared.codebook' : `${group[0]!.weight.name}.codebook`, taken) : `${group[0]!.weight.name}.codebook`;
    // The dense form stores no codebook: its weights hold the shared values themselves.
    const codebookBytes = gather ? c.codebook.byteLength : 0;
    if (gather) graph.initializers.set(bookName, Tensor.fromFloat32(bookName, [c.codebook.length], c.codebook));
    codebooks.push({
      name: bookName, layers: group.map((p) => p.weight.name), bits: c.bits, size: c.codebook.length, zeroEntry: c.zeroEntry,
      iterations: c.iterations, initialError: c.initialError, error: c.error,
    });
    total.bytesAfter += codebookBytes;
    total.packedBytes += c.codebook.byteLength;
    group.forEach((plan, m) => {
      const { weight, tensor } = plan;
      const indices = c.indices[m]!;
      const data = tensor.toFloat32();
      let indexBytes: number, storage: string;
      if (gather) {
        const stored = indexTensor(graph.uniqueName(`${weight.name}.indices`, taken), tensor.dims, indices, c.codebook.length);
        graph.initializers.set(stored.name, stored);
        const wide = graph.uniqueName(`${weight.name}.indices_int64`, taken);
        const nodes = [
          new Node('Cast', [stored.name], [wide], nodeName(`${weight.name}_cast`), '', [{ name: 'to', type: 'INT', value: DataType.INT64 }]),
          new Node('Gather', [bookName, wide], [weight.name], nodeName(`${weight.name}_gather`), '', [{ name: 'axis', type: 'INT', value: 0 }]),
        ];
        const first = consumers.get(weight.name)?.[0];
        if (first) insertBefore.set(first, [...(insertBefore.get(first) ?? []), ...nodes]);
        graph.initializers.delete(weight.name);
        graph.inputs = graph.inputs.filter((v) => v.name !== weight.name);
        indexBytes = stored.byteLength;
        storage = dataTypeName(stored.dataType);
      } else {
        const shared = Float32Array.from(indices, (i) => c.codebook[i]!);
        graph.initializers.set(weight.name, new Tensor(weight.name, DataType.FLOAT, tensor.dims, shared));
        indexBytes = shared.byteLength;
        storage = 'float32';
      }
      let nonzeros = 0;
      for (let i = 0; i < data.length; i++) if (data[i] !== 0) nonzeros++;
      const packedIndexBytes = Math.ceil((data.length * c.bits) / 8);
      layers.push({
        name: weight.name, node: weight.node, op: weight.opType, weights: data.length, nonzeros, bits: c.bits, codebook: bookName,
        codebookSize: c.codebook.length, zeroEntry: c.zeroEntry, storage, bytesBefore: tensor.byteLength, indexBytes, codebookBytes,
        bytesAfter: indexBytes + codebookBytes, packedBytes: packedIndexBytes + c.codebook.byteLength, maxAbsError: maxAbsError(data, indices, c.codebook),
      });
      total = {
        weights: total.weights + data.length, nonzeros: total.nonzeros + nonzeros, bytesBefore: total.bytesBefore + tensor.byteLength,
        bytesAfter: total.bytesAfter + indexBytes, packedBytes: total.packedBytes + packedIndexBytes,
      };
    });
  }

  if (insertBefore.size) {
    const nodes: Node[] = [];
    for (const n of graph.nodes) nodes.push(...(insertBefore.get(n) ?? []), n);
    graph.nodes = nodes;
  }
  validateModel(model);
  return {
    model,
    report: {
      format: o.format, sharing: o.sharing, init: o.init, layers, codebooks, skipped, total,
      modelBytesBefore, modelBytesAfter: initializerBytes(graph),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Centroid fine-tuning

/** A codebook of the gather form and the weights read through it. */
export interface ClusteredCodebook {
  /** The codebook initializer (float, 1-D). */
  codebook: string;
  /** Entry 0 is exactly zero: the fixed entry of pruned weights, kept at zero by fine-tuning. */
  zeroEntry: boolean;
  /** Each weight (the Gather's output) and its index initializer. */
  layers: { weight: string; indices: string }[];
}

/**
 * The codebooks of a model in the gather form: Gather(axis 0) nodes whose data is a 1-D float initializer and whose
 * indices are an integer initializer read through a Cast. Found from the graph alone, so models saved and loaded
 * again are fine-tuned the same way.
 */
export function clusteredCodebooks(model: Model): ClusteredCodebook[] {
  const graph = model.graph;
  const producers = graph.producers();
  const byBook = new Map<string, ClusteredCodebook>();
  for (const node of graph.nodes) {
    if (node.opType !== 'Gather' || node.domain !== '' || node.int('axis', 0) !== 0) continue;
    const book = graph.initializers.get(node.inputs[0] ?? '');
    if (!book || book.dataType !== DataType.FLOAT || book.dims.length !== 1) continue;
    const cast = producers.get(node.inputs[1] ?? '');
    if (!cast || cast.opType !== 'Cast' || cast.domain !== '') continue;
    const indices = graph.initializers.get(cast.inputs[0] ?? '');
    if (!indices || (indices.dataType !== DataType.UINT8 && indices.dataType !== DataType.UINT16)) continue;
    const entry = byBook.get(book.name) ?? { codebook: book.name, zeroEntry: book.size > 0 && book.at(0) === 0, layers: [] };
    entry.layers.push({ weight: node.outputs[0]!, indices: indices.name });
    byBook.set(book.name, entry);
  }
  return [...byBook.values()];
}

/**
 * The dense form of a model in the gather form: each Cast -> Gather pair of clusteredCodebooks becomes the float32
 * initializer codebook[indices] under the weight's name (after fine-tuning, when plain weights are wanted). The
 * indices and codebooks no other node reads are dropped. The input model is not changed.
 */
export function denseFromClustered(model: Model): Model {
  const out = model.clone();
  const graph = out.graph;
  const producers = graph.producers();
  const removed = new Set<Node>();
  const casts = new Set<Node>();
  for (const book of clusteredCodebooks(out)) {
    const codebook = graph.initializers.get(book.codebook)!.toFloat32();
    for (const { weight, indices } of book.layers) {
      const gather = producers.get(weight)!;
      const index = graph.initializers.get(indices)!;
      const values = new Float32Array(index.size);
      for (let i = 0; i < values.length; i++) values[i] = codebook[index.at(i)]!;
      graph.initializers.set(weight, new Tensor(weight, DataType.FLOAT, index.dims, values));
      const cast = producers.get(gather.inputs[1]!)!;
      removed.add(gather).add(cast);
      casts.add(cast);
    }
  }
  // A Cast whose output something else reads too stays.
  for (const n of casts) {
    if (graph.nodes.some((m) => !removed.has(m) && m.inputs.some((i) => n.outputs.includes(i)))) removed.delete(n);
  }
  graph.nodes = graph.nodes.filter((n) => !removed.has(n));
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  const outputs = new Set(graph.outputs.map((v) => v.name));
  for (const book of clusteredCodebooks(model)) {
    for (const name of [book.codebook, ...book.layers.map((l) => l.indices)]) if (!read.has(name) && !outputs.has(name)) graph.initializers.delete(name);
  }
  validateModel(out);
  return out;
}

export interface ClusterFineTuneOptions {
  /**
   * Keep the zeros of the weights that were not clustered (excluded layers of a pruned model) at zero with masks
   * (default true). The clustered weights keep theirs through the fixed codebook entry.
   */
  keepZeros?: boolean;
}

export interface ClusterFineTuneResult {
  model: Model;
  fit: FitResult;
  codebooks: ClusteredCodebook[];
}

/**
 * Fine-tunes the centroids of a model in the gather form: the codebooks train (the Gather gradient sums the gradients
 * of every weight of a cluster into its centroid) while the indices, being integers, stay fixed, so the weights keep
 * sharing. The other parameters (biases, unclustered layers) train too. Fixed zero entries stay exactly zero.
 */
export async function fineTuneClustered(model: Model, fineTune: FineTuneOptions, options: ClusterFineTuneOptions = {}): Promise<ClusterFineTuneResult> {
  const codebooks = clusteredCodebooks(model);
  if (!codebooks.length) throw new ClusterError("the model has no clustered weights to fine-tune (cluster it with format 'gather' first)");
  const hooks: Record<string, ParameterHook[]> = {};
  for (const c of codebooks) {
    if (!c.zeroEntry) continue;
    const book = model.graph.initializers.get(c.codebook)!;
    const keep = new Uint8Array(book.size).fill(1);
    keep[0] = 0;
    hooks[c.codebook] = [maskHook(maskTensor(book, keep))];
  }
  if (options.keepZeros ?? true) {
    for (const w of prunableWeights(model)) {
      const t = model.graph.initializers.get(w.name)!;
      if (t.dataType !== DataType.FLOAT) continue;
      const data = t.toFloat32();
      const keep = Uint8Array.from(data, (v) => (v === 0 ? 0 : 1));
      if (keep.includes(0)) hooks[w.name] = [maskHook(maskTensor(t, keep))];
    }
  }
  const tuned = await trainModel(model, { hooks }, fineTune);
  return { ...tuned, codebooks };
}
