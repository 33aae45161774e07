// Where static quantization puts QuantizeLinear -> DequantizeLinear pairs, decided per op the way onnxruntime's QDQ
// transformer fuses node units into integer kernels (one rule per op type below):
//
//   DQ(x), DQ(w) [, DQ(int32 bias)] -> Conv -> Q                  => QLinearConv
//   DQ(a), DQ(b) [, DQ(int32 bias)] -> Gemm [-> Q]                => QGemm (float output without the Q)
//   DQ(a), DQ(b) -> MatMul [-> Q]                                 => QLinearMatMul / MatMulIntegerToFloat
//   DQ, DQ -> Add/Mul -> Q; DQ -> (Global)AveragePool/Sigmoid/LeakyRelu -> Q; DQ... -> Concat -> Q => QLinear*
//   DQ -> MaxPool/Reshape/Flatten/Transpose/... -> Q with the SAME scale and zero point => the op runs on integers
//   op -> Relu/Clip -> Q with the zero point at the integer minimum  => the Relu/Clip is dropped (the Q clamps)
//
// So the output of a Conv/Add/... is quantized after its Relu (never between them), pass-through ops share their
// input's parameters, a Q sits only where a consumer runs in integers, and Gemm/MatMul whose output feeds only float
// ops (the logits) keep a float output. Which tensors get a pair, and which share parameters, is all this file
// decides; static.ts calibrates and writes the graph.
import { DataType } from '../../core/dtype.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { ValueFacts } from '../../core/shape/registry.js';
import { readCount } from '../optimize/linear-layer.js';

type Role =
  /** Integer kernel with a weight input: Conv, Gemm, MatMul. */
  | 'weighted'
  /** Integer kernel that needs every float input and its output quantized. */
  | 'compute'
  /** Moves or selects values: runs on integers when its input and output share quantization parameters. */
  | 'pass-through'
  /** Relu/Clip: folded into the quantization of its producer's output. */
  | 'activation';

interface OpRule {
  role: Role;
  /** Input indices that must be float activations (all inputs for variadic ops when undefined). */
  inputs?: number[];
}

const RULES: Record<string, OpRule> = {
  Conv: { role: 'weighted', inputs: [0] },
  Gemm: { role: 'weighted', inputs: [0] },
  MatMul: { role: 'weighted', inputs: [0] },
  Add: { role: 'compute', inputs: [0, 1] },
  Mul: { role: 'compute', inputs: [0, 1] },
  AveragePool: { role: 'compute', inputs: [0] },
  GlobalAveragePool: { role: 'compute', inputs: [0] },
  Sigmoid: { role: 'compute', inputs: [0] },
  LeakyRelu: { role: 'compute', inputs: [0] },
  Concat: { role: 'compute' },
  MaxPool: { role: 'pass-through', inputs: [0] },
  Reshape: { role: 'pass-through', inputs: [0] },
  Flatten: { role: 'pass-through', inputs: [0] },
  Transpose: { role: 'pass-through', inputs: [0] },
  Squeeze: { role: 'pass-through', inputs: [0] },
  Unsqueeze: { role: 'pass-through', inputs: [0] },
  Gather: { role: 'pass-through', inputs: [0] },
  Slice: { role: 'pass-through', inputs: [0] },
  Expand: { role: 'pass-through', inputs: [0] },
  Tile: { role: 'pass-through', inputs: [0] },
  Resize: { role: 'pass-through', inputs: [0] },
  Relu: { role: 'activation', inputs: [0] },
  Clip: { role: 'activation', inputs: [0] },
};

/** Op types static quantization handles. */
export const STATIC_OPS: readonly string[] = Object.keys(RULES);

export interface PlacementOptions {
  /** Op types allowed to run quantized. */
  ops: ReadonlySet<string>;
  /** Nodes to keep in float, with the pattern that excluded each. */
  excluded: ReadonlyMap<Node, string>;
  /** Fold Relu/Clip into the producer's output quantization (needs the zero point at the integer minimum). */
  fuseActivations: boolean;
}

export interface Placement {
  /** Nodes that run on integers after onnxruntime's fusion, with their role. */
  quantized: Map<Node, Role>;
  /** Candidate nodes (ops in the table) left in float, and why. */
  float: { node: string; op: string; reason: string }[];
  /** Every tensor that gets a Q -> DQ pair. */
  tensors: Set<string>;
  /** Tensors that reuse another tensor's parameters (pass-through outputs), mapped to the tensor calibrated for them. */
  sharedWith: Map<string, string>;
  /** Relu/Clip nodes folded into their producer's output quantization, by the tensor quantized after them. */
  fused: Map<string, Node>;
  /** Weighted nodes whose weight (input 1) is a constant to store as integers. */
  constantWeights: Set<Node>;
}

const isFloat = (facts: Map<string, ValueFacts>, name: string) => facts.get(name)?.elemType === DataType.FLOAT;

/** Constant bounds of a Clip (inputs from opset 11, attributes before), or undefined when one is computed. */
export function clipBounds(graph: Graph, clip: Node): [number, number] | undefined {
  const bound = (i: number, attr: string, fallback: number): number | undefined => {
    if (clip.inputs.length > 1 || clip.attr(attr) === undefined) {
      const name = clip.input(i);
      if (!name) return fallback;
      const t = graph.initializers.get(name);
      return t && t.size === 1 ? t.at(0) : undefined;
    }
    return clip.float(attr, fallback);
  };
  const lo = bound(1, 'min', -Infinity), hi = bound(2, 'max', Infinity);
  return lo === undefined || hi === undefined ? undefined : [lo, hi];
}

/** Why a node of a known op cannot run quantized, or undefined when it can. */
function whyFloat(graph: Graph, node: Node, rule: OpRule, facts: Map<string, ValueFacts>): string | undefined {
  const inputs = rule.inputs ?? node.inputs.map((_, i) => i);
  for (const i of inputs) {
    const name = node.input(i);
    if (!name) return `input ${i} is missing`;
    if (graph.initializers.has(name)) return `input ${i} ('${name}') is a constant`;
    if (!isFloat(facts, name)) return `input ${i} ('${name}') is not known to be float32`;
  }
  if (node.outputs.filter(Boolean).length !== 1) return 'it has more than one output';
  if (!isFloat(facts, node.outputs[0]!)) return 'its output is not float32';
  if (rule.role === 'weighted') {
    const w = node.input(1);
    if (!w) return 'it has no second input';
    if (!isFloat(facts, w)) return `its weight '${w}' is not float32`;
    if (node.opType === 'Conv' && !graph.initializers.has(w)) return 'its weight is computed, not a constant';
    const bias = node.input(2);
    if (bias) {
      const c = graph.initializers.get(bias);
      if (!c || c.dataType !== DataType.FLOAT) return 'its bias is not a float32 constant';
      if (node.opType === 'Gemm' && c.dims.length === 2 && c.dims[0] !== 1) return `its bias of shape [${c.dims.join(',')}] has rows (onnxruntime's QGemm takes one bias per column)`;
    }
  }
  return undefined;
}

/** Decides which nodes run quantized and which tensors get Q -> DQ pairs (see the file comment). */
export function placeQdq(model: Model, facts: Map<string, ValueFacts>, options: PlacementOptions): Placement {
  const g = model.graph;
  // The model's own nodes in topological order (a scratch graph holding the same Node objects does the sorting).
  const scratch = new Graph();
  scratch.nodes = [...g.nodes];
  const order = scratch.sortTopologically().nodes;
  const consumers = g.consumers();
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const placement: Placement = {
    quantized: new Map(), float: [], tensors: new Set(), sharedWith: new Map(), fused: new Map(), constantWeights: new Set(),
  };

  const eligible = new Map<Node, OpRule>();
  for (const node of order) {
    const rule = node.domain === '' ? RULES[node.opType] : undefined;
    if (!rule) continue;
    const skip = (reason: string) => placement.float.push({ node: node.label, op: node.opType, reason });
    if (!options.ops.has(node.opType)) { skip('its op is not in the quantized ops'); continue; }
    const pattern = options.excluded.get(node);
    if (pattern !== undefined) { skip(`excluded by '${pattern}'`); continue; }
    const why = whyFloat(g, node, rule, facts);
    if (why) { skip(why); continue; }
    eligible.set(node, rule);
  }

  // The tensor a node's result is quantized as: after a Relu/Clip that only it feeds, else its own output.
  const resultTensor = (node: Node): string => {
    const out = node.outputs[0]!;
    if (!options.fuseActivations || graphOutputs.has(out)) return out;
    const readers = consumers.get(out) ?? [];
    const next = readers[0];
    if (readers.length !== 1 || readCount(g, out) !== 1 || !next || eligible.get(next)?.role !== 'activation') return out;
    if (next.opType === 'Clip' && !clipBounds(g, next)) return out;
    placement.fused.set(next.outputs[0]!, next);
    return next.outputs[0]!;
  };

  // Integer kernels: their float inputs get pairs; Conv and the QLinear ops also need their (post-activation) output.
  for (const node of order) {
    const rule = eligible.get(node);
    if (!rule || (rule.role !== 'weighted' && rule.role !== 'compute')) continue;
    placement.quantized.set(node, rule.role);
    for (const i of rule.inputs ?? node.inputs.map((_, k) => k)) placement.tensors.add(node.inputs[i]!);
    if (rule.role === 'weighted') {
      const w = node.inputs[1]!;
      if (g.initializers.has(w)) placement.constantWeights.add(node);
      else placement.tensors.add(w);
    }
    const result = resultTensor(node);
    if (node.opType !== 'Gemm' && node.opType !== 'MatMul') placement.tensors.add(result);
  }

  // Pass-through ops, last first: when a consumer needs the output quantized, quantize the input instead and let the
  // output share its parameters, so the op itself runs on integers.
  for (const node of [...order].reverse()) {
    if (eligible.get(node)?.role !== 'pass-through') continue;
    const out = node.outputs[0]!;
    if (!placement.tensors.has(out) || graphOutputs.has(out)) continue;
    const input = node.inputs[0]!;
    placement.tensors.add(input);
    placement.sharedWith.set(out, input);
    placement.quantized.set(node, 'pass-through');
  }
  // Follow chains of pass-through ops to the tensor that is calibrated.
  for (const [out, input] of placement.sharedWith) {
    let root = input;
    while (placement.sharedWith.has(root)) root = placement.sharedWith.get(root)!;
    placement.sharedWith.set(out, root);
  }

  // A Gemm/MatMul result keeps its Q only where something quantized reads it (it can output float otherwise); a
  // Relu/Clip after an unquantized result stays a float op.
  for (const [result, node] of placement.fused) {
    if (!placement.tensors.has(result)) placement.fused.delete(result);
    else placement.quantized.set(node, 'activation');
  }
  for (const node of eligible.keys()) {
    if (placement.quantized.has(node)) continue;
    const rule = eligible.get(node)!;
    const reason = rule.role === 'pass-through' ? 'nothing quantized reads its output'
      : rule.role === 'activation' ? 'it does not directly follow a quantized node (or its output is read twice)' : 'not placed';
    placement.float.push({ node: node.label, op: node.opType, reason });
  }
  return placement;
}
