// Lossless graph optimizations.
export * from './fold-batchnorm.js';
export * from './linear-layer.js';
export * from './optimize.js';
