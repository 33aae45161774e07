// Builds the training graph of a model: forward in training form, losses, backward, hooks, optimizer update. Every
// tensor carried from step to step (parameters, optimizer state, running statistics) is a graph input whose new value
// is a graph output, so a step is one onnxruntime run.
import { GraphBuilder } from '../core/builder.js';
import { DataType, isFloatType } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Dim, Graph, Model } from '../core/ir.js';
import { upgradeOpset } from '../core/passes/upgrade-opset.js';
import { inferShapes } from '../core/shape/infer.js';
import { Tensor } from '../core/tensor.js';
import { validateModel } from '../core/validate.js';
import { constantsToInitializers } from '../core/weights.js';
import { GradientSeed, addGradients } from '../autograd/gradients.js';
import { gradientEntry } from '../autograd/registry.js';
import { ParameterHook } from './hooks.js';
import { LossSpec, RegularizerSpec, lossPart, regularizer } from './losses.js';
import { OptimizerSpec, clipGradNorm, emitUpdate, stateFor } from './optimizers.js';

export interface TrainingSpec {
  optimizer: OptimizerSpec;
  /** Loss terms, summed (default: softmax cross-entropy). */
  losses?: LossSpec[];
  /** L1/L2 penalties; `params` are name patterns ('*' matches anything), all parameters by default. */
  regularizers?: { kind: 'l1' | 'l2'; weight: number; params?: string[] }[];
  /** Parameters kept fixed, by name pattern ('*' matches anything). */
  freeze?: string[];
  /** Hooks per parameter name. */
  hooks?: Record<string, ParameterHook[]>;
  clipGradNorm?: number;
  /** The model output the losses read (default: the first). */
  output?: string;
}

export interface CarriedTensor {
  /** Graph input that takes the current value, and the graph output giving the next one. */
  input: string;
  output: string;
  init: Tensor;
  role: 'param' | 'optimizer' | 'statistic';
}

export interface TrainingProgram {
  model: Model;
  /** The original model's input name (the data). */
  dataInput: string;
  /** Inputs the losses need: labels, targets, teacher logits. */
  lossInputs: { name: string; elemType: DataType; shape: (number | string)[] }[];
  /** Per-step scalar inputs (float32 scalars): 'lr' and optimizer-specific ones. */
  scalars: string[];
  carried: CarriedTensor[];
  params: string[];
  /** Graph outputs: the total loss and the model's output (for training metrics). */
  lossOutput: string;
  modelOutput: string;
  /** Trainable tensors the losses own (hint adapters): in `params` and `carried`, absent from the inference model. */
  lossParams: string[];
}

/** Training failed to set up: a frozen pattern matching nothing, no parameters, an output that does not exist. */
export class TrainingError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

export function matchesPattern(name: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

/** Float initializers of rank 1 or more are parameters; scalars are constants of the model's arithmetic. */
export function trainableCandidates(graph: Graph, exclude: Set<string>): string[] {
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  return [...graph.initializers.values()]
    .filter((t) => isFloatType(t.dataType) && t.dims.length >= 1 && read.has(t.name) && !exclude.has(t.name))
    .map((t) => t.name);
}

function toGraphInput(graph: Graph, name: string): Tensor {
  const t = graph.initializers.get(name)!;
  graph.initializers.delete(name);
  graph.inputs.push({ name, type: { kind: 'tensor', elemType: t.dataType, shape: [...t.dims] } });
  return t;
}

/** Gives a freshly computed value a chosen name (its producer's output), so graph outputs need no Identity copies. */
function renameValue(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) {
    n.outputs = n.outputs.map((o) => (o === from ? to : o));
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
  }
}

export function buildTrainingProgram(source: Model, spec: TrainingSpec): TrainingProgram {
  let model = source.opset('') !== undefined && source.opset('')! < 21 ? upgradeOpset(source, 21) : source.clone();
  model = constantsToInitializers(model);
  const g = model.graph;
  const b = new GraphBuilder(g);
  const dataInputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  if (dataInputs.length !== 1) throw new TrainingError(`training needs a model with one data input; this one has ${dataInputs.length} (${dataInputs.map((v) => v.name).join(', ')})`);
  const output = spec.output ?? g.outputs[0]?.name;
  if (!output || !g.outputs.some((o) => o.name === output)) throw new TrainingError(`the model has no output '${output}'`);
  g.outputs = g.outputs.filter((o) => o.name === output);

  // Training forms (batch statistics, dropout) and the running statistics they update.
  const statistics: { input: string; output: string }[] = [];
  for (const node of [...g.nodes]) {
    gradientEntry(node.domain, node.opType)?.trainingForm?.(node, { b, training: true, addStateUpdate: (input, updated) => statistics.push({ input, output: updated }) });
  }
  const statNames = new Set(statistics.map((s) => s.input));
  const candidates = trainableCandidates(g, statNames);
  for (const pattern of spec.freeze ?? []) {
    if (!candidates.some((p) => matchesPattern(p, pattern))) throw new TrainingError(`--freeze '${pattern}' matches no parameter (parameters: ${candidates.slice(0, 8).join(', ')}${candidates.length > 8 ? ', ...' : ''})`);
  }
  const params = candidates.filter((p) => !(spec.freeze ?? []).some((pat) => matchesPattern(p, pat)));
  if (!params.length) throw new TrainingError('nothing to train: the model has no trainable parameters left');
  for (const name of Object.keys(spec.hooks ?? {})) if (!params.includes(name)) throw new TrainingError(`a hook names '${name}', which is not a trainable parameter`);

  const carried: CarriedTensor[] = [];
  const paramInit = new Map<string, Tensor>();
  for (const p of params) paramInit.set(p, toGraphInput(g, p));
  for (const s of statistics) carried.push({ input: s.input, output: s.output, init: toGraphInput(g, s.input), role: 'statistic' });

  // Forward hooks: the model reads the hooked value instead of the raw parameter.
  for (const [p, hooks] of Object.entries(spec.hooks ?? {})) {
    for (const hook of hooks) {
      if (!hook.forward) continue;
      const consumers = g.nodes.filter((n) => n.inputs.includes(p));
      const replaced = hook.forward(b, p);
      for (const n of consumers) n.inputs = n.inputs.map((i) => (i === p ? replaced : i));
    }
  }
  g.sortTopologically();
  let facts = inferShapes(model).values;
  const forwardValues = g.nodes.flatMap((n) => n.outputs).filter((o) => o);

  // Losses and regularizers.
  const seeds: GradientSeed[] = [];
  const lossValues: string[] = [];
  const lossInputs: TrainingProgram['lossInputs'] = [];
  const lossParams: string[] = [];
  for (const ls of spec.losses ?? [{ kind: 'cross-entropy' as const }]) {
    const part = lossPart({ b, facts, output, forwardValues }, ls);
    seeds.push(...part.seeds);
    lossValues.push(part.value);
    for (const inp of part.inputs) {
      const known = lossInputs.find((x) => x.name === inp.name);
      if (known) {
        if (known.shape.join(',') !== inp.shape.join(',')) throw new TrainingError(`loss input '${inp.name}' is declared twice with different shapes: [${known.shape.join(',')}] and [${inp.shape.join(',')}]`);
        continue;
      }
      lossInputs.push(inp);
      g.inputs.push({ name: inp.name, type: { kind: 'tensor', elemType: inp.elemType, shape: inp.shape as Dim[] } });
    }
    lossParams.push(...(part.params ?? []));
  }
  // Parameters the losses own (hint adapters) train like the model's, but the inference model never sees them.
  for (const p of lossParams) {
    paramInit.set(p, toGraphInput(g, p));
    params.push(p);
  }
  for (const r of spec.regularizers ?? []) {
    const targets = params.filter((p) => !r.params || r.params.some((pat) => matchesPattern(p, pat)));
    if (!targets.length) throw new TrainingError(`the ${r.kind} penalty matches no parameter`);
    const part = regularizer(b, { kind: r.kind, weight: r.weight, params: targets } as RegularizerSpec);
    seeds.push(...part.seeds);
    lossValues.push(part.value);
  }
  const total = lossValues.length === 1 ? lossValues[0]! : b.op('Sum', lossValues);
  renameValue(g, total, 'loss');

  // Backward runs through loss nodes too when a loss seeds a value it computed itself (adapters, attention maps).
  // Not strict: some loss ops (OneHot) have no shape rule, and the backward never passes through them.
  if (seeds.some((sd) => !facts.has(sd.value))) facts = new Map([...inferShapes(model, { strict: false }).values, ...facts]);

  // Backward, gradient hooks, clipping, optimizer.
  const gradMap = addGradients(g, b, seeds, params, { facts });
  let grads = params.map((p) => {
    let grad = gradMap.get(p)!;
    for (const hook of spec.hooks?.[p] ?? []) if (hook.gradient) grad = hook.gradient(b, p, grad);
    return grad;
  });
  if (spec.clipGradNorm) grads = clipGradNorm(b, grads, spec.clipGradNorm);
  params.forEach((p, i) => {
    const states = stateFor(spec.optimizer, p, paramInit.get(p)!);
    for (const s of states) g.inputs.push({ name: s.input, type: { kind: 'tensor', elemType: s.init.dataType, shape: [...s.init.dims] } });
    const result = emitUpdate(b, spec.optimizer, p, grads[i]!, states.map((s) => s.input));
    let updated = result.param;
    for (const hook of spec.hooks?.[p] ?? []) if (hook.update) updated = hook.update(b, p, updated);
    const next = `${p}:next`;
    renameValue(g, updated, next);
    carried.push({ input: p, output: next, init: paramInit.get(p)!, role: 'param' });
    states.forEach((s, j) => {
      const nextState = `${s.input}:next`;
      renameValue(g, result.state[j]!, nextState);
      carried.push({ input: s.input, output: nextState, init: s.init, role: 'optimizer' });
    });
  });

  const scalars = spec.optimizer.kind === 'sgd' ? ['lr'] : ['lr', 'adam_bias1', 'adam_bias2'];
  for (const s of scalars) g.inputs.push({ name: s, type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [] } });
  g.outputs = [{ name: 'loss' }, { name: output }, ...carried.map((c) => ({ name: c.output }))];
  g.sortTopologically();
  validateModel(model);
  return { model, dataInput: dataInputs[0]!.name, lossInputs, scalars, carried, params, lossOutput: 'loss', modelOutput: output, lossParams };
}

/**
 * The inference model with the carried values (parameters, running statistics) written back as initializers. Values
 * the source model does not hold (hint adapters, optimizer state) are left out.
 */
export function inferenceModelWith(source: Model, values: Map<string, Tensor>): Model {
  const m = constantsToInitializers(source.opset('') !== undefined && source.opset('')! < 21 ? upgradeOpset(source, 21) : source.clone());
  for (const [name, t] of values) if (m.graph.initializers.has(name)) m.graph.initializers.set(name, t.renamed(name));
  return m;
}
