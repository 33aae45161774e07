// Teachers for distillation: one ONNX model or an ensemble, run by onnxruntime per batch (online) or once per sample
// and cached by the loader's sample index. An ensemble averages its members' softened probabilities at T (Hinton et
// al.'s ensemble soft targets), and hands them on as logits z' = T·log(p̄): softmax(z'/T) = p̄ exactly, so the
// student's 'kl' loss, which takes teacher logits, sees the averaged distribution. A single teacher's logits pass
// through untouched. Isomorphic: the runtime comes from the caller.
import { DataType } from '../../core/dtype.js';
import { NnzipError } from '../../core/errors.js';
import { Model } from '../../core/ir.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { Batch, DataLoader } from '../../data/loader.js';
import { asModelInput } from '../../eval/classification.js';
import { Runtime, Session } from '../../runtime/session.js';

/** Teacher and student do not fit together, a hint names a tensor that does not exist, a cache cannot be used. */
export class DistillError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'DistillError';
  }
}

export interface TeacherOptions {
  /** Softmax temperature at which an ensemble's probabilities are averaged (ignored for one teacher). */
  temperature: number;
  /** Teacher tensors to expose as extra outputs (FitNets hints); read from the first teacher. */
  hintTensors?: string[];
  /** Run the teacher once per sample and keep its outputs by sample index (the loader must not augment). */
  cache?: boolean;
  threads?: number;
  /** Names teachers in messages (file names); default 'teacher 1', 'teacher 2', ... */
  names?: string[];
}

export interface TeacherOutputs {
  /** float32 [batch, classes]: the logits the 'kl' loss takes (an ensemble's T·log of averaged probabilities). */
  logits: Tensor;
  /** Hint tensors by teacher tensor name, for the batch. */
  hints: Map<string, Tensor>;
}

function dataInputOf(model: Model): { name: string; shape?: (number | string | null)[] } {
  const inputs = model.graph.inputs.filter((v) => !model.graph.initializers.has(v.name));
  const v = inputs[0]!;
  return { name: v.name, shape: v.type?.kind === 'tensor' ? v.type.shape : undefined };
}

/** Classes of a classifier's first output ([batch, classes]), from its declared type or shape inference. */
export function outputClasses(model: Model): number | undefined {
  const out = model.graph.outputs[0];
  if (!out) return undefined;
  let shape = out.type?.kind === 'tensor' ? out.type.shape : undefined;
  if (!shape || typeof shape[1] !== 'number') {
    try { shape = inferShapes(model).values.get(out.name)?.shape; } catch { shape = undefined; }
  }
  return shape?.length === 2 && typeof shape[1] === 'number' ? shape[1] : undefined;
}

/** Every value name a graph has (inputs, node outputs), for "available names" in errors. */
export function tensorNames(model: Model): string[] {
  const names = new Set<string>();
  for (const v of model.graph.inputs) if (!model.graph.initializers.has(v.name)) names.add(v.name);
  for (const n of model.graph.nodes) for (const o of n.outputs) if (o) names.add(o);
  return [...names];
}

export function listNames(names: string[], max = 20): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, ... (${names.length} in all)`;
}

/** The model with extra graph outputs (types from shape inference where it knows them: see outputShape()). */
export function withExtraOutputs(model: Model, names: string[], what: string): Model {
  const available = tensorNames(model);
  for (const name of names) {
    if (!available.includes(name)) throw new DistillError(`${what} has no tensor '${name}'; available: ${listNames(available)}`);
  }
  const m = model.clone();
  let facts: ReturnType<typeof inferShapes>['values'] | undefined;
  try { facts = inferShapes(m).values; } catch { facts = undefined; }
  for (const name of names) {
    if (m.graph.outputs.some((o) => o.name === name)) continue;
    const f = facts?.get(name);
    m.graph.outputs.push({ name, type: { kind: 'tensor', elemType: f?.elemType ?? DataType.FLOAT, shape: f?.shape } });
  }
  return m;
}

/** Checks that the data's samples fit a teacher's input (flat [batch, features] takes images too). */
function checkTeacherInput(model: Model, sampleShape: readonly number[], what: string): void {
  const { name, shape } = dataInputOf(model);
  if (!shape) return;
  const want = shape.slice(1);
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const fits = want.length === sampleShape.length && want.every((d, i) => typeof d !== 'number' || d === sampleShape[i]);
  const flat = want.length === 1 && (typeof want[0] !== 'number' || want[0] === size);
  if (!fits && !flat) {
    throw new DistillError(`${what}: its input '${name}' [${shape.map((d) => d ?? '?').join(', ')}] does not fit samples of shape [${sampleShape.join(', ')}]`);
  }
}

/** Softmax of each row of z/T, into out. */
function softmaxRows(z: Float32Array, n: number, c: number, t: number, out: Float64Array, add: boolean): void {
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, z[i * c + j]! / t);
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(z[i * c + j]! / t - max);
    for (let j = 0; j < c; j++) {
      const p = Math.exp(z[i * c + j]! / t - max) / sum;
      out[i * c + j] = add ? out[i * c + j]! + p : p;
    }
  }
}

/** T·log of the mean of the members' softmax(z/T): logits whose softmax at T is the ensemble's average. */
export function ensembleLogits(members: Float32Array[], n: number, c: number, t: number): Float32Array {
  if (members.length === 1) return members[0]!;
  const sum = new Float64Array(n * c);
  members.forEach((z, k) => softmaxRows(z, n, c, t, sum, k > 0));
  const out = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) out[i] = t * Math.log(Math.max(sum[i]! / members.length, 1e-30));
  return out;
}

export class Teacher {
  /** Declared shape of a graph output of the first teacher (hint tensors included), undefined when unknown. */
  outputShape(name: string): (number | string | null)[] | undefined {
    const t = this.firstModel.graph.outputs.find((o) => o.name === name)?.type;
    return t?.kind === 'tensor' ? t.shape : undefined;
  }

  private cached?: { logits: Float32Array; hints: Map<string, { data: Float32Array; perSample: number; dims: number[] }>; filled: Uint8Array };
  private constructor(
    private readonly sessions: { session: Session; input: string; rank?: number; output: string }[],
    readonly classes: number,
    readonly options: TeacherOptions,
    private readonly firstModel: Model,
  ) {}

  /**
   * Opens sessions for the teacher models, checking them against the data's sample shape and the student's classes.
   * Errors: output sizes that differ (between teachers or from the student), inputs that do not fit the data, hint
   * tensors that do not exist.
   */
  static async create(runtime: Runtime, models: Model[], fit: { sampleShape: readonly number[]; studentClasses?: number }, options: TeacherOptions): Promise<Teacher> {
    if (!models.length) throw new DistillError('distillation needs at least one teacher');
    if (!(options.temperature > 0)) throw new DistillError(`the temperature must be positive, got ${options.temperature}`);
    const names = models.map((_, i) => options.names?.[i] ?? `teacher ${i + 1}`);
    let classes: number | undefined;
    models.forEach((m, i) => {
      checkTeacherInput(m, fit.sampleShape, names[i]!);
      const c = outputClasses(m);
      if (c === undefined) throw new DistillError(`${names[i]}: its output '${m.graph.outputs[0]?.name}' is not [batch, classes]`);
      if (classes !== undefined && c !== classes) throw new DistillError(`${names[i]} has ${c} outputs but ${names[0]} has ${classes}: ensemble members must agree`);
      classes = c;
    });
    if (fit.studentClasses !== undefined && fit.studentClasses !== classes) {
      throw new DistillError(`${names[0]} has ${classes} outputs but the student has ${fit.studentClasses}: teacher and student output sizes must match`);
    }
    const hints = options.hintTensors ?? [];
    const sessions: Teacher['sessions'] = [];
    let first = models[0]!;
    try {
      for (const [i, model] of models.entries()) {
        const m = i === 0 && hints.length ? withExtraOutputs(model, hints, names[0]!) : model;
        if (i === 0) first = m;
        const session = await runtime.createSession(m, { threads: options.threads });
        const { name, shape } = dataInputOf(m);
        sessions.push({ session, input: name, rank: shape?.length, output: m.graph.outputs[0]!.name });
      }
    } catch (e) {
      for (const s of sessions) await s.session.release();
      throw e;
    }
    return new Teacher(sessions, classes!, options, first);
  }

  /** Runs every member on a batch's inputs (float32 [n, ...sample]). */
  async run(inputs: Tensor): Promise<TeacherOutputs> {
    const n = inputs.dims[0]!;
    const members: Float32Array[] = [];
    const hints = new Map<string, Tensor>();
    for (const [i, s] of this.sessions.entries()) {
      const wanted = i === 0 ? [s.output, ...(this.options.hintTensors ?? [])] : [s.output];
      const out = await s.session.run({ [s.input]: asModelInput(inputs, s.input, s.rank) }, wanted);
      const logits = out[s.output]!;
      if (logits.dims.length !== 2 || logits.dims[1] !== this.classes) throw new DistillError(`teacher ${i + 1}: output '${s.output}' came out [${logits.dims.join(', ')}], expected [${n}, ${this.classes}]`);
      members.push(logits.toFloat32());
      if (i === 0) for (const h of this.options.hintTensors ?? []) hints.set(h, out[h]!);
    }
    const logits = new Tensor('teacher_logits', DataType.FLOAT, [n, this.classes], ensembleLogits(members, n, this.classes, this.options.temperature));
    return { logits, hints };
  }

  /** The teacher's outputs for a batch: from the cache (filled on first sight of each sample) or computed now. */
  async forBatch(batch: Batch, loader: DataLoader): Promise<TeacherOutputs> {
    if (!this.options.cache) return this.run(batch.inputs);
    if (loader.transforms.length) throw new DistillError('--cache keeps one teacher output per sample, which random transforms (augmentation) would make wrong; drop one of them');
    const c = this.classes;
    this.cached ??= { logits: new Float32Array(loader.dataset.length * c), hints: new Map(), filled: new Uint8Array(loader.dataset.length) };
    const cache = this.cached;
    if (cache.filled.length !== loader.dataset.length) throw new DistillError(`the teacher cache holds ${cache.filled.length} samples, this loader has ${loader.dataset.length}: use one teacher per loader`);
    const idx = batch.indices;
    if (!idx.every((i) => cache.filled[i] === 1)) {
      const fresh = await this.run(batch.inputs);
      const z = fresh.logits.toFloat32();
      for (let k = 0; k < idx.length; k++) {
        cache.logits.set(z.subarray(k * c, (k + 1) * c), idx[k]! * c);
        cache.filled[idx[k]!] = 1;
      }
      for (const [name, t] of fresh.hints) {
        const perSample = t.size / Math.max(1, idx.length);
        let store = cache.hints.get(name);
        if (!store) cache.hints.set(name, store = { data: new Float32Array(loader.dataset.length * perSample), perSample, dims: [...t.dims.slice(1)] });
        const d = t.toFloat32();
        for (let k = 0; k < idx.length; k++) store.data.set(d.subarray(k * perSample, (k + 1) * perSample), idx[k]! * perSample);
      }
      return fresh;
    }
    const logits = new Float32Array(idx.length * c);
    for (let k = 0; k < idx.length; k++) logits.set(cache.logits.subarray(idx[k]! * c, (idx[k]! + 1) * c), k * c);
    const hints = new Map<string, Tensor>();
    for (const [name, store] of cache.hints) {
      const d = new Float32Array(idx.length * store.perSample);
      for (let k = 0; k < idx.length; k++) d.set(store.data.subarray(idx[k]! * store.perSample, (idx[k]! + 1) * store.perSample), k * store.perSample);
      hints.set(name, new Tensor(name, DataType.FLOAT, [idx.length, ...store.dims], d));
    }
    return { logits: new Tensor('teacher_logits', DataType.FLOAT, [idx.length, c], logits), hints };
  }

  /** Samples whose outputs are cached. */
  get cachedSamples(): number {
    return this.cached ? this.cached.filled.reduce((a, b) => a + b, 0) : 0;
  }

  /** Top-1 accuracy of the (ensemble) teacher over a loader's samples. */
  async accuracy(loader: DataLoader): Promise<number> {
    let correct = 0, samples = 0;
    for (const batch of loader.batches(0)) {
      const { logits } = await this.run(batch.inputs);
      const arg = argmaxRows(logits);
      for (let i = 0; i < batch.size; i++) if (arg[i] === batch.labels.at(i)) correct++;
      samples += batch.size;
    }
    return samples ? correct / samples : 0;
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.session.release();
  }
}

/** Index of the largest value of each row of a [n, c] tensor. */
export function argmaxRows(t: Tensor): Int32Array {
  const [n, c] = t.dims as [number, number];
  const z = t.toFloat32();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (z[i * c + j]! > z[i * c + best]!) best = j;
    out[i] = best;
  }
  return out;
}
