// One-dimensional k-means (Lloyd's algorithm) for weight sharing. In one dimension the clusters of a nearest-centroid
// assignment are contiguous runs of the sorted values, split at the midpoints between neighbouring centroids. So the
// values are sorted once, prefix sums give each run's mean, and one Lloyd iteration is k binary searches: O(k log n)
// after the O(n log n) sort, fast for millions of weights. Isomorphic: no Node-only imports.
import { NnzipError } from '../../core/errors.js';
import { seededRandom } from '../../runtime/inputs.js';

/** How the centroids start (Han et al. 2016 compare the three; linear is their default). */
export type KMeansInit = 'linear' | 'density' | 'random';
export const KMEANS_INITS: readonly KMeansInit[] = ['linear', 'density', 'random'];

/** A k-means request that cannot be carried out (bad k, non-finite values, unknown initialization). */
export class KMeansError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'KMeansError';
  }
}

export interface KMeansOptions {
  /** Default 'linear'. */
  init?: KMeansInit;
  /** Seed of the 'random' initialization (default 0). */
  seed?: number;
  /** Lloyd iterations at most (default 1000; one costs k binary searches); it stops earlier when no assignment changes. */
  maxIterations?: number;
}

export interface KMeansResult {
  /** Centroids in ascending order, float32 values; clusters left empty are dropped, so length <= k. */
  centroids: Float32Array;
  /** Index into `centroids` of each value, in the order of the input. */
  assignments: Int32Array;
  /** Lloyd iterations run. */
  iterations: number;
  /** Sum of squared errors of the initial centroids (each value to its nearest) and of the result. */
  initialError: number;
  error: number;
}

/** Sorted copy of the values in float64 (refuses NaN and infinities, which have no place on the line). */
function sortedValues(values: ArrayLike<number>): Float64Array {
  const sorted = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < sorted.length; i++) if (!Number.isFinite(sorted[i]!)) throw new KMeansError(`k-means: value ${sorted[i]} at position ${i} is not finite`);
  return sorted.sort();
}

/**
 * Starting centroids (ascending) for k clusters of the sorted values: 'linear' spaces them evenly from min to max;
 * 'density' places them at evenly spaced quantiles ((i + 1/2)/k of the CDF), so dense regions get more; 'random'
 * takes k distinct values chosen by a seeded generator (Forgy).
 */
export function initialCentroids(sorted: Float64Array, k: number, init: KMeansInit = 'linear', seed = 0): Float64Array {
  const n = sorted.length;
  if (!n) return new Float64Array(0);
  const lo = sorted[0]!, hi = sorted[n - 1]!;
  const out = new Float64Array(k);
  switch (init) {
    case 'linear':
      for (let i = 0; i < k; i++) out[i] = k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (k - 1);
      return out;
    case 'density':
      for (let i = 0; i < k; i++) out[i] = sorted[Math.min(n - 1, Math.floor(((i + 0.5) * n) / k))]!;
      return out;
    case 'random': {
      // Floyd's sampling of min(k, n) distinct positions; with k > n some positions repeat (empty clusters, dropped).
      const random = seededRandom(seed);
      const picked = new Set<number>();
      const m = Math.min(k, n);
      for (let j = n - m; j < n; j++) {
        const t = Math.floor(random() * (j + 1));
        picked.add(picked.has(t) ? j : t);
      }
      const positions = [...picked];
      for (let i = 0; i < k; i++) out[i] = sorted[positions[i % m]!]!;
      return out.sort();
    }
    default:
      throw new KMeansError(`unknown k-means initialization '${String(init)}' (use ${KMEANS_INITS.join(', ')})`);
  }
}

/** First position in sorted[from..to) whose value is >= x. */
function lowerBound(sorted: Float64Array, x: number, from = 0, to = sorted.length): number {
  let lo = from, hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Midpoints between neighbouring ascending centroids: value v belongs to cluster j when mid[j-1] <= v < mid[j]. */
function midpoints(centroids: ArrayLike<number>): Float64Array {
  const mid = new Float64Array(Math.max(0, centroids.length - 1));
  for (let j = 0; j < mid.length; j++) mid[j] = (centroids[j]! + centroids[j + 1]!) / 2;
  return mid;
}

/** Index of the nearest of the ascending centroids (ties at a midpoint go to the larger centroid), by binary search. */
function nearest(mid: Float64Array, v: number): number {
  let lo = 0, hi = mid.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (mid[m]! <= v) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** For each value, the index of its nearest centroid (centroids ascending). */
export function assignToCentroids(values: ArrayLike<number>, centroids: ArrayLike<number>): Int32Array {
  const mid = midpoints(centroids);
  const out = new Int32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = nearest(mid, values[i]!);
  return out;
}

/** Sum of squared errors when each value is replaced by its nearest centroid (centroids ascending). */
export function quantizationError(values: ArrayLike<number>, centroids: ArrayLike<number>): number {
  if (!centroids.length) return values.length ? Infinity : 0;
  const mid = midpoints(centroids);
  let sse = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i]! - centroids[nearest(mid, values[i]!)]!;
    sse += d * d;
  }
  return sse;
}

/** Run boundaries of the sorted values under the centroids: cluster j holds sorted[bounds[j]..bounds[j+1]). */
function runBounds(sorted: Float64Array, centroids: Float64Array, bounds: Int32Array): void {
  const k = centroids.length;
  bounds[0] = 0;
  bounds[k] = sorted.length;
  for (let j = 1; j < k; j++) bounds[j] = lowerBound(sorted, (centroids[j - 1]! + centroids[j]!) / 2, bounds[j - 1]!);
}

/** Centroids after Lloyd's algorithm from the given start (in place); returns the iterations run. */
function lloyd(sorted: Float64Array, centroids: Float64Array, maxIterations: number): number {
  const k = centroids.length;
  const prefix = new Float64Array(sorted.length + 1);
  for (let i = 0; i < sorted.length; i++) prefix[i + 1] = prefix[i]! + sorted[i]!;
  let bounds = new Int32Array(k + 1), previous = new Int32Array(k + 1).fill(-1);
  let iterations = 0;
  while (iterations < maxIterations) {
    runBounds(sorted, centroids, bounds);
    if (bounds.every((b, j) => b === previous[j])) break; // no value changed cluster: the means are final
    iterations++;
    // Means of non-empty runs; an empty cluster keeps its centroid (it stays between its neighbours, so order holds).
    for (let j = 0; j < k; j++) {
      const count = bounds[j + 1]! - bounds[j]!;
      if (count > 0) centroids[j] = (prefix[bounds[j + 1]!]! - prefix[bounds[j]!]!) / count;
    }
    [bounds, previous] = [previous, bounds];
  }
  return iterations;
}

/** Float32 centroids of non-empty clusters, ascending, without repeats. */
function usedCentroids(sorted: Float64Array, centroids: Float64Array): Float32Array {
  const bounds = new Int32Array(centroids.length + 1);
  runBounds(sorted, centroids, bounds);
  const kept: number[] = [];
  for (let j = 0; j < centroids.length; j++) {
    if (bounds[j + 1]! === bounds[j]!) continue;
    const c = Math.fround(centroids[j]!);
    if (kept.length && kept[kept.length - 1] === c) continue;
    kept.push(c);
  }
  return Float32Array.from(kept);
}

/**
 * Clusters the values into at most k groups (1 <= k <= 65536) by 1-D k-means. The result never has a larger sum of
 * squared errors than its initial centroids: Lloyd's iterations cannot increase it, and should rounding the centroids
 * to float32 ever undo a gain smaller than that rounding, the initial centroids are returned instead.
 */
export function kmeans1d(values: ArrayLike<number>, k: number, options: KMeansOptions = {}): KMeansResult {
  if (!Number.isInteger(k) || k < 1 || k > 65536) throw new KMeansError(`k-means: the number of clusters must be a whole number from 1 to 65536, not ${k}`);
  const init = options.init ?? 'linear';
  if (!KMEANS_INITS.includes(init)) throw new KMeansError(`unknown k-means initialization '${String(init)}' (use ${KMEANS_INITS.join(', ')})`);
  const maxIterations = options.maxIterations ?? 1000;
  if (!Number.isInteger(maxIterations) || maxIterations < 0) throw new KMeansError(`k-means: maxIterations must be a whole number >= 0, not ${maxIterations}`);
  const sorted = sortedValues(values);
  if (!sorted.length) return { centroids: new Float32Array(0), assignments: new Int32Array(0), iterations: 0, initialError: 0, error: 0 };
  const start = initialCentroids(sorted, k, init, options.seed ?? 0);
  const startUsed = usedCentroids(sorted, start);
  const initialError = quantizationError(sorted, startUsed);
  const centroids = Float64Array.from(start);
  const iterations = lloyd(sorted, centroids, maxIterations);
  let result = usedCentroids(sorted, centroids);
  let error = quantizationError(sorted, result);
  if (error > initialError) { result = startUsed; error = initialError; }
  return { centroids: result, assignments: assignToCentroids(values, result), iterations, initialError, error };
}
