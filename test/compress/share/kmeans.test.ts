import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NnzipError } from '../../../src/core/errors.js';
import { seededRandom } from '../../../src/runtime/inputs.js';
import { assignToCentroids, initialCentroids, kmeans1d, quantizationError } from '../../../src/compress/share/kmeans.js';

/** Seeded samples from several distributions, heavy-tailed and pruned ones included. */
function sample(kind: string, n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case 'uniform': out[i] = r() * 2 - 1; break;
      case 'normal': out[i] = 0.05 * normal(); break;
      case 'laplace': { const u = r() - 0.5; out[i] = -0.1 * Math.sign(u) * Math.log(1 - 2 * Math.abs(u)); break; }
      case 'cauchy': out[i] = Math.tan(Math.PI * (r() - 0.5)) * 0.01; break; // very heavy tails
      case 'student3': { const z = normal(); const chi = normal() ** 2 + normal() ** 2 + normal() ** 2; out[i] = z / Math.sqrt(chi / 3); break; }
      case 'bimodal': out[i] = (r() < 0.5 ? -1 : 1) + 0.1 * normal(); break;
      case 'pruned': { const v = 0.05 * normal(); out[i] = Math.abs(v) < 0.08 ? 0 : v; break; } // about 90% zeros
      case 'pruned-nonzeros': { let v = 0; while (Math.abs(v) < 0.08) v = 0.05 * normal(); out[i] = v; break; } // the gap around zero
      case 'few-values': out[i] = [-0.5, 0, 0.25, 3][Math.floor(r() * 4)]!; break;
      default: throw new Error(kind);
    }
  }
  return out;
}

/** The linear initialization as the paper defines it, computed here independently: k points evenly from min to max. */
function linearStart(values: Float32Array, k: number): number[] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return Array.from({ length: k }, (_, i) => Math.fround(k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (k - 1)));
}

/** Sum of squared errors to the nearest centroid, by scanning every centroid. */
function bruteError(values: ArrayLike<number>, centroids: ArrayLike<number>): number {
  let sse = 0;
  for (let i = 0; i < values.length; i++) {
    let best = Infinity;
    for (let j = 0; j < centroids.length; j++) best = Math.min(best, (values[i]! - centroids[j]!) ** 2);
    sse += best;
  }
  return sse;
}

/** Textbook Lloyd: O(n·k) assignment by distance (ties to the larger centroid), empty clusters keep their centroid. */
function naiveLloyd(values: Float32Array, start: number[]): number[] {
  const c = [...start];
  let assign = new Int32Array(values.length).fill(-1);
  for (let it = 0; it < 1000; it++) {
    const next = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      let best = 0;
      for (let j = 1; j < c.length; j++) if (Math.abs(values[i]! - c[j]!) <= Math.abs(values[i]! - c[best]!)) best = j;
      next[i] = best;
    }
    if (next.every((a, i) => a === assign[i])) break;
    assign = next;
    const sums = new Float64Array(c.length), counts = new Float64Array(c.length);
    for (let i = 0; i < values.length; i++) { sums[assign[i]!] += values[i]!; counts[assign[i]!]++; }
    for (let j = 0; j < c.length; j++) if (counts[j]) c[j] = sums[j]! / counts[j]!;
  }
  const used = new Set(assign);
  return c.filter((_, j) => used.has(j)).map((v) => Math.fround(v));
}

const KINDS = ['uniform', 'normal', 'laplace', 'cauchy', 'student3', 'bimodal', 'pruned', 'pruned-nonzeros', 'few-values'];

test('k-means never increases the quantization error of its linear initialization (property over seeded vectors)', () => {
  let cases = 0, improved = 0;
  for (const kind of KINDS) {
    for (let seed = 1; seed <= 12; seed++) {
      const n = [7, 100, 1000, 5000][seed % 4]!;
      const values = sample(kind, n, seed * 7919);
      for (const k of [1, 2, 3, 4, 8, 16, 32, 64]) {
        const start = linearStart(values, k);
        const before = bruteError(values, start);
        const r = kmeans1d(values, k, { init: 'linear' });
        const after = bruteError(values, r.centroids);
        assert.ok(after <= before, `${kind} seed ${seed} n ${n} k ${k}: error ${after} > linear start ${before}`);
        assert.ok(Math.abs(after - r.error) <= 1e-9 * Math.max(1, after), `${kind}: reported error ${r.error}, recomputed ${after}`);
        assert.ok(r.centroids.length <= k);
        for (let j = 1; j < r.centroids.length; j++) assert.ok(r.centroids[j]! > r.centroids[j - 1]!, 'centroids ascend, no repeats');
        cases++;
        if (after < before * (1 - 1e-6)) improved++;
      }
    }
  }
  // Not a vacuous property: Lloyd's iterations do lower the error in most cases.
  assert.ok(improved > cases * 0.6, `k-means improved on the linear start in ${improved} of ${cases} cases`);
});

test('the sorted, binary-search Lloyd gives the textbook algorithm\'s centroids', () => {
  for (const kind of ['normal', 'laplace', 'bimodal', 'pruned-nonzeros', 'student3']) {
    for (const k of [2, 5, 16]) {
      const values = sample(kind, 800, k * 31);
      for (const init of ['linear', 'density', 'random'] as const) {
        const sorted = Float64Array.from(values).sort();
        const start = [...initialCentroids(sorted, k, init, 9)];
        const expected = naiveLloyd(values, start);
        const r = kmeans1d(values, k, { init, seed: 9 });
        assert.equal(r.centroids.length, expected.length, `${kind} k ${k} ${init}`);
        for (let j = 0; j < expected.length; j++) {
          assert.ok(Math.abs(r.centroids[j]! - expected[j]!) <= 1e-6 * Math.max(1, Math.abs(expected[j]!)), `${kind} k ${k} ${init}: centroid ${j} ${r.centroids[j]} vs ${expected[j]}`);
        }
      }
    }
  }
});

test('hand-computed clusters, assignments and errors', () => {
  const values = Float32Array.from([3, 11, 1, 12, 2, 10]);
  const r = kmeans1d(values, 2);
  // linear start [1, 12], midpoint 6.5: {1,2,3} and {10,11,12}
  assert.deepEqual([...r.centroids], [2, 11]);
  assert.deepEqual([...r.assignments], [0, 1, 0, 1, 0, 1]);
  assert.equal(r.error, 4);
  assert.equal(r.initialError, 4 + 1 + 0 + 0 + 1 + 4); // to [1, 12]: 3->1, 11->12, 1, 12, 2->1, 10->12
  assert.equal(r.iterations, 1);
  assert.deepEqual([...assignToCentroids([0, 6.5, 6.4, 100], [2, 11])], [0, 1, 0, 1]);
  assert.equal(quantizationError([0, 6.5], [2, 11]), 4 + 4.5 ** 2);
  // One cluster: the mean.
  assert.deepEqual([...kmeans1d(values, 1).centroids], [39 / 6].map(Math.fround));
  // More clusters than distinct values: each value its own centroid, error 0, empty clusters dropped.
  const few = kmeans1d([5, 5, 7, 7, 7], 4);
  assert.deepEqual([...few.centroids], [5, 7]);
  assert.equal(few.error, 0);
});

test('initializations: linear spans min..max, density follows the quantiles, random draws seeded values from the data', () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i * i); // dense near 0
  assert.deepEqual([...initialCentroids(sorted, 3, 'linear')], [0, 9801 / 2, 9801]);
  // quantiles at 1/8, 3/8, 5/8, 7/8 of 100 values: positions 12, 37, 62, 87
  assert.deepEqual([...initialCentroids(sorted, 4, 'density')], [144, 1369, 3844, 7569]);
  const a = [...initialCentroids(sorted, 6, 'random', 3)];
  assert.deepEqual(a, [...initialCentroids(sorted, 6, 'random', 3)], 'same seed, same start');
  assert.notDeepEqual(a, [...initialCentroids(sorted, 6, 'random', 4)]);
  assert.equal(new Set(a).size, 6, 'distinct positions');
  for (const c of a) assert.ok(sorted.includes(c));
  for (let j = 1; j < a.length; j++) assert.ok(a[j]! > a[j - 1]!);
});

test('fast on large vectors: 1M weights into 256 clusters', () => {
  const values = sample('laplace', 1_000_000, 5);
  const t0 = performance.now();
  const r = kmeans1d(values, 256, { init: 'density' });
  const ms = performance.now() - t0;
  assert.equal(r.assignments.length, values.length);
  assert.ok(r.error < r.initialError);
  assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
  console.log(`# k-means: 1M values, k 256: ${ms.toFixed(0)} ms, ${r.iterations} iterations`);
});

test('bad input: one-line errors', () => {
  assert.throws(() => kmeans1d([1, 2], 0), (e: Error) => e instanceof NnzipError && /1 to 65536, not 0/.test(e.message));
  assert.throws(() => kmeans1d([1, 2], 1.5), /not 1.5/);
  assert.throws(() => kmeans1d([1, NaN], 2), /value NaN at position 1 is not finite/);
  assert.throws(() => kmeans1d([1, 2], 2, { init: 'kmeans++' as 'linear' }), /unknown k-means initialization 'kmeans\+\+'/);
  assert.deepEqual(kmeans1d([], 4).centroids.length, 0);
});
