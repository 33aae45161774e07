// Lossless graph optimization: the model computes the same function (up to float rounding) with fewer nodes and
// bytes. Each step is a small function over a private copy of the graph; optimizeModel runs them in an order where
// one step's result feeds the next (Identity removal exposes BatchNorm and constant chains; folding leaves dead
// initializers and duplicates for the last two steps).
import { encodeModel } from '../../core/codec.js';
import { Graph, Model, Node, normalizeDomain, walkNodes } from '../../core/ir.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { constantsToInitializers } from '../../core/weights.js';
import { foldBatchNorm } from './fold-batchnorm.js';

export interface OptimizeOptions {
  /** Fold inference-form BatchNormalization into the preceding Conv/Gemm (default true). */
  foldBatchNorm?: boolean;
  /** Replace nodes whose outputs shape inference can compute by initializers (default true). */
  foldConstants?: boolean;
  /** Remove Identity nodes (default true). */
  removeIdentity?: boolean;
  /** Remove Dropout nodes that run in inference mode (default true). */
  removeDropout?: boolean;
  /** Share initializers with the same type, dims and bytes (default true). */
  dedupeInitializers?: boolean;
  /** Drop initializers, Constant nodes and nodes nothing reads (default true). */
  removeUnused?: boolean;
  /** Largest tensor (elements) constant folding writes as an initializer (default 2^20). */
  maxFoldElements?: number;
}

export interface OptimizeReport {
  nodesBefore: number;
  nodesAfter: number;
  /** Serialized ONNX bytes (tensors inline). */
  bytesBefore: number;
  bytesAfter: number;
  /** Constant nodes whose tensors became initializers. */
  constantsToInitializers: number;
  foldedBatchNorms: number;
  /** BatchNormalization nodes left in place, and why. */
  batchNormsKept: { node: string; reason: string }[];
  foldedConstantNodes: number;
  removedIdentities: number;
  removedDropouts: number;
  dedupedInitializers: number;
  dedupedBytes: number;
  /** Nodes whose outputs nothing read (after the steps above). */
  removedNodes: number;
  removedInitializers: number;
}

export interface OptimizeResult {
  model: Model;
  report: OptimizeReport;
}

const DEFAULT_MAX_FOLD_ELEMENTS = 1 << 20;

/** Ops whose outputs differ between runs, never folded. */
const RANDOM_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'Dropout']);
/** Ops that pass a value through: removed by rewiring, not copied into a second initializer. */
const PASS_THROUGH = new Set(['Identity', 'Dropout']);

/** Follows renames to their end (a -> b -> c gives c). */
function resolve(aliases: Map<string, string>, name: string): string {
  let out = name;
  for (let seen = 0; aliases.has(out) && seen <= aliases.size; seen++) out = aliases.get(out)!;
  return out;
}

/** Renames every read (subgraphs' outer-scope reads included) and graph output through the alias map. */
function applyAliases(graph: Graph, aliases: Map<string, string>): void {
  if (aliases.size === 0) return;
  for (const { node } of walkNodes(graph)) node.inputs = node.inputs.map((i) => (i ? resolve(aliases, i) : i));
}

function isOnnxOp(node: Node, opType: string): boolean {
  return node.opType === opType && normalizeDomain(node.domain) === '';
}

/** Whether a Dropout is the identity: inference mode and nothing reads its mask. */
function dropoutIsIdentity(model: Model, node: Node, reads: Set<string>): boolean {
  const mask = node.outputs[1];
  if (mask && reads.has(mask)) return false;
  const opset = model.opset('') ?? 21;
  if (opset < 7 && node.int('is_test', 0) !== 1) return false;
  const trainingMode = node.inputs[2];
  if (trainingMode) {
    const t = model.graph.initializers.get(trainingMode);
    const isInput = model.graph.inputs.some((v) => v.name === trainingMode);
    if (!t || isInput || t.size !== 1 || t.at(0) !== 0) return false;
  }
  return true;
}

/** Names read by any node (subgraphs included) or returned as graph outputs. */
function readNames(graph: Graph): Set<string> {
  const reads = new Set<string>(graph.outputs.map((o) => o.name));
  for (const { node } of walkNodes(graph)) for (const i of node.inputs) if (i) reads.add(i);
  return reads;
}

/**
 * Removes Identity and inference-mode Dropout nodes, rewiring their readers to the input. Where the node produces a
 * graph output, the producer of its input is renamed to that output instead; when that is not possible (the input
 * is a graph input, an initializer or another graph output) the node stays.
 */
function removePassThrough(model: Model, options: { identity: boolean; dropout: boolean }): { identities: number; dropouts: number } {
  const graph = model.graph;
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const inputs = new Set(graph.inputs.map((v) => v.name));
  const producers = graph.producers();
  const reads = readNames(graph);
  const aliases = new Map<string, string>();
  const removed = new Set<Node>();
  let identities = 0, dropouts = 0;
  for (const node of graph.nodes) {
    const isIdentity = options.identity && isOnnxOp(node, 'Identity');
    const isDropout = options.dropout && isOnnxOp(node, 'Dropout') && dropoutIsIdentity(model, node, reads);
    if (!isIdentity && !isDropout) continue;
    const x = node.inputs[0] ? resolve(aliases, node.inputs[0]) : undefined;
    const y = node.outputs[0];
    if (!x || !y) continue;
    if (!outputs.has(y)) {
      aliases.set(y, x);
    } else {
      const producer = producers.get(x);
      if (!producer || removed.has(producer) || outputs.has(x) || inputs.has(x) || graph.initializers.has(x)) continue;
      producer.outputs = producer.outputs.map((o) => (o === x ? y : o));
      producers.set(y, producer);
      graph.valueInfo.delete(x);
      aliases.set(x, y);
    }
    removed.add(node);
    if (isIdentity) identities++;
    else dropouts++;
  }
  graph.nodes = graph.nodes.filter((n) => !removed.has(n));
  applyAliases(graph, aliases);
  return { identities, dropouts };
}

/**
 * Replaces nodes whose every output shape inference computes a value for (nnzip's inference folds small tensors:
 * shape arithmetic, Constant chains) by initializers. Graph inputs with a default initializer can be fed, so they
 * are not treated as constants; random ops, pass-through ops and nodes producing graph outputs are left alone.
 */
function foldConstants(model: Model, maxElements: number): number {
  const graph = model.graph;
  const probe = model.clone();
  for (const v of probe.graph.inputs) probe.graph.initializers.delete(v.name);
  let values;
  try {
    values = inferShapes(probe, { strict: false }).values;
  } catch {
    return 0; // an op inference cannot handle at all: fold nothing rather than guess
  }
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const folded = new Set<Node>();
  for (const node of graph.nodes) {
    if (normalizeDomain(node.domain) !== '' || RANDOM_OPS.has(node.opType) || PASS_THROUGH.has(node.opType)) continue;
    if (node.subgraphs().length > 0) continue;
    const names = node.outputs.filter((o) => o);
    if (names.length === 0 || names.some((o) => outputs.has(o))) continue;
    const tensors: Tensor[] = [];
    for (const name of names) {
      const value = values.get(name)?.value;
      if (!value || value.isString || value.size > maxElements) break;
      tensors.push(value.renamed(name));
    }
    if (tensors.length !== names.length) continue;
    for (const t of tensors) {
      graph.initializers.set(t.name, t);
      graph.valueInfo.delete(t.name);
    }
    folded.add(node);
  }
  graph.nodes = graph.nodes.filter((n) => !folded.has(n));
  return folded.size;
}

/** A cheap fingerprint of bytes (FNV-1a over a sample plus the length); equal tensors are then compared in full. */
function fingerprint(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  const step = Math.max(1, Math.floor(bytes.length / 4096));
  for (let i = 0; i < bytes.length; i += step) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h ^ bytes.length) >>> 0;
}

function bytesOf(t: Tensor): Uint8Array {
  const data = t.numeric();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Keeps one of each set of initializers with the same element type, dims and bytes and points the readers of the
 * others at it. Initializers that are graph inputs (feedable defaults) or graph outputs keep their own names.
 */
function dedupeInitializers(graph: Graph): { count: number; bytes: number } {
  const pinned = new Set([...graph.inputs.map((v) => v.name), ...graph.outputs.map((o) => o.name)]);
  const kept = new Map<string, { name: string; bytes: Uint8Array }[]>();
  const aliases = new Map<string, string>();
  let bytesSaved = 0;
  for (const [name, t] of graph.initializers) {
    if (pinned.has(name) || t.isString) continue;
    const bytes = bytesOf(t);
    const key = `${t.dataType}|${t.dims.join(',')}|${fingerprint(bytes)}`;
    const bucket = kept.get(key) ?? [];
    const twin = bucket.find((k) => sameBytes(k.bytes, bytes));
    if (twin) {
      aliases.set(name, twin.name);
      bytesSaved += bytes.length;
    } else {
      bucket.push({ name, bytes });
      kept.set(key, bucket);
    }
  }
  for (const name of aliases.keys()) {
    graph.initializers.delete(name);
    graph.valueInfo.delete(name);
  }
  applyAliases(graph, aliases);
  return { count: aliases.size, bytes: bytesSaved };
}

function serializedBytes(model: Model): number {
  return encodeModel(model).bytes.length;
}

/**
 * Optimizes a model without changing what it computes: BatchNorm folding, constant folding, Identity and Dropout
 * removal, shared duplicate initializers and removal of unused values. Returns a new model; the input is unchanged.
 */
export function optimizeModel(model: Model, options: OptimizeOptions = {}): OptimizeResult {
  const opt = {
    foldBatchNorm: options.foldBatchNorm ?? true,
    foldConstants: options.foldConstants ?? true,
    removeIdentity: options.removeIdentity ?? true,
    removeDropout: options.removeDropout ?? true,
    dedupeInitializers: options.dedupeInitializers ?? true,
    removeUnused: options.removeUnused ?? true,
    maxFoldElements: options.maxFoldElements ?? DEFAULT_MAX_FOLD_ELEMENTS,
  };
  const nodesBefore = model.graph.nodes.length;
  const report: OptimizeReport = {
    nodesBefore, nodesAfter: nodesBefore, bytesBefore: serializedBytes(model), bytesAfter: 0,
    constantsToInitializers: 0, foldedBatchNorms: 0, batchNormsKept: [], foldedConstantNodes: 0,
    removedIdentities: 0, removedDropouts: 0, dedupedInitializers: 0, dedupedBytes: 0, removedNodes: 0, removedInitializers: 0,
  };

  // Weights in Constant nodes become initializers, so every later step finds constants in one place.
  let out = model.clone();
  if (opt.foldConstants || opt.foldBatchNorm) {
    const constants = out.graph.nodes.filter((n) => isOnnxOp(n, 'Constant')).length;
    out = constantsToInitializers(out);
    report.constantsToInitializers = constants - out.graph.nodes.filter((n) => isOnnxOp(n, 'Constant')).length;
  }
  if (opt.removeIdentity || opt.removeDropout) {
    const { identities, dropouts } = removePassThrough(out, { identity: opt.removeIdentity, dropout: opt.removeDropout });
    report.removedIdentities = identities;
    report.removedDropouts = dropouts;
  }
  if (opt.foldConstants) report.foldedConstantNodes = foldConstants(out, opt.maxFoldElements);
  if (opt.foldBatchNorm) {
    const result = foldBatchNorm(out);
    out = result.model;
    report.foldedBatchNorms = result.folded.length;
    report.batchNormsKept = result.skipped;
  }
  if (opt.dedupeInitializers) {
    const { count, bytes } = dedupeInitializers(out.graph);
    report.dedupedInitializers = count;
    report.dedupedBytes = bytes;
  }
  if (opt.removeUnused) {
    const nodes = out.graph.nodes.length, initializers = out.graph.initializers.size;
    out.graph.removeDeadNodes();
    report.removedNodes = nodes - out.graph.nodes.length;
    report.removedInitializers = initializers - out.graph.initializers.size;
  }
  report.nodesAfter = out.graph.nodes.length;
  report.bytesAfter = serializedBytes(out);
  return { model: out, report };
}
