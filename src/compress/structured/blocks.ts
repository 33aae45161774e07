// Layer pruning: removing whole residual blocks. A block is an Add (or two-input Sum) of a value x and a branch y
// computed from x alone; removing it rewires the Add's readers to x, so the block becomes y = x + 0 → x. Blocks whose
// shortcut is not the identity (a projection or subsampling that changes the shape) are reported, never removed.
import { Dim, Graph, Model, Node, nodeReads } from '../../core/ir.js';
import { inferShapes } from '../../core/shape/infer.js';
import { ValueFacts } from '../../core/shape/registry.js';
import { isParameterTensor, nodeMacs, symbolicInputDims } from '../../core/stats.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { weightTensors } from '../../core/weights.js';
import { matchesPattern } from '../../train/training-graph.js';
import { StructuredPruningError } from './dependency.js';

export interface ResidualBlock {
  /** Label of the Add (or Sum) node that closes the block. */
  add: string;
  /** The block input x: the identity shortcut's value (the value the shortcut starts from otherwise). */
  input: string;
  /** The Add's output. */
  output: string;
  /** Labels of the branch nodes (x → y), in graph order. */
  nodes: string[];
  /** Labels of the nodes on the shortcut; empty for an identity shortcut. */
  shortcut: string[];
  /** Parameter elements only the branch reads (what removing it saves). */
  params: number;
  /** MACs of the branch per sample (symbolic dimensions as 1; nodes of unknown shapes count 0). */
  macs: number;
  removable: boolean;
  /** Why the block cannot be removed. */
  reason?: string;
}

export type BlockCriterion = 'bn-scale' | 'l1';

export const BLOCK_CRITERIA: readonly BlockCriterion[] = ['bn-scale', 'l1'];

export interface PruneBlocksOptions {
  /** Number of blocks to remove. Give this or `ratio`. */
  count?: number;
  /** Fraction of the removable (not excluded) blocks to remove, in [0, 1); rounded to a whole number of blocks. */
  ratio?: number;
  /** How blocks are ranked when `scores` is not given (default 'bn-scale'). */
  criterion?: BlockCriterion;
  /**
   * Importance per block, by Add label, measured by the caller (lowest removed first). For a blockSensitivity
   * result, use sensitivityScores(result): a higher metric after removal means a less important block.
   */
  scores?: Map<string, number>;
  /** Name patterns ('*' wildcard) of blocks to keep, matched against the Add's label and its branch nodes' labels. */
  exclude?: string[];
}

export interface BlockReport {
  add: string;
  /** Importance the ranking used; null for blocks that cannot be removed. */
  score: number | null;
  removed: boolean;
  removable: boolean;
  /** Why the block was kept regardless of its score (not removable, or excluded). */
  reason?: string;
  params: number;
  macs: number;
}

export interface PruneBlocksReport {
  /** 'scores' when the caller's scores ranked the blocks. */
  criterion: BlockCriterion | 'scores';
  blocks: BlockReport[];
  removed: number;
  macsBefore: number;
  macsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
}

export interface BlockSensitivity {
  add: string;
  /** What `measure` returned for the model without this block. */
  metric: number;
}

/** A found block with the graph objects the pass works on. */
interface FoundBlock {
  block: ResidualBlock;
  addNode: Node;
  /** Which Add input is x. */
  xIndex: number;
  branch: Node[];
}

const BRANCH_OPS = new Set(['Add', 'Sum']);
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
/** Shortcuts longer than this are not searched for (projections are 1-2 nodes, subsampling 1-2). */
const MAX_SHORTCUT_NODES = 4;

/** What the analysis of one graph needs, built once. */
class GraphIndex {
  readonly producers: Map<string, Node>;
  readonly consumers: Map<string, Node[]>;
  readonly graphOutputs: Set<string>;
  /** Initializers and Constant-node outputs. */
  readonly constants: Set<string>;
  readonly order: Map<Node, number>;

  constructor(readonly graph: Graph) {
    this.producers = graph.producers();
    this.consumers = graph.consumers();
    this.graphOutputs = new Set(graph.outputs.map((o) => o.name));
    this.constants = new Set(graph.initializers.keys());
    for (const n of graph.nodes) if (n.opType === 'Constant' && n.domain === '' && n.outputs[0]) this.constants.add(n.outputs[0]);
    for (const v of graph.inputs) if (!graph.initializers.has(v.name)) this.constants.delete(v.name);
    this.order = new Map(graph.nodes.map((n, i) => [n, i]));
  }

  /**
   * The nodes computing y from x (plus initializers and Constants), or undefined when y needs any other value or
   * does not read x at all.
   */
  branch(x: string, y: string): Node[] | undefined {
    const nodes = new Set<Node>();
    const stack = [y];
    const seen = new Set<string>();
    let readsX = false;
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      if (v === x) { readsX = true; continue; }
      if (this.constants.has(v)) continue;
      const p = this.producers.get(v);
      if (!p) return undefined; // a graph input other than x
      if (p.opType === 'Constant' && p.domain === '') continue; // a Constant without a plain tensor value
      if (!nodes.has(p)) {
        nodes.add(p);
        stack.push(...nodeReads(p));
      }
    }
    if (!readsX) return undefined;
    return [...nodes].sort((a, b) => this.order.get(a)! - this.order.get(b)!);
  }

  /** Why the branch cannot be deleted: one of its values is read outside it or is a graph output. */
  leak(branch: Node[], addNode: Node): string | undefined {
    const inside = new Set<Node>([...branch, addNode]);
    for (const n of branch) {
      for (const o of n.outputs) {
        if (!o) continue;
        if (this.graphOutputs.has(o)) return `branch value '${o}' is a graph output`;
        const outside = (this.consumers.get(o) ?? []).find((c) => !inside.has(c));
        if (outside) return `branch value '${o}' is also read by node '${outside.label}' (${outside.qualifiedOp}) outside the block`;
      }
    }
    return undefined;
  }

  /** The nodes on a shortcut from some value z to s, each with one non-constant input, nearest to s first. */
  *shortcutChains(s: string): Generator<{ z: string; chain: Node[] }> {
    const chain: Node[] = [];
    let v = s;
    while (chain.length < MAX_SHORTCUT_NODES) {
      const p = this.producers.get(v);
      if (!p || (p.opType === 'Constant' && p.domain === '')) return;
      const live = nodeReads(p).filter((r) => !this.constants.has(r));
      if (live.length !== 1) return;
      chain.push(p);
      v = live[0]!;
      yield { z: v, chain: [...chain] };
    }
  }
}

function shapesEqual(a: Dim[] | undefined, b: Dim[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d !== null && d === b[i]);
}

const describe = (node: Node) => `node '${node.label}' (${node.qualifiedOp})`;

/** Parameter tensors (initializers and Constant-node tensors) by the name nodes read them by. */
function parameterTensors(graph: Graph): Map<string, Tensor> {
  return new Map(weightTensors(graph).filter((w) => isParameterTensor(w.tensor)).map((w) => [w.name, w.tensor]));
}

function concreteFacts(model: Model): Map<string, ValueFacts> {
  const dims = Object.fromEntries(symbolicInputDims(model).map((d) => [d, 1]));
  return inferShapes(model, { strict: false, dims }).values;
}

/** MACs per sample (symbolic dimensions as 1) and parameter elements, counted as modelStats counts them. */
function totals(model: Model): { macs: number; params: number } {
  const facts = concreteFacts(model);
  let macs = 0;
  for (const node of model.graph.nodes) macs += nodeMacs(node, (n) => facts.get(n)) ?? 0;
  let params = 0;
  for (const t of parameterTensors(model.graph).values()) params += t.size;
  return { macs, params };
}

function analyze(model: Model): FoundBlock[] {
  const graph = model.graph;
  const index = new GraphIndex(graph);
  const facts = concreteFacts(model);
  const symbolic = symbolicInputDims(model).length ? inferShapes(model, { strict: false }).values : facts;
  const weights = parameterTensors(graph);
  const found: FoundBlock[] = [];

  for (const addNode of graph.nodes) {
    if (!BRANCH_OPS.has(addNode.opType) || addNode.domain !== '' || addNode.inputs.length !== 2) continue;
    const [a, b] = addNode.inputs as [string, string];
    const out = addNode.outputs[0];
    if (!a || !b || a === b || !out) continue;
    let hit: { xIndex: number; x: string; branch: Node[]; shortcut: Node[] } | undefined;
    for (const xIndex of [1, 0]) {
      const x = addNode.inputs[xIndex]!, y = addNode.inputs[1 - xIndex]!;
      if (index.constants.has(x)) continue;
      const branch = index.branch(x, y);
      if (branch) { hit = { xIndex, x, branch, shortcut: [] }; break; }
    }
    // Not an identity shortcut: look for a short projection or subsampling chain from the value the branch starts at.
    for (const xIndex of hit ? [] : [1, 0]) {
      const s = addNode.inputs[xIndex]!, y = addNode.inputs[1 - xIndex]!;
      for (const { z, chain } of index.shortcutChains(s)) {
        const branch = index.branch(z, y);
        if (branch && !chain.some((n) => branch.includes(n))) { hit = { xIndex, x: z, branch, shortcut: chain }; break; }
      }
      if (hit) break;
    }
    if (!hit) continue;

    const { x, branch, shortcut } = hit;
    let reason: string | undefined;
    if (shortcut.length) {
      reason = `the shortcut is not the identity: it runs through ${shortcut.map(describe).reverse().join(', ')}`;
    } else {
      const xShape = symbolic.get(x)?.shape, outShape = symbolic.get(out)?.shape;
      const sameShape = shapesEqual(xShape, outShape) || shapesEqual(facts.get(x)?.shape, facts.get(out)?.shape);
      if (!sameShape) reason = `the block input '${x}' and the ${addNode.opType}'s output '${out}' do not have one known shape, so the branch may change the shape`;
      else if (facts.get(x)?.elemType !== facts.get(out)?.elemType) reason = `the block input '${x}' and the output '${out}' differ in type`;
      else reason = index.leak(branch, addNode);
    }

    // Parameters only the branch reads (shared ones stay after the branch is gone).
    const inBranch = new Set(branch);
    let params = 0;
    const counted = new Set<string>();
    for (const n of branch) {
      for (const r of nodeReads(n)) {
        const t = weights.get(r);
        if (!t || counted.has(r) || index.graphOutputs.has(r)) continue;
        counted.add(r);
        const readers = index.consumers.get(r) ?? [];
        if (readers.every((c) => inBranch.has(c))) params += t.size;
      }
    }
    let macs = 0;
    for (const n of branch) macs += nodeMacs(n, (name) => facts.get(name)) ?? 0;

    found.push({
      addNode, xIndex: hit.xIndex, branch,
      block: {
        add: addNode.label, input: x, output: out, nodes: branch.map((n) => n.label), shortcut: shortcut.map((n) => n.label).reverse(),
        params, macs, removable: reason === undefined, ...(reason === undefined ? {} : { reason }),
      },
    });
  }
  return found;
}

/**
 * Every residual block of the model's main graph: identity-shortcut blocks (removable unless a branch value is read
 * elsewhere or the shapes differ) and blocks with a projection or subsampling shortcut (never removable).
 */
export function findResidualBlocks(model: Model): ResidualBlock[] {
  return analyze(model).map((f) => f.block);
}

/** Follows a block's branch back from its end (the Add's other input), along each node's first input. */
function branchEnd(model: Model, block: ResidualBlock): { addNode: Node; walk: Node[]; branch: Node[] } {
  const graph = model.graph;
  const producers = graph.producers();
  const addNode = producers.get(block.output);
  if (!addNode || addNode.label !== block.add) throw new StructuredPruningError(`residual block '${block.add}' is not in this model (no node of that name produces '${block.output}')`);
  const labels = new Set(block.nodes);
  const branch = graph.nodes.filter((n) => labels.has(n.label));
  const walk: Node[] = [];
  // The branch's end is the Add input a branch node produces (the other one is x, or the shortcut's end).
  let v = addNode.inputs.find((i) => labels.has(producers.get(i)?.label ?? '')) ?? '';
  for (let p = producers.get(v); p && labels.has(p.label) && !walk.includes(p); p = producers.get(v)) {
    walk.push(p);
    v = p.inputs[0] ?? '';
  }
  return { addNode, walk, branch };
}

/**
 * Importance of a block's branch (higher: more important). 'bn-scale': sum of |gamma| of the BatchNorm that ends the
 * branch (the last one before the Add with no Conv/Gemm after it), 'l1' when there is none (BN folded into the conv);
 * 'l1': mean |w| of the branch's last Conv/Gemm/MatMul weight.
 */
export function blockImportance(model: Model, block: ResidualBlock, criterion: BlockCriterion = 'bn-scale'): number {
  if (!BLOCK_CRITERIA.includes(criterion)) throw new StructuredPruningError(`unknown block criterion '${String(criterion)}'; use ${BLOCK_CRITERIA.join(' or ')}`);
  const { walk, branch } = branchEnd(model, block);
  const weights = parameterTensors(model.graph);
  if (criterion === 'bn-scale') {
    for (const n of walk) {
      if (WEIGHTED_OPS.has(n.opType)) break;
      if (n.opType !== 'BatchNormalization') continue;
      const gamma = weights.get(n.inputs[1] ?? '');
      if (!gamma) break;
      let sum = 0;
      for (const g of gamma.toFloat32()) sum += Math.abs(g);
      return sum;
    }
  }
  const weighted = (n: Node) => WEIGHTED_OPS.has(n.opType) && n.domain === '' && weights.has(n.inputs[1] ?? '');
  const last = walk.find(weighted) ?? [...branch].reverse().find(weighted);
  if (!last) throw new StructuredPruningError(`residual block '${block.add}': its branch has no Conv, Gemm or MatMul with constant weights to rank it by`);
  const w = weights.get(last.inputs[1]!)!;
  let sum = 0;
  for (const v of w.toFloat32()) sum += Math.abs(v);
  return sum / Math.max(1, w.size);
}

/** Replaces reads of `from` by `to` in a graph and in the subgraphs that do not define `from` themselves. */
function renameReads(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const g of n.subgraphs()) {
      const defines = g.inputs.some((v) => v.name === from) || g.initializers.has(from) || g.nodes.some((m) => m.outputs.includes(from));
      if (!defines) {
        renameReads(g, from, to);
        for (const o of g.outputs) if (o.name === from) o.name = to;
      }
    }
  }
}

/** Deletes a block's branch and its Add, the Add's readers reading x instead. Mutates the graph. */
function removeBlock(graph: Graph, found: FoundBlock): void {
  const { addNode } = found;
  if (!graph.nodes.includes(addNode)) return; // inside a block removed before
  const x = addNode.inputs[found.xIndex]!;
  const out = addNode.outputs[0]!;
  const deleted = new Set<Node>([...found.branch, addNode]);
  const released = new Set<string>();
  for (const n of deleted) for (const r of nodeReads(n)) released.add(r);
  graph.nodes = graph.nodes.filter((n) => !deleted.has(n));
  for (const n of deleted) for (const o of n.outputs) graph.valueInfo.delete(o);

  if (graph.outputs.some((o) => o.name === out)) {
    // The graph output keeps its name: x's producer writes it directly, or an Identity copies x into it.
    const producer = graph.producers().get(x);
    const xIsBoundary = graph.outputs.some((o) => o.name === x) || graph.inputs.some((v) => v.name === x) || graph.initializers.has(x);
    if (producer && !xIsBoundary) {
      producer.outputs = producer.outputs.map((o) => (o === x ? out : o));
      renameReads(graph, x, out);
      graph.valueInfo.delete(x);
    } else {
      graph.nodes.push(new Node('Identity', [x], [out], `${addNode.label}/shortcut`));
    }
  } else {
    renameReads(graph, out, x);
  }

  // Drop the weights and Constants nothing reads any more.
  const stillRead = new Set<string>(graph.outputs.map((o) => o.name));
  for (const n of graph.nodes) for (const r of nodeReads(n)) stillRead.add(r);
  const inputs = new Set(graph.inputs.map((v) => v.name));
  for (const name of released) {
    if (stillRead.has(name) || inputs.has(name)) continue;
    graph.initializers.delete(name);
    graph.valueInfo.delete(name);
  }
  graph.nodes = graph.nodes.filter((n) => !(n.opType === 'Constant' && n.domain === '' && released.has(n.outputs[0] ?? '') && !stillRead.has(n.outputs[0]!)));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function noRemovableBlock(found: FoundBlock[]): StructuredPruningError {
  if (!found.length) return new StructuredPruningError('no removable residual block: no Add with an identity shortcut was found');
  const first = found[0]!.block;
  return new StructuredPruningError(`no removable residual block: no Add with an identity shortcut that can be removed was found (${plural(found.length, 'residual Add')} found; '${first.add}': ${first.reason})`);
}

/**
 * Removes the least important removable residual blocks: `count` of them, or round(ratio × removable blocks). The
 * result validates; its outputs change by exactly what the removed branches added.
 */
export function pruneBlocks(model: Model, options: PruneBlocksOptions): { model: Model; report: PruneBlocksReport } {
  const { count, ratio, scores, exclude = [] } = options;
  const criterion = options.criterion ?? 'bn-scale';
  if (!BLOCK_CRITERIA.includes(criterion)) throw new StructuredPruningError(`unknown block criterion '${String(criterion)}'; use ${BLOCK_CRITERIA.join(' or ')}`);
  if ((count === undefined) === (ratio === undefined)) throw new StructuredPruningError('block pruning needs exactly one of count and ratio');
  if (count !== undefined && !(Number.isInteger(count) && count >= 0)) throw new StructuredPruningError(`block count ${count} must be a whole number, 0 or more`);
  if (ratio !== undefined && !(ratio >= 0 && ratio < 1)) throw new StructuredPruningError(`block ratio ${ratio} must be in [0, 1)`);

  const out = model.clone();
  const found = analyze(out);
  const removable = found.filter((f) => f.block.removable);
  if (!removable.length) throw noRemovableBlock(found);

  const excludedBy = new Map<FoundBlock, string>();
  for (const pattern of exclude) {
    const hits = found.filter((f) => [f.block.add, ...f.block.nodes].some((label) => matchesPattern(label, pattern)));
    if (!hits.length) throw new StructuredPruningError(`exclude pattern '${pattern}' matches no residual block (blocks: ${found.map((f) => f.block.add).join(', ')})`);
    for (const f of hits) if (!excludedBy.has(f)) excludedBy.set(f, pattern);
  }
  const candidates = removable.filter((f) => !excludedBy.has(f));
  const wanted = count ?? Math.round(ratio! * candidates.length);
  if (wanted > candidates.length) {
    const note = removable.length > candidates.length ? `, ${removable.length - candidates.length} more excluded` : '';
    throw new StructuredPruningError(`cannot remove ${plural(wanted, 'block')}: the model has ${plural(candidates.length, 'removable residual block')}${note}`);
  }

  const score = new Map<FoundBlock, number>();
  for (const f of removable) {
    if (scores) {
      const s = scores.get(f.block.add);
      if (s === undefined || !Number.isFinite(s)) {
        if (excludedBy.has(f)) continue;
        throw new StructuredPruningError(`scores give ${s === undefined ? 'no' : `a non-finite (${s})`} score for residual block '${f.block.add}'`);
      }
      score.set(f, s);
    } else {
      score.set(f, blockImportance(out, f.block, criterion));
    }
  }
  // Lowest importance first; ties keep graph order (the sort is stable).
  const chosen = new Set([...candidates].sort((p, q) => score.get(p)! - score.get(q)!).slice(0, wanted));

  const before = totals(out);
  for (const f of chosen) removeBlock(out.graph, f);
  validateModel(out);
  const after = totals(out);

  const blocks: BlockReport[] = found.map((f) => {
    const reason = f.block.reason ?? (excludedBy.has(f) ? `excluded by '${excludedBy.get(f)}'` : undefined);
    return {
      add: f.block.add, score: score.get(f) ?? null, removed: chosen.has(f), removable: f.block.removable,
      ...(reason === undefined ? {} : { reason }), params: f.block.params, macs: f.block.macs,
    };
  });
  return {
    model: out,
    report: {
      criterion: scores ? 'scores' : criterion, blocks, removed: chosen.size,
      macsBefore: before.macs, macsAfter: after.macs, paramsBefore: before.params, paramsAfter: after.params,
    },
  };
}

/**
 * Removes each removable block alone and measures the result (accuracy, fidelity: any metric where higher is
 * better). A block whose removal keeps the metric high matters little; sensitivityScores turns the list into
 * pruneBlocks scores.
 */
export async function blockSensitivity(model: Model, measure: (m: Model) => Promise<number>): Promise<BlockSensitivity[]> {
  const found = analyze(model);
  const removable = found.filter((f) => f.block.removable);
  if (!removable.length) throw noRemovableBlock(found);
  const results: BlockSensitivity[] = [];
  for (const target of removable) {
    const copy = model.clone();
    // The analysis is deterministic, so the copy's blocks line up with the original's.
    const twin = analyze(copy)[found.indexOf(target)]!;
    removeBlock(copy.graph, twin);
    validateModel(copy);
    results.push({ add: target.block.add, metric: await measure(copy) });
  }
  return results;
}

/** pruneBlocks scores from a sensitivity run: importance = -metric, so the block whose removal hurt least goes first. */
export function sensitivityScores(sensitivity: readonly BlockSensitivity[]): Map<string, number> {
  return new Map(sensitivity.map((s) => [s.add, -s.metric]));
}
