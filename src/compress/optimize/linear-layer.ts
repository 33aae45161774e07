// Conv and Gemm nodes seen as linear layers over channels: which output and input channel each weight element belongs
// to, and rewrites that scale a layer's output channels (BatchNorm folding, cross-layer equalization) or input
// channels, or shift its bias (bias correction). The rewrites never change tensors in place: a changed weight or bias
// gets a new initializer (under the same name when no other node reads it).
import { DataType } from '../../core/dtype.js';
import { Graph, Node, nodeReads } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';

export interface LinearLayer {
  node: Node;
  kind: 'conv' | 'gemm';
  /** The weight initializer (float32): Conv [M, C/group, k...], Gemm B [K, N] or [N, K] with transB. */
  weight: Tensor;
  outChannels: number;
  inChannels: number;
  /** Output channel of weight element i. */
  outChannelOf(i: number): number;
  /** Input channel (of the layer's whole input, groups accounted for) that weight element i multiplies. */
  inChannelOf(i: number): number;
}

/** A Conv or Gemm with a float32 initializer weight as a LinearLayer, or the reason it is not one. */
export function linearLayer(graph: Graph, node: Node): LinearLayer | string {
  if (node.domain !== '' || (node.opType !== 'Conv' && node.opType !== 'Gemm')) return `${node.opType} is not a Conv or Gemm`;
  const weightName = node.input(1);
  const weight = weightName ? graph.initializers.get(weightName) : undefined;
  if (!weight) return `its weight (input 1) is not an initializer`;
  if (weight.dataType !== DataType.FLOAT) return `its weight '${weightName}' is not float32`;
  if (graph.inputs.some((i) => i.name === weightName)) return `its weight '${weightName}' is also a graph input`;
  const bias = node.input(2);
  if (bias) {
    const b = graph.initializers.get(bias);
    if (!b) return `its bias '${bias}' is not an initializer`;
    if (b.dataType !== DataType.FLOAT) return `its bias '${bias}' is not float32`;
  }
  if (node.opType === 'Conv') {
    if (weight.dims.length < 3) return `its weight has rank ${weight.dims.length}`;
    const group = node.int('group', 1);
    const [m, cPerGroup] = weight.dims as [number, number];
    if (bias && graph.initializers.get(bias)!.size !== m) return `its bias '${bias}' does not hold ${m} values`;
    const kernel = weight.dims.slice(2).reduce((a, b) => a * b, 1);
    const perOut = cPerGroup * kernel;
    const outPerGroup = m / group;
    if (!Number.isInteger(outPerGroup)) return `its ${m} output channels do not split into ${group} groups`;
    return {
      node, kind: 'conv', weight, outChannels: m, inChannels: cPerGroup * group,
      outChannelOf: (i) => Math.floor(i / perOut),
      inChannelOf: (i) => Math.floor(Math.floor(i / perOut) / outPerGroup) * cPerGroup + Math.floor(i / kernel) % cPerGroup,
    };
  }
  if (weight.dims.length !== 2) return `its weight has rank ${weight.dims.length}, not 2`;
  const transB = node.int('transB', 0) === 1;
  const [rows, cols] = weight.dims as [number, number];
  const n = transB ? rows : cols;
  const k = transB ? cols : rows;
  const c = bias ? graph.initializers.get(bias)! : undefined;
  if (c) {
    const last = c.dims.length === 0 ? 1 : c.dims[c.dims.length - 1]!;
    if (c.dims.length > 2 || (last !== 1 && last !== n)) return `its bias '${bias}' of shape [${c.dims.join(',')}] does not broadcast to ${n} columns`;
  }
  return {
    node, kind: 'gemm', weight, outChannels: n, inChannels: k,
    outChannelOf: transB ? (i) => Math.floor(i / cols) : (i) => i % cols,
    inChannelOf: transB ? (i) => i % cols : (i) => Math.floor(i / cols),
  };
}

/** How many times a value is read by nodes (subgraphs included) or as a graph output. */
export function readCount(graph: Graph, name: string): number {
  let n = graph.outputs.filter((o) => o.name === name).length;
  for (const node of graph.nodes) for (const r of nodeReads(node)) if (r === name) n++;
  return n;
}

/** Puts `tensor` at the node's input `index`: replacing the initializer when only this input reads it, else a new one. */
export function setInput(graph: Graph, node: Node, index: number, tensor: Tensor): void {
  const current = node.input(index);
  const exclusive = current !== undefined && graph.initializers.has(current) && readCount(graph, current) === 1
    && !graph.inputs.some((i) => i.name === current);
  const name = exclusive ? current! : graph.uniqueName(current ?? `${node.name || node.outputs[0]}_bias`);
  graph.initializers.set(name, tensor.renamed(name));
  while (node.inputs.length <= index) node.inputs.push('');
  node.inputs[index] = name;
}

/**
 * The layer's bias as values per output channel (Gemm: beta * C), shaped [N] for Conv and for a Gemm C that is a
 * scalar, [N] or [1, N]; [M, N] for a Gemm C with rows ([M, N] or [M, 1]). Zeros when the layer has no bias.
 */
export function layerBias(graph: Graph, layer: LinearLayer): { dims: number[]; data: Float64Array } {
  const n = layer.outChannels;
  const name = layer.node.input(2);
  if (!name) return { dims: [n], data: new Float64Array(n) };
  const c = graph.initializers.get(name)!;
  const values = c.toFloat32();
  if (layer.kind === 'conv') return { dims: [n], data: Float64Array.from(values) };
  const beta = layer.node.float('beta', 1);
  const dims = c.dims;
  const cols = dims.length === 0 ? 1 : dims[dims.length - 1]!;
  const rows = dims.length === 2 ? dims[0]! : 1;
  const data = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) data[r * n + j] = beta * values[r * cols + (cols === 1 ? 0 : j)]!;
  return { dims: rows > 1 ? [rows, n] : [n], data };
}

/**
 * Rewrites the layer so output channel j becomes scale[j] * y_j + shift[j]: weights of channel j times scale[j], bias
 * b_j * scale[j] + shift[j] (a bias is added when there was none; a Gemm's beta becomes 1).
 */
export function transformOutputChannels(graph: Graph, layer: LinearLayer, scale: ArrayLike<number>, shift?: ArrayLike<number>): void {
  if (Array.prototype.some.call(scale, (s: number) => s !== 1)) {
    const w = layer.weight.toFloat32();
    const scaled = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) scaled[i] = w[i]! * scale[layer.outChannelOf(i)]!;
    setInput(graph, layer.node, 1, Tensor.fromFloat32(layer.weight.name, layer.weight.dims, scaled));
  }
  const bias = layerBias(graph, layer);
  const n = layer.outChannels;
  const out = new Float32Array(bias.data.length);
  for (let i = 0; i < out.length; i++) out[i] = bias.data[i]! * scale[i % n]! + (shift ? shift[i % n]! : 0);
  setInput(graph, layer.node, 2, Tensor.fromFloat32(layer.node.input(2) ?? 'bias', bias.dims, out));
  if (layer.kind === 'gemm') layer.node.setAttr({ name: 'beta', type: 'FLOAT', value: 1 });
  layer.weight = graph.initializers.get(layer.node.inputs[1]!)!;
}

/** Rewrites the layer's weights so input channel c is multiplied by scale[c]. */
export function scaleInputChannels(graph: Graph, layer: LinearLayer, scale: ArrayLike<number>): void {
  const w = layer.weight.toFloat32();
  const scaled = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) scaled[i] = w[i]! * scale[layer.inChannelOf(i)]!;
  setInput(graph, layer.node, 1, Tensor.fromFloat32(layer.weight.name, layer.weight.dims, scaled));
  layer.weight = graph.initializers.get(layer.node.inputs[1]!)!;
}
