// nnzip's Node-only layer: model files, NPY files, and the onnxruntime-node runtime.
export * from './io.js';
export * from './npy.js';
export { nodeRuntime } from '../runtime/node.js';
export * from './datasets.js';
export * from './checkpoints.js';
export * from './nnz.js';
