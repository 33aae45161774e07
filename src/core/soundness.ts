// The last checks before a model leaves a pass or goes to disk: well-formed graph, ops onnxruntime has, and no NaN
// or infinity among its weights (a diverged fine-tuning or a bad scale would otherwise be written as a model).
import { DataType, bfloat16BitsToNumber, float16BitsToNumber, isFloatType } from './dtype.js';
import { ValidationError } from './errors.js';
import { Model, walkNodes } from './ir.js';
import { Tensor } from './tensor.js';
import { assertRunnable } from './validate.js';

/** Index of the first NaN or infinite value of a float tensor, or -1. */
export function firstNonFinite(t: Tensor): number {
  if (t.isString || !isFloatType(t.dataType)) return -1;
  const d = t.numeric();
  if (t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE) {
    const a = d as Float32Array | Float64Array;
    // x - x is 0 for every finite x and NaN for NaN and ±Inf: one subtraction and compare per element.
    for (let i = 0; i < a.length; i++) { const v = a[i]!; if (v - v !== 0) return i; }
    return -1;
  }
  if (t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) {
    const decode = t.dataType === DataType.FLOAT16 ? float16BitsToNumber : bfloat16BitsToNumber;
    const bits = d as Uint16Array;
    const expMask = t.dataType === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    for (let i = 0; i < bits.length; i++) if ((bits[i]! & expMask) === expMask && !Number.isFinite(decode(bits[i]!))) return i;
    return -1;
  }
  return -1; // 8-bit and 4-bit float formats: not weights this toolkit writes
}

/** The first initializer or Constant-node tensor (subgraphs included) holding a NaN or an infinity. */
export function firstNonFiniteWeight(model: Model): { name: string; index: number; value: number } | undefined {
  const graphs = [model.graph];
  for (const { node } of walkNodes(model.graph)) graphs.push(...node.subgraphs());
  for (const graph of graphs) {
    for (const [name, t] of graph.initializers) {
      const index = firstNonFinite(t);
      if (index >= 0) return { name, index, value: t.at(index) };
    }
    for (const node of graph.nodes) {
      if (node.opType !== 'Constant' || node.domain !== '') continue;
      const t = node.attr('value')?.type === 'TENSOR' ? node.tensor('value') : undefined;
      const index = t ? firstNonFinite(t) : -1;
      if (index >= 0) return { name: node.outputs[0] ?? node.label, index, value: t!.at(index) };
    }
  }
  return undefined;
}

/**
 * Throws a ValidationError when `model` is not fit to hand on: structural problems, ops nothing defines, or a
 * non-finite weight. `pass` names what produced it ("the prune pass", "stages[2] (cluster)").
 */
export function assertSound(model: Model, pass: string): void {
  try {
    assertRunnable(model);
  } catch (e) {
    if (e instanceof ValidationError) e.message = `${pass} produced an invalid model: ${e.message.replace(/^invalid model: /, '')}`;
    throw e;
  }
  const bad = firstNonFiniteWeight(model);
  if (bad) throw new ValidationError(`${pass} produced a model whose weight '${bad.name}' holds ${bad.value} at index ${bad.index}`);
}
