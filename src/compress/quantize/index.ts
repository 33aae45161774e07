// Quantization: the API the CLI and recipes call.
export * from './arithmetic.js';
export * from './checks.js';
export * from './weight-only.js';
export * from './nbits.js';
export * from './gptq.js';
export * from './dynamic.js';
export * from './calibrate.js';
export * from './equalize.js';
export * from './qdq-placement.js';
export * from './static.js';
export * from './float16.js';
export * from './bnb4.js';
export * from './qat.js';
export * from './binary.js';
export * from './mixed.js';
export * from './presets.js';
