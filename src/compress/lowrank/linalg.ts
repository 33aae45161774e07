// Dense linear algebra for low-rank factorization, in plain TypeScript on Float64Array (isomorphic, no native code):
// the symmetric eigen-decomposition (Householder tridiagonalization, then implicit QL with Wilkinson-style shifts, as
// EISPACK's tred2/tql2) and the SVD built on it through the smaller Gram matrix. Layer weights are at most a few
// thousand wide, so the Gram matrix route (one n^3 eigenproblem on the smaller side) is the fast one; it resolves
// singular values down to about 1e-8 of the largest, far below anything a truncation keeps.

/** A row-major dense matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrix(rows: number, cols: number, data: Float64Array = new Float64Array(rows * cols)): Matrix {
  if (data.length !== rows * cols) throw new RangeError(`matrix ${rows}x${cols} needs ${rows * cols} values, got ${data.length}`);
  return { rows, cols, data };
}

export function transpose(a: Matrix): Matrix {
  const out = new Float64Array(a.data.length);
  const { rows, cols, data } = a;
  // Tiles keep both the reads and the writes within a few cache lines.
  const tile = 32;
  for (let i0 = 0; i0 < rows; i0 += tile) {
    const i1 = Math.min(rows, i0 + tile);
    for (let j0 = 0; j0 < cols; j0 += tile) {
      const j1 = Math.min(cols, j0 + tile);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = data[i * cols + j]!;
    }
  }
  return matrix(cols, rows, out);
}

/** a·b. */
export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const m = a.rows, k = a.cols, n = b.cols;
  const out = new Float64Array(m * n);
  const A = a.data, B = b.data;
  // i-k-j order: the inner loop runs along contiguous rows of b and of the output.
  for (let i = 0; i < m; i++) {
    const o = i * n;
    for (let p = 0; p < k; p++) {
      const s = A[i * k + p]!;
      if (s === 0) continue;
      const r = p * n;
      for (let j = 0; j < n; j++) out[o + j] += s * B[r + j]!;
    }
  }
  return matrix(m, n, out);
}

/**
 * a·bᵀ (a: p x q, b: r x q), as dot products of contiguous rows. Tiles of rows of both stay in cache while 2x2 blocks
 * of dot products run over them, so that every load feeds two multiply-adds. With `upperOnly` (a and b the same
 * matrix) only the upper triangle is computed and the rest is left zero.
 */
export function multiplyTransposed(a: Matrix, b: Matrix, upperOnly = false): Matrix {
  if (a.cols !== b.cols) throw new RangeError(`cannot multiply ${a.rows}x${a.cols} by the transpose of ${b.rows}x${b.cols}`);
  const p = a.rows, r = b.rows, len = a.cols, x = a.data, y = b.data;
  const out = new Float64Array(p * r);
  // Two tiles of `tile` rows in about 512 KiB (half of L2).
  const tile = Math.max(2, Math.min(64, 2 * Math.floor(16384 / Math.max(1, len))));
  for (let i0 = 0; i0 < p; i0 += tile) {
    const i1 = Math.min(p, i0 + tile);
    for (let j0 = upperOnly ? i0 : 0; j0 < r; j0 += tile) {
      const j1 = Math.min(r, j0 + tile);
      let i = i0;
      for (; i + 1 < i1; i += 2) {
        const r0 = i * len, r1 = r0 + len;
        let j = upperOnly ? Math.max(j0, i) : j0;
        for (; j + 1 < j1; j += 2) {
          const s0 = j * len, s1 = s0 + len;
          let a00 = 0, a01 = 0, a10 = 0, a11 = 0;
          for (let t = 0; t < len; t++) {
            const u0 = x[r0 + t]!, u1 = x[r1 + t]!, v0 = y[s0 + t]!, v1 = y[s1 + t]!;
            a00 += u0 * v0; a01 += u0 * v1; a10 += u1 * v0; a11 += u1 * v1;
          }
          out[i * r + j] = a00; out[i * r + j + 1] = a01; out[(i + 1) * r + j + 1] = a11;
          if (!upperOnly || j > i) out[(i + 1) * r + j] = a10;
        }
        if (j < j1) {
          const s0 = j * len;
          let a0 = 0, a1 = 0;
          for (let t = 0; t < len; t++) { const v = y[s0 + t]!; a0 += x[r0 + t]! * v; a1 += x[r1 + t]! * v; }
          out[i * r + j] = a0;
          if (!upperOnly || j > i) out[(i + 1) * r + j] = a1;
        }
      }
      for (; i < i1; i++) {
        const r0 = i * len;
        for (let j = upperOnly ? Math.max(j0, i) : j0; j < j1; j++) {
          const s0 = j * len;
          let acc = 0;
          for (let t = 0; t < len; t++) acc += x[r0 + t]! * y[s0 + t]!;
          out[i * r + j] = acc;
        }
      }
    }
  }
  return matrix(p, r, out);
}

/** The Gram matrix of the rows of a (a·aᵀ, rows x rows), upper triangle only (the lower part is left zero). */
export function rowGram(a: Matrix): Matrix {
  return multiplyTransposed(a, a, true);
}

/** Squared Frobenius norm. */
export function frobeniusSquared(a: Matrix): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * a.data[i]!;
  return s;
}

function hypot(a: number, b: number): number {
  const x = Math.abs(a), y = Math.abs(b);
  if (x > y) { const r = y / x; return x * Math.sqrt(1 + r * r); }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

interface Tridiagonal {
  n: number;
  /** Diagonal. */
  d: Float64Array;
  /** e[i] = T[i][i+1]; e[n-1] = 0. */
  e: Float64Array;
  /** Householder vectors: reflector k (k = 0..n-3) acts on entries k+1..n-1, its vector stored in row k of `store`. */
  store: Float64Array;
  beta: Float64Array;
}

/**
 * Householder reduction of a symmetric matrix (read from its upper triangle; `a` is overwritten) to tridiagonal T = Qᵀ
 * A Q with Q = H_0 H_1 ... H_{n-3}. Only the upper triangle is updated, row by row, so every inner loop is contiguous.
 */
function tridiagonalize(a: Float64Array, n: number): Tridiagonal {
  const d = new Float64Array(n), e = new Float64Array(n), beta = new Float64Array(Math.max(0, n - 2));
  const p = new Float64Array(n), w = new Float64Array(n);
  for (let k = 0; k + 2 < n; k++) {
    const row = k * n;
    d[k] = a[row + k]!;
    // x = A[k][k+1..n-1]; reflect it onto alpha·e1.
    let tail = 0;
    for (let j = k + 2; j < n; j++) tail += a[row + j]! * a[row + j]!;
    const x0 = a[row + k + 1]!;
    if (tail === 0) { e[k] = x0; beta[k] = 0; continue; }
    const norm = Math.sqrt(x0 * x0 + tail);
    const alpha = x0 > 0 ? -norm : norm;
    a[row + k + 1] = x0 - alpha; // v = x - alpha e1, kept in place of x
    const vv = (x0 - alpha) * (x0 - alpha) + tail;
    const b = 2 / vv;
    beta[k] = b;
    e[k] = alpha;
    // p = b · S v over the trailing block S = A[k+1.., k+1..], from its upper triangle.
    const lo = k + 1;
    p.fill(0, lo, n);
    for (let i = lo; i < n; i++) {
      const r = i * n, vi = a[row + i]!;
      let acc = a[r + i]! * vi;
      for (let j = i + 1; j < n; j++) {
        const s = a[r + j]!;
        acc += s * a[row + j]!;
        p[j] += s * vi;
      }
      p[i] += acc;
    }
    let pv = 0;
    for (let i = lo; i < n; i++) { p[i] *= b; pv += p[i]! * a[row + i]!; }
    const kk = (b * pv) / 2;
    for (let i = lo; i < n; i++) w[i] = p[i]! - kk * a[row + i]!;
    // S -= v wᵀ + w vᵀ (upper triangle).
    for (let i = lo; i < n; i++) {
      const r = i * n, vi = a[row + i]!, wi = w[i]!;
      for (let j = i; j < n; j++) a[r + j] -= vi * w[j]! + wi * a[row + j]!;
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2]!;
    e[n - 2] = a[(n - 2) * n + n - 1]!;
  }
  if (n >= 1) d[n - 1] = a[n * n - 1]!;
  return { n, d, e, store: a, beta };
}

/** Reflectors per block of the compact WY form in backTransform. */
const WY_BLOCK = 32;

/**
 * Applies Q = H_0 ... H_{n-3} to each row of `z` (count x n), in place: y = Q z. Reflectors go in blocks of the
 * compact WY form, H_k0 ... H_k1-1 = I - V T Vᵀ, so the work is two products with 2x2-blocked dot products instead
 * of one dot and one axpy per reflector and vector.
 */
function backTransform(t: Tridiagonal, z: Float64Array, count: number): void {
  const { n, store, beta } = t;
  const reflectors = n - 2;
  if (reflectors <= 0 || count === 0) return;
  const lastBlock = Math.floor((reflectors - 1) / WY_BLOCK) * WY_BLOCK;
  const vt = new Float64Array(WY_BLOCK * n); // block's vectors as rows (zero outside their support)
  const v = new Float64Array(n * WY_BLOCK); // and as columns
  const tm = new Float64Array(WY_BLOCK * WY_BLOCK);
  const w = new Float64Array(count * WY_BLOCK);
  const w2 = new Float64Array(count * WY_BLOCK);
  for (let k0 = lastBlock; k0 >= 0; k0 -= WY_BLOCK) {
    const b = Math.min(WY_BLOCK, reflectors - k0);
    const lo = k0 + 1; // first entry any reflector of the block touches
    vt.fill(0);
    for (let q = 0; q < b; q++) {
      const k = k0 + q;
      if (beta[k] === 0) continue;
      for (let j = k + 1; j < n; j++) vt[q * n + j] = store[k * n + j]!;
    }
    for (let j = lo; j < n; j++) for (let q = 0; q < b; q++) v[j * WY_BLOCK + q] = vt[q * n + j]!;
    // T (upper triangular, b x b): T[j][j] = beta_j, T[0:j, j] = -beta_j T[0:j, 0:j] (V[:, 0:j]ᵀ v_j).
    tm.fill(0);
    const dots = new Float64Array(b);
    for (let j = 0; j < b; j++) {
      const bj = beta[k0 + j]!;
      tm[j * WY_BLOCK + j] = bj;
      if (bj === 0 || j === 0) continue;
      for (let p = 0; p < j; p++) {
        let acc = 0;
        for (let x = k0 + j + 1; x < n; x++) acc += vt[p * n + x]! * vt[j * n + x]!;
        dots[p] = acc;
      }
      for (let p = 0; p < j; p++) {
        let acc = 0;
        for (let q = p; q < j; q++) acc += tm[p * WY_BLOCK + q]! * dots[q]!;
        tm[p * WY_BLOCK + j] = -bj * acc;
      }
    }
    // W = Z V (count x b): rows of Z against rows of Vᵀ from `lo` on, two of each at a time (b is even or 1).
    for (let c = 0; c < count; c++) {
      const o = c * n;
      let q = 0;
      for (; q + 1 < b; q += 2) {
        const r0 = q * n, r1 = r0 + n;
        let s0 = 0, s1 = 0;
        for (let j = lo; j < n; j++) { const x = z[o + j]!; s0 += x * vt[r0 + j]!; s1 += x * vt[r1 + j]!; }
        w[c * WY_BLOCK + q] = s0;
        w[c * WY_BLOCK + q + 1] = s1;
      }
      for (; q < b; q++) {
        const r = q * n;
        let acc = 0;
        for (let j = lo; j < n; j++) acc += z[o + j]! * vt[r + j]!;
        w[c * WY_BLOCK + q] = acc;
      }
    }
    // W2 = W Tᵀ.
    for (let c = 0; c < count; c++) {
      for (let q = 0; q < b; q++) {
        let acc = 0;
        for (let p = q; p < b; p++) acc += w[c * WY_BLOCK + p]! * tm[q * WY_BLOCK + p]!;
        w2[c * WY_BLOCK + q] = acc;
      }
    }
    // Z -= W2 Vᵀ: entry (c, j) less the dot of W2's row c and V's row j, two rows of each at a time.
    let c = 0;
    for (; c + 1 < count; c += 2) {
      const o0 = c * n, o1 = o0 + n, a0 = c * WY_BLOCK, a1 = a0 + WY_BLOCK;
      let j = lo;
      for (; j + 1 < n; j += 2) {
        const r0 = j * WY_BLOCK, r1 = r0 + WY_BLOCK;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let q = 0; q < b; q++) {
          const x0 = w2[a0 + q]!, x1 = w2[a1 + q]!, y0 = v[r0 + q]!, y1 = v[r1 + q]!;
          s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
        }
        z[o0 + j] -= s00; z[o0 + j + 1] -= s01; z[o1 + j] -= s10; z[o1 + j + 1] -= s11;
      }
      for (; j < n; j++) {
        let s0 = 0, s1 = 0;
        for (let q = 0; q < b; q++) { const y = v[j * WY_BLOCK + q]!; s0 += w2[a0 + q]! * y; s1 += w2[a1 + q]! * y; }
        z[o0 + j] -= s0; z[o1 + j] -= s1;
      }
    }
    for (; c < count; c++) {
      const o = c * n, a = c * WY_BLOCK;
      for (let j = lo; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < b; q++) acc += w2[a + q]! * v[j * WY_BLOCK + q]!;
        z[o + j] -= acc;
      }
    }
  }
}

/** Givens rotations in the order they were made: rotation r combines rows index[r] and index[r] + 1. */
class Rotations {
  index = new Int32Array(1024);
  cos = new Float64Array(1024);
  sin = new Float64Array(1024);
  length = 0;

  push(i: number, c: number, s: number): void {
    if (this.length === this.index.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => { const b = new (a.constructor as new (n: number) => T)(a.length * 2); b.set(a); return b; };
      this.index = grow(this.index); this.cos = grow(this.cos); this.sin = grow(this.sin);
    }
    this.index[this.length] = i; this.cos[this.length] = c; this.sin[this.length] = s;
    this.length++;
  }

  /**
   * The columns `columns` of Z = G_1 G_2 ... G_R (the rotations applied to the identity from the right, as QL
   * accumulates them), as rows of a (columns.length x n) matrix. Z·P = G_1 (G_2 (... (G_R P))): starting from the
   * selected columns of the identity and rotating rows in reverse order costs R·count instead of R·n.
   */
  columnsOfProduct(n: number, columns: readonly number[]): Float64Array {
    const count = columns.length;
    const y = new Float64Array(n * count); // n x count, rows contiguous
    columns.forEach((col, c) => { y[col * count + c] = 1; });
    const { index, cos, sin } = this;
    // Column chunks keep their part of y in cache (the rotations do not depend on y).
    const chunk = 64;
    for (let k0 = 0; k0 < count; k0 += chunk) {
      const k1 = Math.min(count, k0 + chunk);
      for (let r = this.length - 1; r >= 0; r--) {
        const ri = index[r]! * count, rj = ri + count, c = cos[r]!, s = sin[r]!;
        // G acts on rows i, i+1 as [[c, s], [-s, c]]; two columns per pass.
        let k = k0;
        for (; k + 1 < k1; k += 2) {
          const yi0 = y[ri + k]!, yj0 = y[rj + k]!, yi1 = y[ri + k + 1]!, yj1 = y[rj + k + 1]!;
          y[ri + k] = c * yi0 + s * yj0;
          y[rj + k] = c * yj0 - s * yi0;
          y[ri + k + 1] = c * yi1 + s * yj1;
          y[rj + k + 1] = c * yj1 - s * yi1;
        }
        if (k < k1) {
          const yi = y[ri + k]!, yj = y[rj + k]!;
          y[ri + k] = c * yi + s * yj;
          y[rj + k] = c * yj - s * yi;
        }
      }
    }
    return transpose(matrix(n, count, y)).data;
  }
}

const EPS = 2 ** -52;
const MAX_QL_ITERATIONS = 60;

/**
 * Implicit QL on a symmetric tridiagonal matrix (d, e as in Tridiagonal; both overwritten, d becomes the
 * eigenvalues). With `rotations`, records the Givens rotations that, applied to the identity (row i = column i of
 * Z), leave row i as the eigenvector of d[i].
 */
function tridiagonalQl(d: Float64Array, e: Float64Array, rotations: Rotations | null): void {
  const n = d.length;
  let f = 0, tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > EPS * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > MAX_QL_ITERATIONS) throw new Error(`symmetric eigen-decomposition did not converge (eigenvalue ${l} of ${n})`);
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m]!;
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          rotations?.push(i, c, s);
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > EPS * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}

export interface Eigen {
  /** All n eigenvalues, largest first. */
  values: Float64Array;
  /** The eigenvectors of the first `count` values, one per row (count x n), orthonormal. */
  vectors: Matrix;
}

/** How many vectors to compute: a number, or a choice made from all the values (largest first). */
export type VectorCount = number | ((values: Float64Array) => number);

/**
 * Eigenvalues (all) and the eigenvectors of the `count` largest (default all) of a symmetric matrix, read from its
 * upper triangle. `count` may be chosen from the eigenvalues, which come first and cheaply (the tridiagonal QL
 * without vectors is O(n²)); the vectors cost O(n²·count) on top of the O(n³) reduction. The input is not modified.
 */
export function symmetricEigen(a: Matrix, count: VectorCount = a.rows): Eigen {
  const n = a.rows;
  if (a.cols !== n) throw new RangeError(`symmetricEigen needs a square matrix, got ${a.rows}x${a.cols}`);
  const t = tridiagonalize(Float64Array.from(a.data), n);
  const d = Float64Array.from(t.d), e = Float64Array.from(t.e);
  const rotations = new Rotations();
  tridiagonalQl(d, e, rotations);
  const order = Array.from(d.keys()).sort((x, y) => d[y]! - d[x]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  const wanted = Math.max(0, Math.min(n, Math.floor(typeof count === 'function' ? count(values) : count)));
  const vectors = wanted > 0 ? rotations.columnsOfProduct(n, order.slice(0, wanted)) : new Float64Array(0);
  backTransform(t, vectors, wanted);
  return { values, vectors: matrix(wanted, n, vectors) };
}

export interface Svd {
  /** All min(rows, cols) singular values, largest first. */
  values: Float64Array;
  /** Left singular vectors of the first `rank` values, one per column (rows x rank). */
  u: Matrix;
  /** Right singular vectors, one per column (cols x rank). */
  v: Matrix;
}

/** Below this fraction of the largest singular value, A·v/σ says little about u: it is orthonormalized instead. */
const RESOLVED = 1e-6;

/**
 * Singular value decomposition A ≈ U diag(values) Vᵀ truncated to `rank` vectors (default min(rows, cols); or chosen
 * from all the singular values by a function), through the eigen-decomposition of the smaller Gram matrix. Singular
 * vectors are orthonormal; for singular values too small to resolve (under 1e-6 of the largest, zeros included) the
 * other side is completed to an orthonormal set.
 */
export function svd(a: Matrix, rank: VectorCount = Math.min(a.rows, a.cols)): Svd {
  const wide = a.cols > a.rows;
  // Work on B with rows <= cols: B = A (wide) or Aᵀ; the eigenvectors of B·Bᵀ are B's left singular vectors.
  const b = wide ? a : transpose(a);
  const large = b.cols;
  const singular = (eigenvalues: Float64Array) => Float64Array.from(eigenvalues, (l) => Math.sqrt(Math.max(0, l)));
  const eig = symmetricEigen(rowGram(b), typeof rank === 'function' ? (l) => rank(singular(l)) : rank);
  const values = singular(eig.values);
  const count = eig.vectors.rows;
  // The other side: row c of `other` = Bᵀ x_c / σ_c, i.e. other = X·B = X·(Bᵀ)ᵀ.
  const other = multiplyTransposed(eig.vectors, wide ? transpose(a) : a).data;
  for (let c = 0; c < count; c++) {
    const o = c * large, sigma = values[c]!;
    if (sigma > RESOLVED * values[0]!) for (let j = 0; j < large; j++) other[o + j] /= sigma;
    else completeOrthonormal(other, c, large);
  }
  // Rows of x are B's left vectors (small side), rows of `other` its right vectors (large side).
  const smallSide = transpose(eig.vectors);
  const largeSide = transpose(matrix(count, large, other));
  return wide ? { values, u: smallSide, v: largeSide } : { values, u: largeSide, v: smallSide };
}

/** Replaces row c of `rows` (c x len before it, orthonormal) with a unit vector orthogonal to rows 0..c-1. */
function completeOrthonormal(rows: Float64Array, c: number, len: number): void {
  const o = c * len;
  const orthogonalize = () => {
    for (let pass = 0; pass < 2; pass++) {
      for (let q = 0; q < c; q++) {
        let s = 0;
        for (let j = 0; j < len; j++) s += rows[q * len + j]! * rows[o + j]!;
        for (let j = 0; j < len; j++) rows[o + j] -= s * rows[q * len + j]!;
      }
    }
    let norm = 0;
    for (let j = 0; j < len; j++) norm += rows[o + j]! * rows[o + j]!;
    return Math.sqrt(norm);
  };
  let norm = orthogonalize();
  // Unit vectors in turn: one of any c + 1 of them has a part outside the span of c vectors.
  for (let basis = 0; norm < 0.5 && basis < len; basis++) {
    rows.fill(0, o, o + len);
    rows[o + ((c + basis) % len)] = 1;
    norm = orthogonalize();
  }
  for (let j = 0; j < len; j++) rows[o + j] /= norm;
}

/** The smallest rank whose singular values keep at least `energy` of the sum of squares (energy in (0, 1]). */
export function energyRank(values: ArrayLike<number>, energy: number): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]! * values[i]!;
  if (total === 0) return 1;
  // A relative slack of 1e-12 so that energy 1 stops at the last non-negligible value, not at rounding noise.
  const goal = energy * total * (1 - 1e-12);
  let kept = 0;
  for (let r = 0; r < values.length; r++) {
    kept += values[r]! * values[r]!;
    if (kept >= goal) return r + 1;
  }
  return values.length;
}

/** Fraction of the sum of squared singular values the first `rank` of them hold. */
export function keptEnergy(values: ArrayLike<number>, rank: number): number {
  let total = 0, kept = 0;
  for (let i = 0; i < values.length; i++) {
    const s = values[i]! * values[i]!;
    total += s;
    if (i < rank) kept += s;
  }
  return total === 0 ? 1 : kept / total;
}
