import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Matrix, energyRank, keptEnergy, matrix, multiply, multiplyTransposed, rowGram, svd, symmetricEigen, transpose,
} from '../../../src/compress/lowrank/linalg.js';
import { seededRandom } from '../../../src/runtime/inputs.js';

function random(rows: number, cols: number, seed: number): Matrix {
  const rand = seededRandom(seed);
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}

const maxAbs = (a: Float64Array, b: Float64Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

/** U·diag(values)·Vᵀ from an SVD's first `rank` triplets. */
function reconstruct(s: ReturnType<typeof svd>, rank = s.u.cols): Float64Array {
  const us = matrix(s.u.rows, rank);
  for (let i = 0; i < s.u.rows; i++) for (let c = 0; c < rank; c++) us.data[i * rank + c] = s.u.data[i * s.u.cols + c]! * s.values[c]!;
  const v = matrix(s.v.rows, rank);
  for (let j = 0; j < s.v.rows; j++) for (let c = 0; c < rank; c++) v.data[j * rank + c] = s.v.data[j * s.v.cols + c]!;
  return multiplyTransposed(us, v).data;
}

/** Largest |QᵀQ - I| entry: 0 for orthonormal columns. */
function orthogonalityError(q: Matrix): number {
  const g = multiply(transpose(q), q);
  let worst = 0;
  for (let i = 0; i < q.cols; i++) for (let j = 0; j < q.cols; j++) worst = Math.max(worst, Math.abs(g.data[i * q.cols + j]! - (i === j ? 1 : 0)));
  return worst;
}

test('singular values of hand-computed 2x2, 3x2 and 3x3 matrices', () => {
  // AᵀA = [[25, 20], [20, 25]]: eigenvalues 45 and 5.
  const a = svd(matrix(2, 2, Float64Array.from([3, 0, 4, 5])));
  assert.ok(Math.abs(a.values[0]! - Math.sqrt(45)) < 1e-12 && Math.abs(a.values[1]! - Math.sqrt(5)) < 1e-12, `${a.values}`);
  // AᵀA = [[2, 1], [1, 2]]: eigenvalues 3 and 1.
  const b = svd(matrix(3, 2, Float64Array.from([1, 1, 1, 0, 0, 1])));
  assert.ok(Math.abs(b.values[0]! - Math.sqrt(3)) < 1e-12 && Math.abs(b.values[1]! - 1) < 1e-12, `${b.values}`);
  // A circulant (normal) matrix: singular values are |1 + ω^k| = 2, 1, 1.
  const c = svd(matrix(3, 3, Float64Array.from([1, 1, 0, 0, 1, 1, 1, 0, 1])));
  assert.deepEqual([...c.values].map((x) => Number(x.toFixed(12))), [2, 1, 1]);
  // Signs and order: diag(2, -3, 1) has singular values 3, 2, 1 with u = ±v per column.
  const d = svd(matrix(3, 3, Float64Array.from([2, 0, 0, 0, -3, 0, 0, 0, 1])));
  assert.deepEqual([...d.values].map((x) => Number(x.toFixed(12))), [3, 2, 1]);
  assert.ok(maxAbs(reconstruct(d), Float64Array.from([2, 0, 0, 0, -3, 0, 0, 0, 1])) < 1e-14);
});

test('symmetric eigen-decomposition of a hand-computed tridiagonal and of a dense matrix', () => {
  // [[2,1,0],[1,2,1],[0,1,2]]: eigenvalues 2+√2, 2, 2-√2 with eigenvectors (1, √2, 1)/2, (1, 0, -1)/√2, (1, -√2, 1)/2.
  const e = symmetricEigen(matrix(3, 3, Float64Array.from([2, 1, 0, 1, 2, 1, 0, 1, 2])));
  assert.ok(maxAbs(e.values, Float64Array.from([2 + Math.SQRT2, 2, 2 - Math.SQRT2])) < 1e-14, `${e.values}`);
  const expected = [[0.5, Math.SQRT1_2, 0.5], [Math.SQRT1_2, 0, -Math.SQRT1_2], [0.5, -Math.SQRT1_2, 0.5]];
  expected.forEach((v, i) => {
    const got = e.vectors.data.subarray(i * 3, i * 3 + 3);
    const sign = Math.sign(got[0]!);
    assert.ok(maxAbs(got.map((x) => x * sign), Float64Array.from(v)) < 1e-14, `vector ${i}: ${got}`);
  });
  // Dense random symmetric: A x = λ x for every pair, vectors orthonormal; only the upper triangle is read.
  const n = 70;
  const r = random(n, n, 3);
  const sym = matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym.data[i * n + j] = r.data[Math.min(i, j) * n + Math.max(i, j)]!;
  const upper = matrix(n, n, Float64Array.from(sym.data, (x, k) => (k % n >= Math.floor(k / n) ? x : 0)));
  const f = symmetricEigen(upper, 20);
  assert.equal(f.values.length, n);
  assert.equal(f.vectors.rows, 20);
  for (let i = 1; i < n; i++) assert.ok(f.values[i - 1]! >= f.values[i]!);
  for (let c = 0; c < 20; c++) {
    const x = matrix(n, 1, f.vectors.data.slice(c * n, c * n + n));
    const ax = multiply(sym, x).data;
    assert.ok(maxAbs(ax, x.data.map((v) => v * f.values[c]!)) < 1e-12, `residual of eigenpair ${c}`);
  }
  assert.ok(orthogonalityError(transpose(f.vectors)) < 1e-13);
  // The count may be chosen from the eigenvalues.
  const positive = symmetricEigen(upper, (values) => values.filter((v) => v > 0).length);
  assert.equal(positive.vectors.rows, [...positive.values].filter((v) => v > 0).length);
});

test('random matrices, tall, wide and square: exact reconstruction and orthonormal singular vectors', () => {
  for (const [rows, cols, seed] of [[60, 40, 1], [40, 60, 2], [128, 128, 3], [1, 9, 4], [9, 1, 5]] as const) {
    const a = random(rows, cols, seed);
    const s = svd(a);
    const k = Math.min(rows, cols);
    assert.equal(s.values.length, k);
    assert.deepEqual([s.u.rows, s.u.cols, s.v.rows, s.v.cols], [rows, k, cols, k]);
    for (let i = 1; i < k; i++) assert.ok(s.values[i - 1]! >= s.values[i]!, 'descending');
    assert.ok(maxAbs(reconstruct(s), a.data) < 1e-12, `${rows}x${cols} reconstruction`);
    assert.ok(orthogonalityError(s.u) < 1e-10 && orthogonalityError(s.v) < 1e-10, `${rows}x${cols} orthogonality`);
    // A v_c = σ_c u_c
    const av = multiply(a, s.v).data;
    for (let i = 0; i < rows; i++) for (let c = 0; c < k; c++) assert.ok(Math.abs(av[i * k + c]! - s.values[c]! * s.u.data[i * k + c]!) < 1e-12);
  }
});

test('truncation: Eckart-Young error, energy and low-rank matrices', () => {
  const a = random(90, 70, 7);
  const full = svd(a);
  const t = svd(a, 25);
  assert.equal(t.u.cols, 25);
  assert.ok(maxAbs(t.values, full.values) < 1e-12, 'all values come back whatever the rank');
  // ||A - A_r||_F² = sum of the discarded σ².
  const err = norm(reconstruct(t).map((x, i) => x - a.data[i]!)) ** 2;
  const discarded = full.values.slice(25).reduce((s, x) => s + x * x, 0);
  assert.ok(Math.abs(err - discarded) < 1e-9 * discarded, `${err} vs ${discarded}`);
  assert.ok(Math.abs(keptEnergy(full.values, 25) - (1 - discarded / norm(a.data) ** 2)) < 1e-12);

  // Rank 5 exactly: five non-zero values, and the rank-5 truncation is exact; the other side is completed orthonormal.
  const low = multiply(random(50, 5, 8), random(5, 30, 9));
  const s = svd(low);
  assert.ok(s.values[4]! > 1e-3 && s.values[5]! < 1e-6 * s.values[0]!, `${[...s.values.slice(0, 7)]}`);
  assert.ok(maxAbs(reconstruct(s, 5), low.data) < 1e-12);
  assert.equal(energyRank(s.values, 1), 5);
  assert.ok(orthogonalityError(s.u) < 1e-10 && orthogonalityError(s.v) < 1e-10);
  // All zeros: values zero, vectors still orthonormal.
  const z = svd(matrix(6, 4));
  assert.deepEqual([...z.values], [0, 0, 0, 0]);
  assert.ok(orthogonalityError(z.u) < 1e-14 && orthogonalityError(z.v) < 1e-14);
});

test('energyRank and keptEnergy by hand', () => {
  const values = [3, 2, 1]; // squares 9, 4, 1 of 14
  assert.equal(energyRank(values, 0.6), 1);
  assert.equal(energyRank(values, 9 / 14), 1);
  assert.equal(energyRank(values, 0.7), 2);
  assert.equal(energyRank(values, 0.95), 3);
  assert.equal(energyRank(values, 1), 3);
  assert.equal(keptEnergy(values, 2), 13 / 14);
  assert.equal(energyRank([0, 0], 0.5), 1);
});

test('rowGram and multiplyTransposed agree with a plain product', () => {
  const a = random(37, 29, 11), b = random(23, 29, 12);
  const expected = multiply(a, transpose(b)).data;
  assert.ok(maxAbs(multiplyTransposed(a, b).data, expected) < 1e-13);
  const g = rowGram(a).data, full = multiply(a, transpose(a)).data;
  for (let i = 0; i < 37; i++) for (let j = 0; j < 37; j++) assert.ok(Math.abs(g[i * 37 + j]! - (j >= i ? full[i * 37 + j]! : 0)) < 1e-13);
});

test('a 1024 x 1024 matrix truncated to rank 256 in a few seconds, with the Eckart-Young error', () => {
  const a = random(1024, 1024, 13);
  const started = performance.now();
  const s = svd(a, 256);
  const seconds = (performance.now() - started) / 1000;
  // A 2-core machine shared with other jobs: the bound is loose; about 1.3 s unloaded.
  assert.ok(seconds < 12, `${seconds.toFixed(1)} s`);
  assert.ok(orthogonalityError(s.u) < 1e-9 && orthogonalityError(s.v) < 1e-9);
  const err = norm(reconstruct(s).map((x, i) => x - a.data[i]!)) ** 2;
  const discarded = s.values.slice(256).reduce((acc, x) => acc + x * x, 0);
  assert.ok(Math.abs(err - discarded) < 1e-8 * discarded, `${err} vs ${discarded}`);
});
