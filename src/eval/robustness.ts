// Robustness of a classifier: accuracy under Gaussian input noise and under FGSM perturbations. The input gradient
// for FGSM comes from the training engine (autograd rules appended to the model, run in onnxruntime); JavaScript only
// adds, signs and clamps. Isomorphic.
import { GraphBuilder } from '../core/builder.js';
import { DataType } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { upgradeOpset } from '../core/passes/upgrade-opset.js';
import { inferShapes } from '../core/shape/infer.js';
import { Tensor } from '../core/tensor.js';
import { validateModel } from '../core/validate.js';
import { constantsToInitializers } from '../core/weights.js';
import { addGradients } from '../autograd/gradients.js';
import { gradientEntry } from '../autograd/registry.js';
import { crossEntropy } from '../train/losses.js';
import { DataLoader, mixSeed } from '../data/loader.js';
import { feedableInputs, seededRandom } from '../runtime/inputs.js';
import { Runtime, Session } from '../runtime/session.js';
import { asModelInput } from './classification.js';
import { argmaxRows } from './per-class.js';

export interface RobustnessOptions {
  /** Standard deviations of the Gaussian noise added to the inputs (in the data's units). */
  noise?: number[];
  /** FGSM step sizes epsilon (x + epsilon * sign(dLoss/dx)). */
  fgsm?: number[];
  /** Clamp perturbed inputs to this range (e.g. [0, 1] for MNIST pixels); none by default. */
  clamp?: [number, number];
  seed?: number;
  threads?: number;
  /** The output holding the logits (default: the model's first output). */
  output?: string;
}

export interface RobustnessPoint { strength: number; accuracy: number }

export interface RobustnessResult {
  clean: number;
  noise: RobustnessPoint[];
  fgsm: RobustnessPoint[];
  samples: number;
}

/** The model extended to return the mean softmax cross-entropy and its gradient with respect to the data input. */
export interface InputGradientProgram {
  model: Model;
  /** The data input (as the source model names it) and the added int64 [batch] labels input. */
  input: string;
  labels: string;
  /** Outputs: the logits, the scalar loss, and d loss / d input (shaped like the input). */
  logits: string;
  loss: string;
  gradient: string;
}

/**
 * Builds the input-gradient graph: the model in its inference form (BatchNormalization keeps its running statistics,
 * Dropout stays off), softmax cross-entropy from src/train/losses.ts, and the backward pass from the autograd rules
 * down to the data input only (no weight gradients are computed).
 */
export function buildInputGradientProgram(source: Model, options: { output?: string } = {}): InputGradientProgram {
  let model = source.opset('') !== undefined && source.opset('')! < 21 ? upgradeOpset(source, 21) : source.clone();
  model = constantsToInitializers(model);
  const g = model.graph;
  const b = new GraphBuilder(g);
  const dataInputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  if (dataInputs.length !== 1) throw new NnzipError(`FGSM needs a model with one data input; this one has ${dataInputs.length} (${dataInputs.map((v) => v.name).join(', ')})`);
  const input = dataInputs[0]!.name;
  const inputType = dataInputs[0]!.type;
  if (inputType?.kind === 'tensor' && inputType.elemType !== DataType.FLOAT) throw new NnzipError(`FGSM needs a float32 data input; '${input}' is not float32`);
  const output = options.output ?? g.outputs[0]?.name;
  if (!output || !g.outputs.some((o) => o.name === output)) throw new NnzipError(`FGSM: the model has no output '${output}'`);
  g.outputs = g.outputs.filter((o) => o.name === output);

  // Inference forms, plus the by-products the backward rules reuse (MaxPool's indices).
  for (const node of [...g.nodes]) {
    gradientEntry(node.domain, node.opType)?.trainingForm?.(node, { b, training: false, addStateUpdate: () => {} });
  }
  g.sortTopologically();
  const facts = inferShapes(model).values;

  const labels = b.fresh('labels');
  const loss = crossEntropy({ b, facts, output }, {}, labels);
  b.input(labels, DataType.INT64, [...loss.inputs[0]!.shape]);
  const grads = addGradients(g, b, loss.seeds, [input], { facts });
  const gradient = b.op('Identity', [grads.get(input)!], {}, { output: b.fresh(`${input}_grad`) });
  const lossName = b.op('Identity', [loss.value], {}, { output: b.fresh('loss') });
  g.outputs = [{ name: output }, { name: lossName }, { name: gradient }];
  g.sortTopologically();
  validateModel(model);
  return { model, input, labels, logits: output, loss: lossName, gradient };
}

/** An onnxruntime session over an input-gradient program, created once and run per batch. */
export class InputGradientSession {
  private constructor(readonly program: InputGradientProgram, private readonly session: Session) {}

  static async create(runtime: Runtime, model: Model, options: { threads?: number; output?: string } = {}): Promise<InputGradientSession> {
    const program = buildInputGradientProgram(model, { output: options.output });
    return new InputGradientSession(program, await runtime.createSession(program.model, { threads: options.threads }));
  }

  /** `inputs` shaped as the model's input, `labels` int64 [batch]. */
  async run(inputs: Tensor, labels: Tensor): Promise<{ logits: Tensor; loss: number; gradient: Tensor }> {
    const p = this.program;
    const out = await this.session.run({ [p.input]: inputs.renamed(p.input), [p.labels]: labels.renamed(p.labels) }, [p.logits, p.loss, p.gradient]);
    return { logits: out[p.logits]!, loss: out[p.loss]!.at(0), gradient: out[p.gradient]! };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** x + epsilon * sign(gradient), clamped when asked (sign 0 where the gradient is 0 or not a number). */
export function fgsmStep(x: Float32Array, gradient: Float32Array, epsilon: number, clamp?: readonly [number, number]): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const g = gradient[i]!;
    out[i] = x[i]! + (g > 0 ? epsilon : g < 0 ? -epsilon : 0);
  }
  if (clamp) clampInPlace(out, clamp);
  return out;
}

function clampInPlace(values: Float32Array, [lo, hi]: readonly [number, number]): void {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(hi, Math.max(lo, values[i]!));
}

/** Standard normal samples (Box-Muller) from a seeded uniform stream. */
function gaussian(count: number, random: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const theta = 2 * Math.PI * random();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

function checkStrengths(kind: string, values: readonly number[]): void {
  for (const v of values) if (!(Number.isFinite(v) && v >= 0)) throw new NnzipError(`robustness: ${kind} strengths must be finite and non-negative, got ${v}`);
}

/** The data input (the first graph input that is not an initializer) and its declared rank. */
function dataInput(model: Model, what: string): { input: string; rank: number | undefined } {
  const v = feedableInputs(model)[0];
  if (!v) throw new NnzipError(`${what}: the model has no data input`);
  return { input: v.name, rank: v.type?.kind === 'tensor' ? v.type.shape?.length : undefined };
}

const NOISE_STREAM = 11;

/**
 * Clean accuracy, accuracy with seeded Gaussian noise of each standard deviation added to the inputs, and accuracy on
 * FGSM examples x + eps * sign(d CE / dx) for each eps (against the true labels; every sample counts, misclassified
 * or not). Noise levels share one standard-normal draw per batch (scaled by each std), so the curve is smooth.
 */
export async function evaluateRobustness(runtime: Runtime, model: Model, loader: DataLoader, options: RobustnessOptions = {}): Promise<RobustnessResult> {
  const noise = options.noise ?? [];
  const fgsm = options.fgsm ?? [];
  checkStrengths('noise', noise);
  checkStrengths('FGSM', fgsm);
  const clamp = options.clamp;
  if (clamp && !(clamp[0] <= clamp[1])) throw new NnzipError(`robustness: the clamp range [${clamp[0]}, ${clamp[1]}] is empty`);
  const output = options.output ?? model.graph.outputs[0]?.name;
  if (!output) throw new NnzipError('robustness: the model has no outputs');
  const seed = options.seed ?? 0;
  const { input, rank } = dataInput(model, 'robustness');

  // The gradient graph is built (and checked for missing gradient rules) before any data is read.
  const gradients = fgsm.length ? await InputGradientSession.create(runtime, model, { threads: options.threads, output }) : undefined;
  let session: Session | undefined;
  let samples = 0, clean = 0;
  const noiseCorrect = noise.map(() => 0);
  const fgsmCorrect = fgsm.map(() => 0);
  try {
    session = await runtime.createSession(model, { threads: options.threads });
    const forward = session;
    for (const batch of loader.batches(0)) {
      if (batch.labels.dataType !== DataType.INT64) throw new NnzipError('robustness needs integer class labels, the data has float targets');
      const x = asModelInput(batch.inputs, input, rank);
      const labels = batch.labels;
      const truth = Array.from({ length: batch.size }, (_, i) => labels.at(i));
      const correct = async (values: Float32Array): Promise<number> => {
        const logits = (await forward.run({ [input]: new Tensor(input, DataType.FLOAT, x.dims, values) }, [output]))[output]!;
        if (logits.dims.length !== 2 || logits.dims[0] !== batch.size) throw new NnzipError(`robustness needs logits of shape [batch, classes]; '${output}' has [${logits.dims.join(', ')}]`);
        const predicted = argmaxRows(logits.toFloat32(), batch.size, logits.dims[1]!);
        let n = 0;
        for (let i = 0; i < batch.size; i++) if (predicted[i] === truth[i]) n++;
        return n;
      };
      const values = x.toFloat32();
      clean += await correct(values);
      if (noise.length) {
        const z = gaussian(values.length, seededRandom(mixSeed(seed, batch.index, NOISE_STREAM)));
        for (const [k, std] of noise.entries()) {
          const noisy = new Float32Array(values.length);
          for (let i = 0; i < noisy.length; i++) noisy[i] = values[i]! + std * z[i]!;
          if (clamp) clampInPlace(noisy, clamp);
          noiseCorrect[k]! += await correct(noisy);
        }
      }
      if (gradients) {
        // One gradient per batch serves every epsilon.
        const gradient = (await gradients.run(x, labels)).gradient.toFloat32();
        for (const [k, eps] of fgsm.entries()) fgsmCorrect[k]! += await correct(fgsmStep(values, gradient, eps, clamp));
      }
      samples += batch.size;
    }
  } finally {
    await session?.release();
    await gradients?.release();
  }
  const rate = (n: number) => (samples ? n / samples : 0);
  return {
    clean: rate(clean),
    noise: noise.map((strength, k) => ({ strength, accuracy: rate(noiseCorrect[k]!) })),
    fgsm: fgsm.map((strength, k) => ({ strength, accuracy: rate(fgsmCorrect[k]!) })),
    samples,
  };
}
