// Filter merging: instead of dropping a group's least important channels, cluster its channels (k-means on each
// channel's effective filter) and fold every cluster into one channel. The kept channel's producer computes the
// cluster's mean response, and each consumer's input weights for it become the SUM of its weights over the cluster,
// so when a cluster's filters are equal the consumers see exactly the same input. The other channels of each cluster
// are then removed with the pruning slicer (removeChannels).
import { DataType } from '../../core/dtype.js';
import { Model, Node, nodeReads } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { constantsToInitializers } from '../../core/weights.js';
import { seededRandom } from '../../runtime/inputs.js';
import { ChannelAnalysis, ChannelGroup, ChannelMember, StructuredPruningError, analyzeChannels } from './dependency.js';
import { checkShrunkGraph, countMacs, countParams, keptChannelCount, removeChannels } from './prune.js';
import { batchNormSlot, channelLength, channelVectors, forEachChannelElement } from './rank.js';

export interface MergeChannelsOptions {
  /** Fraction of each mergeable group's channels to merge away, in [0, 1) (kept channels as pruneChannels counts them). */
  ratio: number;
  /** Round each group's kept channels to a multiple of this (default 1), as pruneChannels does. */
  channelMultiple?: number;
  /** Channels every group keeps at least (default 1). */
  minChannels?: number;
  /** Seed of the k-means initialization (default 0). */
  seed?: number;
}

export interface MergeGroupReport {
  producers: string[];
  channelsBefore: number;
  channelsAfter: number;
  merged: boolean;
  /** Why the group was left whole. */
  reason?: string;
  /** The clusters (channel indices, ascending; the first one is the channel that stays) of a merged group. */
  clusters?: number[][];
}

export interface MergeChannelsReport {
  ratio: number;
  groups: MergeGroupReport[];
  macsBefore: number;
  macsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
}

/**
 * One producer of a group with what computes its channels: the filter, the bias, and the BatchNorm that reads the
 * producer's output directly (and nothing else does), which is folded into the filter when comparing and averaging.
 */
interface ProducerUnit {
  weight: ChannelMember;
  bias?: ChannelMember;
  bn?: { scale: ChannelMember; bias: ChannelMember; mean: ChannelMember; variance: ChannelMember; epsilon: number };
}

interface GroupPlan {
  units: ProducerUnit[];
  /** Producer-side members outside any unit (a BatchNorm after a Relu or a Concat): averaged over each cluster. */
  averaged: ChannelMember[];
  consumers: ChannelMember[];
}

const findNode = (model: Model, label: string) => model.graph.nodes.find((n) => n.label === label);

function readerCount(model: Model, value: string): number {
  let n = model.graph.outputs.some((o) => o.name === value) ? 1 : 0;
  for (const node of model.graph.nodes) n += nodeReads(node).filter((r) => r === value).length;
  return n;
}

/** How a group's channels are computed and read, or why summing consumer weights over a cluster would be wrong. */
function planGroup(model: Model, group: ChannelGroup): GroupPlan | string {
  if (!group.prunable) return group.reason ?? 'the group cannot be pruned';
  for (const m of group.members) {
    const t = model.graph.initializers.get(m.tensor);
    if (!t) return `initializer '${m.tensor}' of node '${m.node}' is missing`;
    if (t.dataType !== DataType.FLOAT) return `tensor '${m.tensor}' of node '${m.node}' is ${DataType[t.dataType]}; merging works on float32 weights`;
    if (m.role === 'producer-weight' && !group.producers.includes(m.node)) {
      return `node '${m.node}' (depthwise Conv) filters each channel on its own, so its channels cannot be summed`;
    }
  }
  const units: ProducerUnit[] = [];
  const inUnit = new Set<ChannelMember>();
  for (const label of group.producers) {
    const weight = group.members.find((m) => m.role === 'producer-weight' && m.node === label);
    if (!weight) return `node '${label}' has no filter the analysis follows`;
    const unit: ProducerUnit = { weight, bias: group.members.find((m) => m.role === 'producer-bias' && m.node === label) };
    inUnit.add(weight);
    if (unit.bias) inUnit.add(unit.bias);
    const out = findNode(model, label)?.outputs[0];
    const bnNode = out && readerCount(model, out) === 1
      ? model.graph.nodes.find((n): n is Node => n.opType === 'BatchNormalization' && n.domain === '' && n.inputs[0] === out) : undefined;
    const bnMembers = bnNode ? group.members.filter((m) => (m.role === 'bn-scale' || m.role === 'bn') && m.node === bnNode.label) : [];
    if (bnNode && bnMembers.length === 4 && bnMembers.every((m) => m.offset === 0 && m.block === 1)) {
      const slot = (i: number) => bnMembers.find((m) => batchNormSlot(model, m) === i)!;
      unit.bn = { scale: slot(1), bias: slot(2), mean: slot(3), variance: slot(4), epsilon: bnNode.float('epsilon', 1e-5) };
      for (const m of bnMembers) inUnit.add(m);
    }
    units.push(unit);
  }
  return {
    units,
    averaged: group.members.filter((m) => m.role !== 'consumer-weight' && !inUnit.has(m)),
    consumers: group.members.filter((m) => m.role === 'consumer-weight'),
  };
}

/** Why a group's channels cannot be merged, or undefined when they can. */
export function mergeRefusal(model: Model, group: ChannelGroup): string | undefined {
  const plan = planGroup(model, group);
  return typeof plan === 'string' ? plan : undefined;
}

/** Per channel of one member: its slice's values (length `channels`). */
const scalarsOf = (model: Model, m: ChannelMember, channels: number) => channelVectors(model, m, channels).map((v) => v[0]!);

/** A unit's per-channel response y_c = a_c * (W_c x) + d_c: the gains a and constants d, BatchNorm folded in. */
function unitAffine(model: Model, unit: ProducerUnit, channels: number): { gain: Float64Array; constant: Float64Array; bias: Float64Array } {
  const bias = unit.bias ? Float64Array.from(scalarsOf(model, unit.bias, channels)) : new Float64Array(channels);
  if (!unit.bn) return { gain: new Float64Array(channels).fill(1), constant: bias, bias };
  const [scale, beta, mean, variance] = [unit.bn.scale, unit.bn.bias, unit.bn.mean, unit.bn.variance].map((m) => scalarsOf(model, m, channels));
  const gain = Float64Array.from(scale!, (s, c) => s / Math.sqrt(variance![c]! + unit.bn!.epsilon));
  const constant = Float64Array.from(gain, (a, c) => a * (bias[c]! - mean![c]!) + beta![c]!);
  return { gain, constant, bias };
}

/** Each channel's feature vector: every producer's effective filter a_c*W_c and constant d_c, then averaged members. */
function channelFeatures(model: Model, group: ChannelGroup, plan: GroupPlan): Float64Array[] {
  const n = group.channels;
  const parts: Float64Array[][] = [];
  for (const unit of plan.units) {
    const { gain, constant } = unitAffine(model, unit, n);
    const filters = channelVectors(model, unit.weight, n);
    parts.push(filters.map((f, c) => { const v = new Float64Array(f.length + 1); f.forEach((x, i) => { v[i] = gain[c]! * x; }); v[f.length] = constant[c]!; return v; }));
  }
  for (const m of plan.averaged) parts.push(channelVectors(model, m, n));
  return Array.from({ length: n }, (_, c) => {
    const out = new Float64Array(parts.reduce((s, p) => s + p[c]!.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p[c]!, at); at += p[c]!.length; }
    return out;
  });
}

function squaredDistance(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i]! - b[i]!; d += x * x; }
  return d;
}

const distance = (a: Float64Array, b: Float64Array) => Math.sqrt(squaredDistance(a, b));

/**
 * k-means (Lloyd's iterations, with Hamerly's bounds to skip points whose center cannot have changed) from a
 * farthest-point initialization whose first center is drawn from `random`: `k` non-empty clusters of point indices,
 * each ascending, ordered by their first index. Deterministic for a given `random` stream; exact copies of a point
 * always share its cluster when there are at least k distinct points.
 */
export function kMeans(points: Float64Array[], k: number, random: () => number, maxIterations = 100): number[][] {
  const n = points.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new StructuredPruningError(`k-means: cannot make ${k} clusters of ${n} points`);
  if (k === n) return points.map((_, i) => [i]);
  // The initialization's point-to-center distances (point-major) also make the first assignment.
  const initial = new Float64Array(n * k);
  const centers: Float64Array[] = [];
  const addCenter = (index: number) => {
    const c = centers.length;
    centers.push(Float64Array.from(points[index]!));
    for (let i = 0; i < n; i++) initial[i * k + c] = distance(points[i]!, centers[c]!);
  };
  addCenter(Math.min(n - 1, Math.floor(random() * n)));
  const nearest = Float64Array.from({ length: n }, (_, i) => initial[i * k]!);
  while (centers.length < k) {
    let far = 0;
    for (let i = 1; i < n; i++) if (nearest[i]! > nearest[far]!) far = i;
    addCenter(far);
    for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i]!, initial[i * k + centers.length - 1]!);
  }
  // upper: at least the distance to the own center; lower: at most the distance to any other center.
  const assign = new Int32Array(n), upper = new Float64Array(n), lower = new Float64Array(n);
  const assignNearest = (i: number, known?: Float64Array): boolean => {
    let best = 0, bestD = Infinity, secondD = Infinity;
    for (let c = 0; c < k; c++) {
      const d = known ? known[i * k + c]! : distance(points[i]!, centers[c]!);
      if (d < bestD) { secondD = bestD; bestD = d; best = c; } else if (d < secondD) secondD = d;
    }
    const moved = assign[i] !== best;
    assign[i] = best; upper[i] = bestD; lower[i] = secondD;
    return moved;
  };
  let changed = false;
  for (let i = 0; i < n; i++) changed = assignNearest(i, initial) || changed;
  for (let iteration = 0; ; iteration++) {
    // An empty cluster takes the point farthest from its center among clusters that can spare one.
    const sizes = new Int32Array(k);
    for (const a of assign) sizes[a]++;
    for (let c = 0; c < k; c++) {
      if (sizes[c]) continue;
      let far = -1;
      for (let i = 0; i < n; i++) if (sizes[assign[i]!]! > 1 && (far < 0 || upper[i]! > upper[far]!)) far = i;
      sizes[assign[far]!]--;
      assign[far] = c;
      sizes[c] = 1;
      upper[far] = distance(points[far]!, centers[c]!);
      lower[far] = 0;
      changed = true;
    }
    if (!changed || iteration === maxIterations) break;
    const moved = new Float64Array(k);
    const sums = Array.from({ length: k }, () => new Float64Array(points[0]!.length));
    for (let i = 0; i < n; i++) { const sum = sums[assign[i]!]!; points[i]!.forEach((x, j) => { sum[j] += x; }); }
    for (let c = 0; c < k; c++) {
      const center = sums[c]!.map((x) => x / sizes[c]!);
      moved[c] = distance(center, centers[c]!);
      centers[c] = center;
    }
    let first = 0;
    for (let c = 1; c < k; c++) if (moved[c]! > moved[first]!) first = c;
    const second = Math.max(0, ...moved.filter((_, c) => c !== first));
    changed = false;
    for (let i = 0; i < n; i++) {
      upper[i] += moved[assign[i]!]!;
      lower[i] -= assign[i] === first ? second : moved[first]!;
      if (upper[i]! <= lower[i]!) continue;
      upper[i] = distance(points[i]!, centers[assign[i]!]!);
      if (upper[i]! <= lower[i]!) continue;
      changed = assignNearest(i) || changed;
    }
  }
  const clusters: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) clusters[assign[i]!]!.push(i);
  return clusters.sort((a, b) => a[0]! - b[0]!);
}

/** Float64 working copies of the tensors being rewritten, written back as float32. */
class Buffers {
  private readonly data = new Map<string, Float64Array>();
  /** Per member: the flat index of each channel's elements, channel after channel. */
  private readonly indexes = new Map<ChannelMember, Int32Array>();
  constructor(private readonly model: Model) {}

  get(name: string): Float64Array {
    let d = this.data.get(name);
    if (!d) { d = Float64Array.from(this.model.graph.initializers.get(name)!.toFloat32()); this.data.set(name, d); }
    return d;
  }

  /** Channel `target` of the member becomes sum_j coefficients[j] * channel cluster[j] (read before any write). */
  combine(member: ChannelMember, channels: number, cluster: number[], coefficients: number[], target: number): void {
    const dims = this.model.graph.initializers.get(member.tensor)!.dims;
    const data = this.get(member.tensor);
    const length = channelLength(dims, member);
    let index = this.indexes.get(member);
    if (!index) {
      const table = new Int32Array(channels * length);
      forEachChannelElement(dims, member, channels, (i, c, p) => { table[c * length + p] = i; });
      this.indexes.set(member, index = table);
    }
    const sum = new Float64Array(length);
    cluster.forEach((c, j) => { const k = coefficients[j]!; if (k) for (let p = 0; p < length; p++) sum[p] += k * data[index[c * length + p]!]!; });
    for (let p = 0; p < length; p++) data[index[target * length + p]!] = sum[p]!;
  }

  /** Sets every element of channel `target` of the member (biases and BatchNorm parameters: one value each). */
  set(member: ChannelMember, target: number, value: number): void {
    const dims = this.model.graph.initializers.get(member.tensor)!.dims;
    const data = this.get(member.tensor);
    forEachChannelElement(dims, member, target + 1, (i, c) => { if (c === target) data[i] = value; });
  }

  writeInto(out: Model): void {
    for (const [name, d] of this.data) {
      const t = out.graph.initializers.get(name)!;
      const merged = new Tensor(name, DataType.FLOAT, t.dims, Float32Array.from(d));
      merged.docString = t.docString;
      out.graph.initializers.set(name, merged);
    }
  }
}

/**
 * Merges given clusters: `clusters` maps a group id to a partition of its channels; each cluster keeps its first
 * (lowest) channel. A producer's kept channel computes the mean of the cluster's responses (filters and constants
 * averaged with any directly following BatchNorm folded in; the BatchNorm keeps the statistics of the cluster's
 * channel with the largest gain), and consumers' weights for it are the sums over the cluster. Returns a new model.
 */
export function mergeClusters(model: Model, analysis: ChannelAnalysis, clusters: Map<number, number[][]>): Model {
  const buffers = new Buffers(model);
  const keep = new Map<number, number[]>();
  for (const group of analysis.groups) {
    const parts = clusters.get(group.id);
    if (!parts) continue;
    const plan = planGroup(model, group);
    const who = group.producers.join(', ') || 'no producer';
    if (typeof plan === 'string') throw new StructuredPruningError(`filter merging: group of ${who} cannot be merged: ${plan}`);
    const seen = parts.flat().sort((a, b) => a - b);
    if (parts.some((p) => !p.length) || seen.length !== group.channels || seen.some((c, i) => c !== i)) {
      throw new StructuredPruningError(`filter merging: the clusters of group ${who} do not partition its ${group.channels} channels`);
    }
    const n = group.channels;
    const affine = plan.units.map((u) => unitAffine(model, u, n));
    const bnValues = plan.units.map((u) => u.bn && {
      scale: scalarsOf(model, u.bn.scale, n), mean: scalarsOf(model, u.bn.mean, n), variance: scalarsOf(model, u.bn.variance, n),
    });
    const slots: number[] = [];
    for (const cluster of parts.map((p) => [...p].sort((a, b) => a - b))) {
      const slot = cluster[0]!;
      slots.push(slot);
      if (cluster.length === 1) continue;
      const size = cluster.length;
      plan.units.forEach((unit, u) => {
        const { gain, constant, bias } = affine[u]!;
        // The channel with the largest gain carries the merged response: W = mean(a_j W_j) / a_rep.
        const rep = cluster.reduce((best, c) => (Math.abs(gain[c]!) > Math.abs(gain[best]!) ? c : best), slot);
        const a = gain[rep]!;
        buffers.combine(unit.weight, n, cluster, cluster.map((c) => (a === 0 ? 0 : gain[c]! / (size * a))), slot);
        const meanConstant = cluster.reduce((s, c) => s + constant[c]!, 0) / size;
        const bn = unit.bn, stats = bnValues[u];
        if (!bn || !stats) {
          if (unit.bias) buffers.set(unit.bias, slot, meanConstant);
          return;
        }
        // Keep the representative's bias and statistics; the BatchNorm bias makes the constant the cluster's mean.
        if (unit.bias) buffers.set(unit.bias, slot, bias[rep]!);
        buffers.set(bn.scale, slot, stats.scale[rep]!);
        buffers.set(bn.mean, slot, stats.mean[rep]!);
        buffers.set(bn.variance, slot, stats.variance[rep]!);
        buffers.set(bn.bias, slot, meanConstant - a * (bias[rep]! - stats.mean[rep]!));
      });
      for (const m of plan.averaged) buffers.combine(m, n, cluster, cluster.map(() => 1 / size), slot);
      for (const m of plan.consumers) buffers.combine(m, n, cluster, cluster.map(() => 1), slot);
    }
    keep.set(group.id, slots.sort((a, b) => a - b));
  }
  const merged = model.clone();
  buffers.writeInto(merged);
  return removeChannels(merged, analysis, keep);
}

function checkOptions(options: MergeChannelsOptions): void {
  const { ratio } = options;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) throw new StructuredPruningError(`filter merging: ratio ${ratio} must be in [0, 1)`);
  const min = options.minChannels ?? 1;
  if (!Number.isInteger(min) || min < 1) throw new StructuredPruningError(`filter merging: minChannels ${min} must be a whole number of at least 1`);
  const multiple = options.channelMultiple ?? 1;
  if (!Number.isInteger(multiple) || multiple < 1) throw new StructuredPruningError(`filter merging: channelMultiple ${multiple} must be a whole number of at least 1`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new StructuredPruningError(`filter merging: seed ${seed} must be a whole number`);
}

/**
 * Merges each mergeable channel group's channels into as many clusters as pruneChannels would keep channels, by
 * k-means on the channels' effective filters. Groups that cannot be merged (depthwise consumers, anything the
 * channel analysis refuses, the classifier's outputs) are left whole and listed in the report with the reason.
 */
export function mergeChannels(model: Model, options: MergeChannelsOptions): { model: Model; report: MergeChannelsReport } {
  checkOptions(options);
  const base = constantsToInitializers(model);
  const analysis = analyzeChannels(base);
  const random = seededRandom(options.seed ?? 0);
  const clusters = new Map<number, number[][]>();
  const reasons = new Map<number, string>();
  for (const group of analysis.groups) {
    const plan = planGroup(base, group);
    if (typeof plan === 'string') { reasons.set(group.id, plan); continue; }
    const kept = keptChannelCount(group.channels, options.ratio, options.minChannels ?? 1, options.channelMultiple ?? 1);
    clusters.set(group.id, kMeans(channelFeatures(base, group, plan), kept, random));
  }
  if (!clusters.size) {
    const why = [...reasons].find(([id]) => !analysis.groups.find((g) => g.id === id)?.reachesOutput)?.[1]
      ?? 'the model has no Conv or Gemm channels to merge';
    throw new StructuredPruningError(`filter merging: no channel group can be merged: ${why}`);
  }
  const merged = mergeClusters(base, analysis, clusters);
  checkShrunkGraph(base, merged, 'filter merging');
  return {
    model: merged,
    report: {
      ratio: options.ratio,
      groups: analysis.groups.map((g) => ({
        producers: g.producers, channelsBefore: g.channels, channelsAfter: clusters.get(g.id)?.length ?? g.channels,
        merged: clusters.has(g.id), reason: reasons.get(g.id), clusters: clusters.get(g.id),
      })),
      macsBefore: countMacs(base), macsAfter: countMacs(merged), paramsBefore: countParams(base), paramsAfter: countParams(merged),
    },
  };
}
