// Structured pruning: channel dependency groups, channel ranking, the pass that shrinks the graph, and filter merging.
export * from './dependency.js';
export * from './rank.js';
export * from './prune.js';
export * from './merge.js';
export * from './blocks.js';
