// Weight sharing: k-means codebooks and hashed buckets.
export * from './kmeans.js';
export * from './cluster.js';
export * from './hash.js';
