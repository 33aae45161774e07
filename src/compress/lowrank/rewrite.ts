// Replacing one node by a chain of nodes in place (so the graph stays in topological order), with fresh value, node
// and initializer names, and dropping weights no node reads any more.
import { AttributeInput, toAttribute } from '../../core/builder.js';
import { Graph, Node, nodeReads } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';

export class Rewriter {
  private readonly taken: Set<string>;
  private readonly nodeNames: Set<string>;

  constructor(readonly graph: Graph) {
    this.taken = graph.valueNames();
    this.nodeNames = new Set(graph.nodes.map((n) => n.name).filter(Boolean));
  }

  /** A value name not used in the graph. */
  value(prefix: string): string {
    return this.graph.uniqueName(prefix, this.taken);
  }

  /** Adds a float32 initializer under a fresh name made from `prefix`. */
  initializer(prefix: string, dims: number[], data: Float32Array): string {
    const name = this.value(prefix);
    this.graph.initializers.set(name, Tensor.fromFloat32(name, dims, data));
    return name;
  }

  node(opType: string, namePrefix: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeInput>): Node {
    let name = namePrefix;
    for (let i = 1; this.nodeNames.has(name); i++) name = `${namePrefix}_${i}`;
    this.nodeNames.add(name);
    return new Node(opType, inputs, outputs, name, '', Object.entries(attributes).map(([k, v]) => toAttribute(k, v)));
  }

  /** Puts `replacement` where `node` was; initializers the old node read and nothing reads now are dropped. */
  replace(node: Node, replacement: Node[]): void {
    const i = this.graph.nodes.indexOf(node);
    if (i < 0) throw new Error(`node '${node.label}' is not in the graph`);
    this.graph.nodes.splice(i, 1, ...replacement);
    const stillRead = new Set<string>([...this.graph.outputs.map((o) => o.name), ...this.graph.inputs.map((v) => v.name)]);
    for (const n of this.graph.nodes) for (const r of nodeReads(n)) stillRead.add(r);
    for (const name of node.inputs) if (name && !stillRead.has(name)) this.graph.initializers.delete(name);
  }
}
