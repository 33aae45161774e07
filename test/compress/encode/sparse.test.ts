import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'fflate';
import { DataType, bytesOf, numberToFloat16Bits } from '../../../src/core/dtype.js';
import { NnzFormatError } from '../../../src/compress/encode/errors.js';
import { ByteWriter } from '../../../src/compress/encode/bytes.js';
import { decodeSparse, encodeSparse, planPalette, planSparse, unitStats, unitsView } from '../../../src/compress/encode/sparse.js';
import { NnzEncoding, decodeTensorData, encodeTensorData } from '../../../src/compress/encode/tensor-codec.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Gaps between successive non-zeros (the first from position -1). */
function gapsOf(a: ArrayLike<number>): number[] {
  const gaps: number[] = [];
  let last = -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) { gaps.push(i - last - 1); last = i; }
  return gaps;
}

/** Total Shannon information of a sequence under its empirical distribution, in bits. */
function entropyBits(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let bits = 0;
  for (const c of counts.values()) bits -= c * Math.log2(c / values.length);
  return bits;
}

function roundTrip(bytes: Uint8Array, dataType: DataType, options = {}) {
  const coded = encodeTensorData(bytes, dataType, options);
  const back = decodeTensorData(coded.encoding, coded.payload, dataType, bytes.byteLength, 'test tensor');
  assert.deepEqual(back, new Uint8Array(bytes), `${DataType[dataType]} via encoding ${coded.encoding}`);
  assert.ok(coded.payload.byteLength <= bytes.byteLength, 'never larger than raw');
  return coded;
}

/** Float32 weights of which a fraction `density` is non-zero. */
function prunedFloats(n: number, density: number, seed: number): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length: n }, () => (random() < density ? random() - 0.5 : 0));
}

test('relative indices: gaps, filler entries where a gap overflows, hand-computed', () => {
  // Non-zeros at 3 and 12; with 2-bit gaps (at most 3) the gap of 8 before 12 needs two fillers (at 7 and 11).
  const units = Uint8Array.from({ length: 16 }, (_, i) => (i === 3 ? 5 : i === 12 ? 7 : 0));
  const stats = unitStats(units);
  assert.equal(stats.background, 0);
  assert.equal(stats.backgroundCount, 14);
  const plan = planSparse(units, stats, 1, [2])!;
  assert.equal(plan.gapBits, 2);
  assert.equal(plan.fillers, 2);
  assert.equal(plan.entries, 4);
  const wide = planSparse(units, stats, 1, [4])!;
  assert.equal(wide.fillers, 0, 'a 4-bit gap holds 8');
  assert.equal(wide.entries, 2);
  for (const p of [plan, wide]) {
    const payload = encodeSparse(units, stats, p, 1);
    assert.equal(payload.byteLength, p.bytes, 'the plan predicts the exact size');
    const out = new Uint8Array(16);
    decodeSparse(payload, out, 1, 'test');
    assert.deepEqual(out, units);
  }
  // The chosen width is the cheapest of all widths.
  const best = planSparse(units, stats, 1)!;
  for (let b = 1; b <= 12; b++) assert.ok(best.bytes <= planSparse(units, stats, 1, [b])!.bytes);
});

test('pruned float32 weights: sparse with raw values, the gap width chosen to minimize bytes, fillers on long gaps', () => {
  for (const density of [0.5, 0.1, 0.02, 0.001]) {
    const w = prunedFloats(20000, density, 17);
    const bytes = bytesOf(w);
    const coded = roundTrip(bytes, DataType.FLOAT, { deflate: false });
    assert.equal(coded.encoding, NnzEncoding.SPARSE, `density ${density}`);
    // Too many distinct values for a palette: raw values (a few distinct ones may be cheaper as a palette).
    if (new Set(w).size > 4096) assert.equal(coded.detail.values, 'raw');
    const units = unitsView(bytes, 4);
    const stats = unitStats(units);
    for (let b = 1; b <= 12; b++) assert.ok(coded.payload.byteLength <= planSparse(units, stats, 4, [b])!.bytes, `width ${b} is not cheaper`);
    const nonzeros = w.filter((v) => v !== 0).length;
    // Each non-zero costs its 4 value bytes plus its gap, coded within a few percent of the gaps' entropy.
    const gapBits = entropyBits(gapsOf(w));
    assert.ok(coded.payload.byteLength * 8 < nonzeros * 32 + gapBits * 1.08 + 8 * 128, `density ${density}: ${coded.payload.byteLength} bytes, gap entropy ${(gapBits / 8).toFixed(0)} bytes`);
    if (density === 0.001) {
      // Gaps average 1000: 4-bit gaps (at most 15) need fillers, and still decode exactly.
      const narrow = planSparse(units, stats, 4, [4])!;
      assert.ok(narrow.fillers > nonzeros * 30, `${narrow.fillers} fillers`);
      const out = new Uint32Array(units.length);
      decodeSparse(encodeSparse(units, stats, narrow, 4), out, 4, 'test');
      assert.deepEqual(out, units);
    }
  }
});

test('cluster indices: Huffman-coded palette values, background zeros as gaps', () => {
  const random = rng(23);
  // 5-bit cluster indices of a 90%-pruned layer: index 0 is the zero centroid, the rest skewed.
  const idx = Uint8Array.from({ length: 30000 }, () => (random() < 0.9 ? 0 : 1 + Math.floor(31 * random() ** 2)));
  const coded = roundTrip(idx, DataType.UINT8);
  assert.equal(coded.encoding, NnzEncoding.SPARSE);
  assert.equal(coded.detail.values, 'palette');
  assert.equal(coded.detail.paletteSize, 32);
  // Within a few percent of the entropy of the gaps plus that of the indices (Huffman's cost), plus the tables.
  const bound = entropyBits(gapsOf(idx)) + entropyBits([...idx].filter((v) => v !== 0));
  assert.ok(coded.payload.byteLength * 8 < bound * 1.05 + 8 * 64, `${coded.payload.byteLength * 8} bits vs entropy ${bound.toFixed(0)}`);
  // Dense cluster indices (not pruned): a palette coding, near the entropy of the indices.
  const dense = Uint8Array.from({ length: 30000 }, () => Math.floor(16 * random() ** 2));
  const d = roundTrip(dense, DataType.UINT8);
  assert.equal(d.encoding, NnzEncoding.PALETTE);
  const denseBits = entropyBits([...dense]);
  assert.ok(d.payload.byteLength * 8 < denseBits * 1.03 + 200, `${d.payload.byteLength * 8} bits vs entropy ${denseBits.toFixed(0)}`);
  assert.ok(planPalette(unitStats(dense), 1)!.bytes === d.payload.byteLength);
});

test('every element type round-trips bit-exact: wide, narrow, packed, float16, NaN payloads and -0', () => {
  const random = rng(29);
  const f32 = prunedFloats(1000, 0.3, 31);
  f32[5] = -0; f32[6] = NaN; f32[7] = Infinity;
  new Uint32Array(f32.buffer)[8] = 0x7fc00123; // a NaN with a payload
  roundTrip(bytesOf(f32), DataType.FLOAT);
  roundTrip(bytesOf(BigInt64Array.from({ length: 300 }, (_, i) => BigInt(i % 5 === 0 ? -i * 1e12 : 0))), DataType.INT64);
  roundTrip(bytesOf(Float64Array.from({ length: 300 }, () => (random() < 0.2 ? random() : 0))), DataType.DOUBLE);
  roundTrip(bytesOf(Uint16Array.from({ length: 999 }, () => (random() < 0.3 ? numberToFloat16Bits(random() - 0.5) : 0))), DataType.FLOAT16);
  roundTrip(bytesOf(Int8Array.from({ length: 4096 }, () => Math.round((random() - 0.5) * 60))), DataType.INT8);
  roundTrip(Uint8Array.from({ length: 777 }, () => (random() < 0.5 ? 0 : Math.floor(random() * 256))), DataType.INT4);
  roundTrip(Uint8Array.from({ length: 100 }, () => (random() < 0.5 ? 1 : 0)), DataType.BOOL);
  roundTrip(bytesOf(Int32Array.from({ length: 500 }, (_, i) => i * 7)), DataType.INT32);
  roundTrip(new Uint8Array(0), DataType.FLOAT);
  // Constant tensors (the background everywhere): a few bytes whatever their size.
  const ones = roundTrip(bytesOf(new Float32Array(100000).fill(1)), DataType.FLOAT);
  assert.ok(ones.payload.byteLength < 16, `constant tensor: ${ones.payload.byteLength} bytes`);
  // Incompressible data stays raw.
  const noise = Uint8Array.from({ length: 5000 }, () => Math.floor(random() * 256));
  assert.equal(roundTrip(noise, DataType.UINT8).encoding, NnzEncoding.RAW);
});

test('deflate is used where the other codings do not pay and it does', () => {
  const shape = bytesOf(BigInt64Array.from({ length: 4096 }, (_, i) => BigInt(i % 64)));
  const coded = roundTrip(shape, DataType.INT64);
  assert.ok(coded.payload.byteLength < shape.byteLength / 10);
  const off = roundTrip(shape, DataType.INT64, { deflate: false });
  assert.notEqual(off.encoding, NnzEncoding.DEFLATE);
});

test('corrupt payloads are refused with NnzFormatError: gaps past the tensor, bad code tables, short streams, bad deflate', () => {
  const idx = Uint8Array.from({ length: 200 }, (_, i) => (i % 9 === 0 ? 1 + (i % 5) : 0));
  idx[199] = 3;
  const coded = encodeTensorData(idx, DataType.UINT8, { deflate: false });
  assert.equal(coded.encoding, NnzEncoding.SPARSE);
  // Decoded into a shorter tensor, the gaps run past its end.
  assert.throws(() => decodeTensorData(coded.encoding, coded.payload, DataType.UINT8, 150, 'tensor w'),
    (e: Error) => e instanceof NnzFormatError && /gaps run past the tensor/.test(e.message) && /tensor w/.test(e.message));
  // A hand-built payload whose gap code lengths (1, 1, 1, 1) are over-subscribed: not a prefix code.
  const hostile = new ByteWriter();
  hostile.u8(2).u8(0).u8(0).varint(1); // 2-bit gaps, raw values, background 0, one entry
  hostile.varint(4 * 2).u8(0x11).u8(0x11); // 4 nibbles, all length 1
  hostile.u8(42).u8(0); // the raw value, then the bit stream
  assert.throws(() => decodeTensorData(NnzEncoding.SPARSE, hostile.finish(), DataType.UINT8, 200, 'w'), /over-subscribed, not a prefix code/);
  // The bit stream cut short.
  assert.throws(() => decodeTensorData(coded.encoding, coded.payload.subarray(0, coded.payload.byteLength - 3), DataType.UINT8, 200, 'w'),
    (e: Error) => e instanceof NnzFormatError);
  // Every truncation and every single-byte change either decodes to 200 bytes or is a NnzFormatError.
  for (let cut = 0; cut < coded.payload.byteLength; cut++) {
    assert.throws(() => decodeTensorData(coded.encoding, coded.payload.subarray(0, cut), DataType.UINT8, 200, 'w'), NnzFormatError);
  }
  for (let i = 0; i < coded.payload.byteLength; i++) {
    for (const v of [0, 0xff, coded.payload[i]! ^ 0x10]) {
      const m = coded.payload.slice();
      m[i] = v;
      try {
        assert.equal(decodeTensorData(coded.encoding, m, DataType.UINT8, 200, 'w').byteLength, 200);
      } catch (e) {
        assert.ok(e instanceof NnzFormatError, `byte ${i} = ${v}: ${(e as Error).message}`);
      }
    }
  }
  assert.throws(() => decodeTensorData(NnzEncoding.RAW, new Uint8Array(10), DataType.UINT8, 11, 'w'), NnzFormatError);
  assert.throws(() => decodeTensorData(NnzEncoding.DEFLATE, Uint8Array.of(1, 2, 3), DataType.UINT8, 10, 'w'), NnzFormatError);
  assert.throws(() => decodeTensorData(NnzEncoding.DEFLATE, Uint8Array.of(3, 0), DataType.UINT8, 1e9, 'w'), /cannot hold/);
  assert.throws(() => decodeTensorData(NnzEncoding.PALETTE, Uint8Array.of(1, 0), DataType.UINT8, 1e9, 'w'), /cannot fit/);
  assert.throws(() => decodeTensorData(9, Uint8Array.of(1), DataType.UINT8, 1, 'w'), /unknown encoding/);
  // A deflate stream that holds more than the tensor (1 MiB of zeros declared as 1000 bytes): stopped early.
  const bomb = deflateSync(new Uint8Array(1 << 20));
  assert.throws(() => decodeTensorData(NnzEncoding.DEFLATE, bomb, DataType.UINT8, 1000, 'w'), /more than the tensor/);
  assert.throws(() => decodeTensorData(NnzEncoding.DEFLATE, bomb, DataType.UINT8, (1 << 20) + 1, 'w'), /holds 1048576 bytes/);
});
