// Channel importance for a group (higher: more important, kept first):
// - 'l1' / 'l2': the norm of the producers' filters, summed over the group's producers;
// - 'bn-scale': the BatchNorm scale |gamma| (network slimming), summed over the group's BatchNorms;
// - 'fpgm': filter pruning via geometric median (He et al. 2019): a channel's summed distance to the group's other
//   filters; the filters nearest the geometric median are the most replaceable by the rest, so they go first;
// - 'taylor': group Taylor (Molchanov et al. 2019): (sum of g*w over the channel's parameters)^2, the squared
//   first-order change of the loss when the channel's producer filters, biases and BatchNorm scale/bias go to zero.
import { Model } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import type { GradientSums } from '../prune/criteria.js';
import { ChannelGroup, ChannelMember, StructuredPruningError, analyzeChannels } from './dependency.js';

export type ChannelCriterion = 'l1' | 'l2' | 'bn-scale' | 'fpgm' | 'taylor';

export const CHANNEL_CRITERIA: readonly ChannelCriterion[] = ['l1', 'l2', 'bn-scale', 'fpgm', 'taylor'];

/**
 * Calls `visit(flatIndex, channel, position)` for every element of a tensor of shape `dims` that belongs to one of the
 * member's `channels` channels; `position` numbers the channel's elements 0 ... channelLength(dims, member) - 1 in the
 * same order for every channel, so equal positions of two channels are corresponding weights.
 */
export function forEachChannelElement(
  dims: readonly number[], member: ChannelMember, channels: number, visit: (flatIndex: number, channel: number, position: number) => void,
): void {
  const axisSize = dims[member.axis]!;
  const outer = dims.slice(0, member.axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(member.axis + 1).reduce((a, b) => a * b, 1);
  const { offset, block } = member;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      for (let b = 0; b < block; b++) {
        const index = offset + c * block + b;
        const start = (o * axisSize + index) * inner;
        const position = (o * block + b) * inner;
        for (let i = 0; i < inner; i++) visit(start + i, c, position + i);
      }
    }
  }
}

/** Number of elements one channel owns in a member tensor of shape `dims`. */
export function channelLength(dims: readonly number[], member: ChannelMember): number {
  return dims.reduce((a, b) => a * b, 1) / dims[member.axis]! * member.block;
}

/** Each channel's slice of the member's tensor as a vector (see forEachChannelElement for the element order). */
export function channelVectors(model: Model, member: ChannelMember, channels: number): Float64Array[] {
  const t = model.graph.initializers.get(member.tensor);
  if (!t) throw new StructuredPruningError(`initializer '${member.tensor}' of node '${member.node}' is missing`);
  const values = t.toFloat32();
  const length = channelLength(t.dims, member);
  const vectors = Array.from({ length: channels }, () => new Float64Array(length));
  forEachChannelElement(t.dims, member, channels, (i, c, p) => { vectors[c]![p] = values[i]!; });
  return vectors;
}

/** Per channel of the member's tensor: the sum of |x| (power 1) or x^2 (power 2) over the channel's slice. */
function channelSums(model: Model, member: ChannelMember, channels: number, power: 1 | 2): Float64Array {
  const sums = new Float64Array(channels);
  const t = model.graph.initializers.get(member.tensor);
  if (!t) return sums;
  const values = t.toFloat32();
  forEachChannelElement(t.dims, member, channels, (i, c) => {
    const v = values[i]!;
    sums[c] += power === 1 ? Math.abs(v) : v * v;
  });
  return sums;
}

/** FPGM score per channel: the sum of Euclidean distances from its filter to every other filter of the member. */
function geometricMedianDistances(model: Model, member: ChannelMember, channels: number): Float64Array {
  const filters = channelVectors(model, member, channels);
  const sums = new Float64Array(channels);
  for (let a = 0; a < channels; a++) {
    const fa = filters[a]!;
    for (let b = a + 1; b < channels; b++) {
      const fb = filters[b]!;
      let d = 0;
      for (let i = 0; i < fa.length; i++) { const x = fa[i]! - fb[i]!; d += x * x; }
      d = Math.sqrt(d);
      sums[a] += d;
      sums[b] += d;
    }
  }
  return sums;
}

/** The BatchNormalization input slot (1 scale, 2 bias, 3 mean, 4 var) a 'bn-scale' or 'bn' member fills. */
export function batchNormSlot(model: Model, member: ChannelMember): number {
  const node = model.graph.nodes.find((n) => n.label === member.node && n.opType === 'BatchNormalization');
  return node ? node.inputs.indexOf(member.tensor) : -1;
}

/**
 * The members whose parameters the Taylor criterion weighs: producer filters and biases (depthwise ones included)
 * and BatchNorm scale and bias; running mean and variance are statistics, not parameters, and are left out.
 */
export function taylorMembers(model: Model, group: ChannelGroup): ChannelMember[] {
  return group.members.filter((m) => m.role === 'producer-weight' || m.role === 'producer-bias' || m.role === 'bn-scale'
    || (m.role === 'bn' && batchNormSlot(model, m) === 2));
}

/**
 * Names of the tensors whose gradient sums the 'taylor' criterion needs for a model (every prunable group's
 * taylorMembers), to pass to accumulateGradients.
 */
export function taylorTensors(model: Model): string[] {
  const base = constantsToInitializers(model);
  const names = new Set<string>();
  for (const g of analyzeChannels(base).groups) if (g.prunable) for (const m of taylorMembers(base, g)) names.add(m.tensor);
  return [...names];
}

function taylorScores(model: Model, group: ChannelGroup, gradients: GradientSums | undefined): Float64Array {
  const sums = new Float64Array(group.channels);
  for (const m of taylorMembers(model, group)) {
    const t = model.graph.initializers.get(m.tensor);
    const g = gradients?.get(m.tensor);
    if (!t) continue;
    if (!g) throw new StructuredPruningError(`taylor criterion: no gradient for '${m.tensor}' (node '${m.node}'); accumulate gradients for it first`);
    if (g.length !== t.size) throw new StructuredPruningError(`taylor criterion: gradient for '${m.tensor}' has ${g.length} values, the tensor ${t.size}`);
    const w = t.toFloat32();
    forEachChannelElement(t.dims, m, group.channels, (i, c) => { sums[c] += g[i]! * w[i]!; });
  }
  return sums.map((s) => s * s);
}

/**
 * Importance of each of a group's channels (higher: more important). 'bn-scale' falls back to 'l1' for groups without
 * a BatchNorm. 'taylor' needs the gradient sums of every tensor taylorTensors names for the group.
 */
export function channelImportance(model: Model, group: ChannelGroup, criterion: ChannelCriterion, gradients?: GradientSums): Float64Array {
  if (criterion === 'taylor') return taylorScores(model, group, gradients);
  const scores = new Float64Array(group.channels);
  const scales = group.members.filter((m) => m.role === 'bn-scale');
  if (criterion === 'bn-scale' && scales.length) {
    for (const m of scales) channelSums(model, m, group.channels, 1).forEach((s, c) => { scores[c] += s; });
    return scores;
  }
  const producers = group.members.filter((m) => m.role === 'producer-weight');
  if (criterion === 'fpgm') {
    for (const m of producers) geometricMedianDistances(model, m, group.channels).forEach((s, c) => { scores[c] += s; });
    return scores;
  }
  const power = criterion === 'l2' ? 2 : 1;
  for (const m of producers) {
    channelSums(model, m, group.channels, power).forEach((s, c) => { scores[c] += power === 2 ? Math.sqrt(s) : s; });
  }
  return scores;
}

/** The `keep` most important channels of a group, in ascending index order (ties keep the lower index). */
export function channelsToKeep(scores: Float64Array, keep: number): number[] {
  const order = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}
