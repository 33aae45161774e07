// Per-class precision, recall and F1 with the confusion matrix, run in onnxruntime. Isomorphic.
import { DataType } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { DataLoader } from '../data/loader.js';
import { feedableInputs } from '../runtime/inputs.js';
import { Runtime } from '../runtime/session.js';
import { asModelInput } from './classification.js';

export interface ClassScores {
  /** Class index. */
  label: number;
  precision: number;
  recall: number;
  f1: number;
  /** Test samples whose label is this class. */
  support: number;
}

export interface PerClassResult {
  /** confusion[label][predicted]: sample counts. */
  confusion: number[][];
  perClass: ClassScores[];
  /**
   * Mean F1 over the classes that occur among the labels or the predictions (scikit-learn's default): a class the
   * test set never holds and the model never predicts does not pull the mean down.
   */
  macroF1: number;
  accuracy: number;
  samples: number;
}

/** n / d, with 0/0 (and anything over 0) defined as 0: a class never predicted has precision 0. */
const ratio = (n: number, d: number) => (d > 0 ? n / d : 0);

/** The index of the largest value in each row of [n, c] logits (the first on ties, as ClassificationMeter counts). */
export function argmaxRows(values: ArrayLike<number>, n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity, arg = 0;
    for (let j = 0; j < c; j++) {
      const v = values[i * c + j]!;
      if (v > best) { best = v; arg = j; }
    }
    out[i] = arg;
  }
  return out;
}

/** Running counts confusion[label][predicted] over batches of logits; result() derives the per-class scores. */
export class ConfusionMatrix {
  private counts: number[][];

  /** `classes` may be left out: the width of the first logits fixes it. */
  constructor(private classes = 0) {
    this.counts = square(classes);
  }

  get classCount(): number {
    return this.classes;
  }

  /** Adds one batch: logits [n, classes], labels int64 [n] class indices. */
  add(logits: Tensor, labels: Tensor): void {
    if (logits.dims.length !== 2) throw new NnzipError(`per-class metrics need logits of shape [batch, classes], got [${logits.dims.join(', ')}]`);
    const [n, c] = logits.dims as [number, number];
    if (!this.classes) {
      this.classes = c;
      this.counts = square(c);
    }
    if (c !== this.classes) throw new NnzipError(`per-class metrics: logits have ${c} classes, earlier batches had ${this.classes}`);
    if (labels.dataType === DataType.FLOAT || labels.dataType === DataType.DOUBLE) throw new NnzipError('per-class metrics need integer class labels, the data has float targets');
    if (labels.size !== n) throw new NnzipError(`per-class metrics: ${n} rows of logits but ${labels.size} labels`);
    const predicted = argmaxRows(logits.toFloat32(), n, c);
    for (let i = 0; i < n; i++) {
      const label = labels.at(i);
      if (!Number.isInteger(label) || label < 0 || label >= c) throw new NnzipError(`per-class metrics: label ${label} is outside the model's ${c} classes`);
      this.counts[label]![predicted[i]!]!++;
    }
  }

  result(): PerClassResult {
    const c = this.classes;
    const confusion = this.counts.map((row) => [...row]);
    const support = confusion.map((row) => row.reduce((a, v) => a + v, 0));
    const predicted = Array.from({ length: c }, (_, j) => confusion.reduce((a, row) => a + row[j]!, 0));
    const samples = support.reduce((a, v) => a + v, 0);
    let correct = 0;
    const perClass: ClassScores[] = confusion.map((row, k) => {
      const tp = row[k]!;
      correct += tp;
      const precision = ratio(tp, predicted[k]!);
      const recall = ratio(tp, support[k]!);
      return { label: k, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support: support[k]! };
    });
    const present = perClass.filter((s, k) => s.support > 0 || predicted[k]! > 0);
    return {
      confusion,
      perClass,
      macroF1: ratio(present.reduce((a, s) => a + s.f1, 0), present.length),
      accuracy: ratio(correct, samples),
      samples,
    };
  }
}

function square(n: number): number[][] {
  return Array.from({ length: n }, () => new Array<number>(n).fill(0));
}

/** The data input (the first graph input that is not an initializer) and its declared rank. */
function dataInput(model: Model, what: string): { input: string; rank: number | undefined } {
  const v = feedableInputs(model)[0];
  if (!v) throw new NnzipError(`${what}: the model has no data input`);
  return { input: v.name, rank: v.type?.kind === 'tensor' ? v.type.shape?.length : undefined };
}

/** Runs the model over the loader (labels: int64 class indices) and returns the confusion matrix and per-class scores. */
export async function evaluatePerClass(runtime: Runtime, model: Model, loader: DataLoader, options: { threads?: number; output?: string } = {}): Promise<PerClassResult> {
  const output = options.output ?? model.graph.outputs[0]?.name;
  if (!output) throw new NnzipError('per-class metrics: the model has no outputs');
  const { input, rank } = dataInput(model, 'per-class metrics');
  const session = await runtime.createSession(model, { threads: options.threads });
  const matrix = new ConfusionMatrix();
  try {
    for (const batch of loader.batches(0)) {
      const out = await session.run({ [input]: asModelInput(batch.inputs, input, rank) }, [output]);
      matrix.add(out[output]!, batch.labels);
    }
  } finally {
    await session.release();
  }
  return matrix.result();
}
