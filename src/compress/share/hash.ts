// Hashed weight sharing (HashedNets, Chen et al. 2015): a layer's N virtual weights are drawn from B = ceil(ratio·N)
// trainable buckets, V[i] = sign(i) · buckets[h(i)], with h and sign fixed seeded hashes of the flat index i.
//
// Export: only the bucket vector and a few scalar hash constants are stored. The graph recomputes the indices from a
// Range with uint32 integer ops (Add, BitShift, BitwiseXor, Mul, Mod: every one runs in onnxruntime-node and -web for
// uint32, and unsigned arithmetic wraps mod 2^32 exactly like Math.imul), then Gather(buckets, idx) · sign, shaped like
// the weight and named as the weight was, so its consumers are unchanged. onnxruntime folds the whole constant
// subgraph at session creation, so inference runs at dense speed. Training: the buckets are a float initializer read by
// Gather, so the training engine trains them and Gather's gradient rule (a ScatterND add) sums the virtual weights'
// gradients, times their signs, into their buckets; the integer index subgraph depends on no parameter, so autograd
// leaves it alone.
import { GraphBuilder } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { NnzipError } from '../../core/errors.js';
import { Model } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import '../../core/shape/ops/index.js';
import { Tensor } from '../../core/tensor.js';
import { seededRng } from '../../nn/init.js';
import { FitResult } from '../../train/trainer.js';
import { matchesPattern } from '../../train/training-graph.js';
import { prunableWeights } from '../prune/masks.js';
import { FineTuneOptions, trainModel } from '../prune/schedules.js';

/** Bad hashing options: a ratio outside (0, 1], a pattern matching no layer, a bad seed. */
export class HashError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'HashError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The hash, in TypeScript: exactly what the exported graph computes.

/** The two multipliers of the mixer (Chris Wellons' lowbias32: a bijection of uint32 with low bias). */
export const HASH_MULTIPLIERS = [0x7feb352d, 0x846ca68b] as const;

/** lowbias32: x ^= x>>16; x *= M1; x ^= x>>15; x *= M2; x ^= x>>16, all mod 2^32. */
export function mix32(value: number): number {
  let x = value >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, HASH_MULTIPLIERS[0]) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, HASH_MULTIPLIERS[1]) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a of a name's UTF-16 code units, so each weight hashes differently and independently of the other layers. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The key of one hash stream (0: bucket index, 1: sign) of one weight: added to the flat index before mixing. */
export function hashKey(seed: number, weight: string, stream: 0 | 1): number {
  return mix32((nameHash(weight) + Math.imul(seed, 0x9e3779b9) + Math.imul(stream + 1, 0x85ebca6b)) >>> 0);
}

/** h(i) = mix32(i + key) mod B for i in [0, count). */
export function hashBucketIndices(count: number, bucketCount: number, key: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = mix32((i + key) >>> 0) % bucketCount;
  return out;
}

/** sign(i) = 1 - 2·(top bit of mix32(i + key)): ±1. */
export function hashSigns(count: number, key: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = 1 - 2 * (mix32((i + key) >>> 0) >>> 31);
  return out;
}

/** What identifies one hashed layer's mapping (a HashedLayerReport has these fields). */
export interface HashLayout {
  /** Virtual weights (the weight's element count). */
  virtualWeights: number;
  buckets: number;
  bucketKey: number;
  /** Null when the layer has no sign hash. */
  signKey: number | null;
}

/** The virtual weights of a layer from its bucket values: V[i] = sign(i) · buckets[h(i)] (float32, bit-exact). */
export function virtualWeights(layout: HashLayout, buckets: Float32Array): Float32Array {
  if (buckets.length !== layout.buckets) throw new HashError(`expected ${layout.buckets} bucket values, got ${buckets.length}`);
  const index = hashBucketIndices(layout.virtualWeights, layout.buckets, layout.bucketKey);
  const signs = layout.signKey === null ? undefined : hashSigns(layout.virtualWeights, layout.signKey);
  const out = new Float32Array(layout.virtualWeights);
  for (let i = 0; i < out.length; i++) out[i] = signs ? signs[i]! * buckets[index[i]!]! : buckets[index[i]!]!;
  return out;
}

/** The bucket gradient from the virtual weights' gradient: g_b[k] = Σ_{h(i)=k} sign(i) · g_V[i] (a scatter-add). */
export function bucketGradient(layout: HashLayout, virtualGradient: Float32Array): Float64Array {
  const index = hashBucketIndices(layout.virtualWeights, layout.buckets, layout.bucketKey);
  const signs = layout.signKey === null ? undefined : hashSigns(layout.virtualWeights, layout.signKey);
  const out = new Float64Array(layout.buckets);
  for (let i = 0; i < index.length; i++) out[index[i]!] += (signs ? signs[i]! : 1) * virtualGradient[i]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The pass.

export interface HashLayerRatio {
  /** Weight or node name pattern ('*' matches anything). */
  pattern: string;
  ratio: number;
}

export interface HashOptions {
  /** Buckets per virtual weight: a layer of N weights gets ceil(ratio·N) buckets; in (0, 1] (1/8: 8x fewer). */
  ratio: number;
  /** Per-layer ratios by weight or node name pattern; the first matching entry wins. */
  layers?: HashLayerRatio[];
  /** Weights (or nodes) left dense, by name pattern. */
  exclude?: string[];
  /** Seeds the hashes (and fresh bucket values); default 0. */
  seed?: number;
  /** A second hash gives each virtual weight a ±1 sign, as in the paper (default true). */
  signHash?: boolean;
  /**
   * Bucket values: 'weights' (default) the least-squares fit to the original weights (the mean of sign·W over the
   * weights hashing into each bucket); 'fresh' uniform in ±1/sqrt(fan-in), PyTorch's default for a layer.
   */
  init?: 'weights' | 'fresh';
}

export interface HashedLayerReport extends HashLayout {
  /** The weight, now a computed value of the same name. */
  weight: string;
  /** The nodes that read it. */
  nodes: string[];
  opType: string;
  dims: number[];
  ratio: number;
  /** The bucket initializer (float32 [buckets]). */
  bucketTensor: string;
  /** Bytes of the dense weight before, and of the buckets plus the layer's own hash constants after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Relative RMS difference between the virtual weights and the original ones (the sharing's error before training). */
  relativeError: number;
}

export interface HashReport {
  layers: HashedLayerReport[];
  /** Prunable weights left dense (excluded by pattern). */
  excluded: string[];
  virtualWeights: number;
  buckets: number;
  bytesBefore: number;
  bytesAfter: number;
  seed: number;
  signHash: boolean;
  init: 'weights' | 'fresh';
}

export interface HashResult {
  model: Model;
  report: HashReport;
}

function checkRatio(ratio: number, what: string): number {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0 || ratio > 1) {
    throw new HashError(`${what} ${ratio}: the ratio of buckets to weights must be in (0, 1] (e.g. 0.125 for 8x fewer)`);
  }
  return ratio;
}

/** Least-squares buckets: the mean of sign·W over the weights hashing into each bucket (0 where none does). */
function fittedBuckets(weight: Float32Array, layout: HashLayout): Float32Array {
  const index = hashBucketIndices(layout.virtualWeights, layout.buckets, layout.bucketKey);
  const signs = layout.signKey === null ? undefined : hashSigns(layout.virtualWeights, layout.signKey);
  const sums = new Float64Array(layout.buckets);
  const counts = new Uint32Array(layout.buckets);
  for (let i = 0; i < weight.length; i++) {
    sums[index[i]!] += (signs ? signs[i]! : 1) * weight[i]!;
    counts[index[i]!]++;
  }
  return Float32Array.from(sums, (s, k) => (counts[k] ? s / counts[k]! : 0));
}

function relativeRmsError(approx: Float32Array, exact: Float32Array): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < exact.length; i++) {
    diff += (approx[i]! - exact[i]!) ** 2;
    norm += exact[i]! ** 2;
  }
  return norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
}

/** Emits hashed layers into a graph; the scalar constants (shifts, multipliers, 0, 1) are shared by all of them. */
class HashEmitter {
  private readonly shared = new Map<string, string>();

  constructor(private readonly b: GraphBuilder) {}

  /** One initializer per distinct constant, shared by every layer. */
  private constant(key: string, make: () => Tensor): string {
    let name = this.shared.get(key);
    if (!name) this.shared.set(key, (name = this.b.initializer(make())));
    return name;
  }

  private uint32(name: string, value: number): string {
    return this.constant(`u32:${value}`, () => new Tensor(name, DataType.UINT32, [], Uint32Array.of(value)));
  }

  private int32(name: string, value: number): string {
    return this.constant(`i32:${value}`, () => new Tensor(name, DataType.INT32, [], Int32Array.of(value)));
  }

  private float(name: string, value: number): string {
    return this.constant(`f32:${value}`, () => Tensor.fromFloat32(name, [], [value]));
  }

  /**
   * A node named `${tag}/${what}` with an output of the same name: short names, because these nodes and values are
   * most of what a hashed layer stores besides its buckets.
   */
  private op(opType: string, inputs: string[], tag: string, what: string, attributes: Record<string, number | string> = {}, output?: string): string {
    return this.b.op(opType, inputs, attributes, { name: `${tag}/${what}`, output: output ?? this.b.fresh(`${tag}/${what}`) });
  }

  /** mix32(position + key) as graph ops on a uint32 tensor. */
  private mix(position: string, key: string, tag: string): string {
    const xorShift = (x: string, by: number) => this.op('BitwiseXor', [x, this.op('BitShift', [x, this.uint32(`hash.shift${by}`, by)], tag, `shr${by}`, { direction: 'RIGHT' })], tag, `xor${by}`);
    let x = this.op('Add', [position, key], tag, 'add_key');
    x = xorShift(x, 16);
    x = this.op('Mul', [x, this.uint32('hash.multiplier1', HASH_MULTIPLIERS[0])], tag, 'mul1');
    x = xorShift(x, 15);
    x = this.op('Mul', [x, this.uint32('hash.multiplier2', HASH_MULTIPLIERS[1])], tag, 'mul2');
    return xorShift(x, 16);
  }

  /**
   * Emits layer `tag`: the value `weight` = sign · buckets[h(i)], shaped `dims`. Both hash streams are mixed in one
   * pass over a [streams, N] tensor (positions plus a [streams, 1] key column), reshaped at once to the weight's
   * dims, so each stream's row comes out shaped like the weight.
   */
  emit(tag: string, weight: string, dims: readonly number[], layout: HashLayout, buckets: string): void {
    const { b } = this;
    const keys = layout.signKey === null ? [layout.bucketKey] : [layout.bucketKey, layout.signKey];
    const count = b.initializer(new Tensor(`${weight}.count`, DataType.INT32, [], Int32Array.of(layout.virtualWeights)));
    const position = this.op('Cast', [this.op('Range', [this.int32('hash.zero', 0), count, this.int32('hash.one', 1)], tag, 'range')], tag, 'position', { to: DataType.UINT32 });
    const keyColumn = b.initializer(new Tensor(`${weight}.hash_keys`, DataType.UINT32, [keys.length, 1], Uint32Array.from(keys)));
    const mixed = this.op('Reshape', [this.mix(position, keyColumn, tag), b.int64s(`${weight}.hash_shape`, [keys.length, ...dims])], tag, 'hashes');
    const row = (i: number, what: string) => this.op('Gather', [mixed, this.constant(`i64:${i}`, () => Tensor.fromInt64(`hash.row${i}`, [], [i]))], tag, what, { axis: 0 });
    const bucketCount = b.initializer(new Tensor(`${weight}.bucket_count`, DataType.UINT32, [], Uint32Array.of(layout.buckets)));
    const index = this.op('Cast', [this.op('Mod', [row(0, 'bucket_hash'), bucketCount], tag, 'mod')], tag, 'index', { to: DataType.INT64 });
    if (layout.signKey === null) {
      this.op('Gather', [buckets, index], tag, 'gather', { axis: 0 }, weight);
      return;
    }
    const gathered = this.op('Gather', [buckets, index], tag, 'gather', { axis: 0 });
    const topBit = this.op('BitShift', [row(1, 'sign_hash'), this.uint32('hash.shift31', 31)], tag, 'sign_bit', { direction: 'RIGHT' });
    const bit = this.op('Cast', [topBit], tag, 'sign_bit_f32', { to: DataType.FLOAT });
    // 1 - 2·bit: ±1 exactly. Scalar float constants are not trainable parameters (rank 0).
    const sign = this.op('Add', [this.op('Mul', [bit, this.float('hash.minus_two', -2)], tag, 'sign_x2'), this.float('hash.one_f32', 1)], tag, 'sign');
    this.op('Mul', [gathered, sign], tag, 'signed', {}, weight);
  }
}

/** Bytes a layer stores after hashing: its buckets plus its own constants (keys, count, bucket count, shape). */
function storedBytes(layout: HashLayout, rank: number): number {
  const streams = layout.signKey === null ? 1 : 2;
  return 4 * layout.buckets + 4 * streams + 4 + 4 + 8 * (rank + 1);
}

/**
 * Replaces the weights of Gemm, MatMul and Conv layers by hashed virtual weights. The input model is not changed.
 * The default ONNX opset is raised to 18 where it is lower (BitwiseXor).
 */
export function hashWeights(source: Model, options: HashOptions): HashResult {
  const ratio = checkRatio(options.ratio, 'ratio');
  for (const l of options.layers ?? []) checkRatio(l.ratio, `--layer ${l.pattern}: ratio`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new HashError(`seed ${seed}: give a whole number from 0 to 4294967295`);
  const signHash = options.signHash ?? true;
  const init = options.init ?? 'weights';
  if (init !== 'weights' && init !== 'fresh') throw new HashError(`init '${String(init)}': use 'weights' or 'fresh'`);

  const candidates = prunableWeights(source);
  const matches = (w: { name: string; node: string }, pattern: string) => matchesPattern(w.name, pattern) || matchesPattern(w.node, pattern);
  const names = candidates.map((w) => w.name).slice(0, 8).join(', ') + (candidates.length > 8 ? ', ...' : '');
  for (const l of options.layers ?? []) if (!candidates.some((w) => matches(w, l.pattern))) throw new HashError(`layer pattern '${l.pattern}' matches no Gemm, MatMul or Conv weight (weights: ${names || 'none'})`);
  for (const p of options.exclude ?? []) if (!candidates.some((w) => matches(w, p))) throw new HashError(`exclude pattern '${p}' matches no Gemm, MatMul or Conv weight (weights: ${names || 'none'})`);
  const excluded = candidates.filter((w) => (options.exclude ?? []).some((p) => matches(w, p)));
  const chosen = candidates.filter((w) => !excluded.includes(w));
  if (!chosen.length) throw new HashError(candidates.length ? 'every Gemm, MatMul and Conv weight is excluded: nothing to hash' : 'the model has no Gemm, MatMul or Conv weight stored as an initializer: nothing to hash');

  const opset = source.opset('');
  const model = opset !== undefined && opset < 18 ? upgradeOpset(source, 18) : source.clone();
  const g = model.graph;
  const b = new GraphBuilder(g);
  const emitter = new HashEmitter(b);
  const layers: HashedLayerReport[] = [];
  for (const w of chosen) {
    const tensor = g.initializers.get(w.name)!;
    const layerRatio = (options.layers ?? []).find((l) => matches(w, l.pattern))?.ratio ?? ratio;
    const count = tensor.size;
    if (count > 0x7fffffff) throw new HashError(`weight '${w.name}' has ${count} elements; hashing indexes at most 2^31 - 1`);
    const layout: HashLayout = {
      virtualWeights: count,
      buckets: Math.max(1, Math.ceil(layerRatio * count)),
      bucketKey: hashKey(seed, w.name, 0),
      signKey: signHash ? hashKey(seed, w.name, 1) : null,
    };
    const original = tensor.toFloat32();
    let values: Float32Array;
    if (init === 'weights') values = fittedBuckets(original, layout);
    else {
      const fanIn = w.opType === 'Conv' ? w.inputSize * w.inner : w.inputSize;
      const bound = 1 / Math.sqrt(fanIn);
      const rng = seededRng((seed ^ layout.bucketKey) >>> 0);
      values = Float32Array.from({ length: layout.buckets }, () => (2 * rng.uniform() - 1) * bound);
    }
    g.initializers.delete(w.name);
    g.inputs = g.inputs.filter((v) => v.name !== w.name); // old exports list initializers as inputs too
    const bucketTensor = b.initializer(Tensor.fromFloat32(`${w.name}.buckets`, [layout.buckets], values));
    emitter.emit(`hash${layers.length}`, w.name, tensor.dims, layout, bucketTensor);
    layers.push({
      weight: w.name,
      nodes: g.nodes.filter((n) => n.inputs.includes(w.name)).map((n) => n.label),
      opType: w.opType,
      dims: [...tensor.dims],
      ratio: layerRatio,
      ...layout,
      bucketTensor,
      bytesBefore: tensor.byteLength,
      bytesAfter: storedBytes(layout, tensor.dims.length),
      relativeError: relativeRmsError(virtualWeights(layout, values), original),
    });
  }
  g.sortTopologically();
  const sum = (f: (l: HashedLayerReport) => number) => layers.reduce((a, l) => a + f(l), 0);
  return {
    model,
    report: {
      layers, excluded: excluded.map((w) => w.name),
      virtualWeights: sum((l) => l.virtualWeights), buckets: sum((l) => l.buckets),
      bytesBefore: sum((l) => l.bytesBefore), bytesAfter: sum((l) => l.bytesAfter),
      seed, signHash, init,
    },
  };
}

/** The hashed layers' current bucket values in a model (after training, say), by weight name. */
export function bucketValues(model: Model, report: HashReport): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const l of report.layers) {
    const t = model.graph.initializers.get(l.bucketTensor);
    if (!t) throw new HashError(`the model has no bucket tensor '${l.bucketTensor}' (was it made by this hashWeights report?)`);
    out.set(l.weight, t.toFloat32());
  }
  return out;
}

/**
 * The dense equivalent of a hashed model: each hashed weight written back as an initializer holding its virtual
 * weights, the index subgraphs and buckets removed.
 */
export function densifyHashed(model: Model, report: HashReport): Model {
  const values = bucketValues(model, report);
  const out = model.clone();
  const g = out.graph;
  const produced = new Set(report.layers.map((l) => l.weight));
  g.nodes = g.nodes.filter((n) => !n.outputs.some((o) => produced.has(o)));
  for (const l of report.layers) g.initializers.set(l.weight, Tensor.fromFloat32(l.weight, l.dims, virtualWeights(l, values.get(l.weight)!)));
  g.removeDeadNodes();
  return out;
}

/** hashWeights, then training (fine-tuning the buckets and every other parameter) with trainModel. */
export async function trainHashed(model: Model, options: HashOptions, fineTune: FineTuneOptions): Promise<HashResult & { fit: FitResult }> {
  const hashed = hashWeights(model, options);
  const trained = await trainModel(hashed.model, {}, fineTune);
  return { model: trained.model, report: hashed.report, fit: trained.fit };
}
