import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BitWriter, HuffmanEncoder, MAX_CODE_LENGTH, buildDecodeTable, canonicalCodes, decodeSymbols, encodeSymbols, huffmanCodeLengths,
  readCodeLengths, writeCodeLengths,
} from '../../../src/compress/encode/huffman.js';
import { ByteReader, ByteWriter, crc32 } from '../../../src/compress/encode/bytes.js';
import { NnzFormatError } from '../../../src/compress/encode/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** The cheapest prefix code by exhaustive search: every length vector with Kraft sum <= 1 and lengths <= maxLength. */
function bruteForceCost(counts: number[], maxLength: number): number {
  const used = counts.filter((c) => c > 0);
  if (used.length <= 1) return used.length ? used[0]! : 0;
  const limit = Math.min(maxLength, used.length - 1);
  let best = Infinity;
  const go = (i: number, kraft: number, cost: number) => {
    if (kraft > 1 + 1e-12 || cost >= best) return;
    if (i === used.length) { best = cost; return; }
    for (let len = 1; len <= limit; len++) go(i + 1, kraft + 2 ** -len, cost + used[i]! * len);
  };
  go(0, 0, 0);
  return best;
}

const costOf = (counts: number[], lengths: Uint8Array) => counts.reduce((s, c, i) => s + c * lengths[i]!, 0);
const kraftOf = (lengths: Uint8Array) => [...lengths].reduce((s, l) => s + (l ? 2 ** -l : 0), 0);

test('code lengths are optimal against a brute-force search over all prefix codes (up to 7 symbols)', () => {
  const random = rng(7);
  let checked = 0;
  for (let n = 2; n <= 7; n++) {
    for (let trial = 0; trial < 25; trial++) {
      // Skewed counts (some tiny, some zero) make long codes optimal, the case a length limit bites.
      const counts = Array.from({ length: n }, () => (random() < 0.15 ? 0 : Math.floor(random() ** 3 * 1000)));
      const lengths = huffmanCodeLengths(counts);
      assert.equal(costOf(counts, lengths), bruteForceCost(counts, MAX_CODE_LENGTH), `counts ${counts}`);
      counts.forEach((c, i) => assert.equal(lengths[i]! > 0, c > 0, `only used symbols get codes: ${counts}`));
      checked++;
    }
  }
  assert.equal(checked, 150);
});

test('length-limited code lengths are optimal against brute force with the same limit', () => {
  const random = rng(11);
  for (let trial = 0; trial < 60; trial++) {
    const n = 3 + Math.floor(random() * 5); // 3..7 symbols
    const limit = Math.ceil(Math.log2(n)) + Math.floor(random() * 2); // the tightest limits that still fit them
    const counts = Array.from({ length: n }, (_, i) => 1 + Math.floor(2 ** (i * 2.5 * random())));
    const lengths = huffmanCodeLengths(counts, limit);
    assert.ok(Math.max(...lengths) <= limit, `limit ${limit} kept: ${[...lengths]}`);
    assert.equal(costOf(counts, lengths), bruteForceCost(counts, limit), `counts ${counts} limit ${limit}`);
  }
});

test('lengths of two or more used symbols meet the Kraft inequality with equality, within the length limit', () => {
  const random = rng(3);
  // Fibonacci counts: unlimited Huffman would give a 39-bit code to the rarest of 40 symbols.
  const fib = [1, 1];
  while (fib.length < 40) fib.push(fib[fib.length - 1]! + fib[fib.length - 2]!);
  const cases = [fib, Array.from({ length: 300 }, () => Math.floor(random() * 50)), [5, 5], Array.from({ length: 4096 }, (_, i) => 1 + (i % 7))];
  for (const counts of cases) {
    const lengths = huffmanCodeLengths(counts);
    assert.ok(Math.max(...lengths) <= MAX_CODE_LENGTH);
    assert.equal(kraftOf(lengths), 1);
  }
  assert.equal(Math.max(...huffmanCodeLengths(fib)), MAX_CODE_LENGTH, 'the limit binds on Fibonacci counts');
  assert.deepEqual([...huffmanCodeLengths([0, 9, 0])], [0, 1, 0], 'a lone symbol gets one bit');
  assert.deepEqual([...huffmanCodeLengths([0, 0])], [0, 0]);
  // Hand-computed: counts 1, 1, 2, 4 -> a chain 3, 3, 2, 1.
  assert.deepEqual([...huffmanCodeLengths([1, 1, 2, 4])], [3, 3, 2, 1]);
  assert.throws(() => huffmanCodeLengths([1, 1, 1], 1), RangeError);
});

test('canonical codes are prefix-free and ordered by length, then symbol', () => {
  const lengths = Uint8Array.of(3, 3, 2, 1, 0);
  assert.deepEqual([...canonicalCodes(lengths)], [0b110, 0b111, 0b10, 0b0, 0]);
  const random = rng(5);
  const counts = Array.from({ length: 64 }, () => Math.floor(random() * 100));
  const l = huffmanCodeLengths(counts);
  const codes = canonicalCodes(l);
  const words = [...l].map((len, s) => (len ? codes[s]!.toString(2).padStart(len, '0') : '')).filter(Boolean);
  for (const a of words) for (const b of words) if (a !== b) assert.ok(!b.startsWith(a), `${a} is a prefix of ${b}`);
});

test('symbols round-trip through encode and the table-driven decoder', () => {
  const random = rng(9);
  for (const alphabet of [1, 2, 5, 31, 256, 3000]) {
    const counts = new Array<number>(alphabet).fill(0);
    const symbols = Array.from({ length: 5000 }, () => {
      const s = Math.min(alphabet - 1, Math.floor(alphabet * random() ** 2));
      counts[s]!++;
      return s;
    });
    const lengths = huffmanCodeLengths(counts);
    const stream = encodeSymbols(symbols, lengths);
    const expectedBits = costOf(counts, lengths);
    assert.equal(stream.byteLength, Math.ceil(expectedBits / 8), 'the stream is exactly the coded bits');
    assert.deepEqual([...decodeSymbols(stream, symbols.length, buildDecodeTable(lengths))], symbols);
  }
});

test('a BitWriter and the encoder write least-significant bit first', () => {
  const w = new BitWriter(1);
  w.write(0b1, 1);
  w.write(0b10, 2);
  w.write(0xabc, 12);
  const bytes = w.finish();
  // bits in order: 1, 0,1, then 0xabc low bit first -> value = 1 | 0b10 << 1 | 0xabc << 3
  const value = 1 | (0b10 << 1) | (0xabc << 3);
  assert.deepEqual([...bytes], [value & 0xff, (value >> 8) & 0xff]);
  const enc = new HuffmanEncoder(Uint8Array.of(1, 2, 2));
  const w2 = new BitWriter();
  enc.write(w2, 2); // canonical code 11
  enc.write(w2, 1); // 10, reversed to 01 in LSB-first order
  assert.deepEqual([...w2.finish()], [0b0111]);
});

test('the decoder refuses lengths that are not a complete prefix code', () => {
  assert.throws(() => buildDecodeTable(Uint8Array.of(1, 1, 1)), (e: Error) => e instanceof NnzFormatError && /over-subscribed/.test(e.message));
  assert.throws(() => buildDecodeTable(Uint8Array.of(1, 2)), (e: Error) => e instanceof NnzFormatError && /incomplete/.test(e.message));
  assert.throws(() => buildDecodeTable(Uint8Array.of(0, 3)), (e: Error) => e instanceof NnzFormatError && /one-symbol/.test(e.message));
  assert.throws(() => buildDecodeTable(Uint8Array.of(16, 1)), NnzFormatError);
  // The random lengths a corrupt table holds: every non-code is refused, every code is accepted.
  const random = rng(13);
  let refused = 0;
  for (let i = 0; i < 500; i++) {
    const lengths = Uint8Array.from({ length: 2 + Math.floor(random() * 8) }, () => Math.floor(random() * 6));
    const kraft = kraftOf(lengths);
    const used = lengths.filter((l) => l).length;
    const valid = used === 0 || (used === 1 ? Math.max(...lengths) === 1 : kraft === 1);
    try {
      buildDecodeTable(lengths);
      assert.ok(valid, `accepted ${[...lengths]}`);
    } catch (e) {
      assert.ok(e instanceof NnzFormatError);
      assert.ok(!valid, `refused valid ${[...lengths]}`);
      refused++;
    }
  }
  assert.ok(refused > 100);
  // A stream that stops early, or an empty code asked for symbols, is refused too.
  const lengths = Uint8Array.of(1, 2, 2);
  const stream = encodeSymbols([2, 2, 2, 2, 2], lengths);
  assert.throws(() => decodeSymbols(stream, 16, buildDecodeTable(lengths)), /ends early/);
  assert.throws(() => decodeSymbols(Uint8Array.of(0), 1, buildDecodeTable(new Uint8Array(3))), /no code/);
});

test('code length tables round-trip through their nibble form, and a reader refuses more symbols than allowed', () => {
  const lengths = Uint8Array.of(3, 0, 15, 1, 2, 0, 0);
  const w = new ByteWriter();
  writeCodeLengths(w, lengths);
  const bytes = w.finish();
  assert.equal(bytes.byteLength, 1 + 3, 'trailing unused symbols are not stored');
  assert.deepEqual([...readCodeLengths(new ByteReader(bytes), 7, 'lengths')], [...lengths]);
  assert.throws(() => readCodeLengths(new ByteReader(bytes), 4, 'lengths'), NnzFormatError);
  assert.throws(() => readCodeLengths(new ByteReader(bytes.subarray(0, 2)), 7, 'lengths'), /truncated/);
  // A sparse alphabet (a few symbols among 4096) takes the listed form: a few bytes, not 2048.
  const sparse = new Uint8Array(4096);
  sparse[5] = 1; sparse[700] = 2; sparse[4000] = 2;
  const w2 = new ByteWriter();
  writeCodeLengths(w2, sparse);
  const b2 = w2.finish();
  assert.ok(b2.byteLength <= 10, `${b2.byteLength} bytes`);
  assert.deepEqual(readCodeLengths(new ByteReader(b2), 4096, 'lengths'), sparse);
  assert.throws(() => readCodeLengths(new ByteReader(b2), 1000, 'lengths'), NnzFormatError);
});

test('varints, strings and CRC-32 match their definitions', () => {
  const w = new ByteWriter(1);
  w.varint(0).varint(127).varint(128).varint(300).varint(2 ** 53 - 1).string('héllo');
  const r = new ByteReader(w.finish());
  assert.equal(r.varint('a'), 0);
  assert.equal(r.varint('b'), 127);
  assert.equal(r.varint('c'), 128);
  assert.equal(r.varint('d'), 300);
  assert.equal(r.varint('e'), 2 ** 53 - 1);
  assert.equal(r.string('s'), 'héllo');
  assert.throws(() => r.u8('past the end'), /truncated/);
  assert.deepEqual([...new ByteWriter().varint(300).finish()], [0xac, 0x02]);
  // The standard check value of CRC-32/ISO-HDLC, and agreement between the sliced and bytewise paths.
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  const data = Uint8Array.from({ length: 1001 }, (_, i) => (i * 31 + 7) & 0xff);
  let c = 0;
  for (let i = 0; i < data.length; i++) c = crc32(data.subarray(i, i + 1), c);
  assert.equal(crc32(data), c);
});
