// Mutation operators over valid seed inputs, as fast-check arbitraries: bit flips, byte replacement, truncation,
// insertion, deletion and duplication of ranges, splices from other seeds, interesting integers written into the
// seed's own varint and fixed-width fields (lengths, counts, dims), and tokens inserted into text formats.
// Every mutation is plain data, so fast-check can print and shrink a failing input to its fewest operations.
import fc from 'fast-check';

/** Integers that break size arithmetic: zero, one, sign and width boundaries, 2^53, -1 as an unsigned 64-bit value. */
export const INTERESTING_INTEGERS: readonly bigint[] = [
  0n, 1n, 2n, 3n, 4n, 7n, 8n, 15n, 16n, 31n, 63n, 64n, 127n, 128n, 255n, 256n, 1023n, 1024n, 4095n, 4096n,
  32767n, 32768n, 65535n, 65536n, 2n ** 24n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 40n,
  10n ** 12n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n,
  2n ** 64n - 2n ** 31n, // -2^31 as int64
  2n ** 64n - 1n, // -1 as int64
];

/** A seed input, with where its integer fields are, so mutations can hit them on purpose. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Offsets of LEB128 varints that hold values (protobuf varint fields, .nnz header fields). */
  varints?: number[];
  /** Offsets of LEB128 varints that hold the length of what follows (protobuf length-delimited fields). */
  lengths?: number[];
  /** Fixed-width integer fields (header lengths, dims, chunk lengths). */
  ints?: IntField[];
}

export interface IntField {
  at: number;
  width: 1 | 2 | 4 | 8;
  littleEndian: boolean;
}

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; from: number; length: number; at: number }
  | { kind: 'splice'; donor: number; from: number; length: number; at: number }
  | { kind: 'varint'; which: number; value: bigint }
  | { kind: 'length'; which: number; value: bigint }
  | { kind: 'int'; which: number; value: bigint }
  | { kind: 'writeVarint'; at: number; value: bigint }
  | { kind: 'writeInt'; at: number; width: 1 | 2 | 4 | 8; littleEndian: boolean; value: bigint }
  | { kind: 'token'; at: number; token: string };

/** A mutated input: which seed, the operations applied, and the resulting bytes. */
export interface MutatedBytes {
  seed: string;
  ops: readonly (Mutation | TreeMutation)[];
  bytes: Uint8Array;
}

/**
 * A mutation of a decoded message tree (a protobuf message as objects): the `which`-th field, wrapped, is set to an
 * interesting value, emptied, cut, or has an element duplicated or dropped, depending on its kind and `action`.
 */
export interface TreeMutation {
  kind: 'tree';
  which: number;
  action: number;
  value: bigint;
}

export function encodeVarint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** Length of the varint starting at `at` (at most 10 bytes, cut at the end of the data). */
function varintLength(bytes: Uint8Array, at: number): number {
  let n = 0;
  while (at + n < bytes.length && n < 10) {
    if (!(bytes[at + n]! & 0x80)) return n + 1;
    n++;
  }
  return Math.max(1, n);
}

/**
 * Replaces the varint at `at` by `value`. A shorter encoding is padded with continuation bytes to the old length,
 * so the lengths of enclosing messages stay right and the new value reaches the checks behind them.
 */
function replaceVarint(bytes: Uint8Array, at: number, value: bigint): Uint8Array {
  if (at >= bytes.length) return bytes;
  const old = varintLength(bytes, at);
  let enc = encodeVarint(value);
  if (enc.length < old) {
    const padded = enc.slice(0, -1).map((b) => b | 0x80);
    padded.push(enc[enc.length - 1]! | 0x80);
    while (padded.length < old - 1) padded.push(0x80);
    padded.push(0x00);
    enc = padded;
  }
  return concat(bytes.subarray(0, at), Uint8Array.from(enc), bytes.subarray(at + old));
}

function writeInt(bytes: Uint8Array, at: number, width: number, littleEndian: boolean, value: bigint): Uint8Array {
  if (at + width > bytes.length) return bytes;
  const out = new Uint8Array(bytes); // a copy (slice() of a Node Buffer would be a view)
  let v = BigInt.asUintN(width * 8, value);
  for (let i = 0; i < width; i++) {
    out[littleEndian ? at + i : at + width - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

const utf8 = new TextEncoder();

/** Applies mutations in order; positions wrap around the current length, so any operation applies to any input. */
export function applyMutations(seed: Seed, ops: readonly Mutation[], donors: readonly Seed[] = []): Uint8Array {
  let b = seed.bytes;
  for (const op of ops) {
    const n = b.length;
    const pos = (at: number) => (n === 0 ? 0 : at % n);
    const gap = (at: number) => at % (n + 1);
    switch (op.kind) {
      case 'flip':
        if (n) { b = new Uint8Array(b); b[pos(op.at)]! ^= 1 << (op.bit & 7); }
        break;
      case 'set':
        if (n) { b = new Uint8Array(b); b[pos(op.at)] = op.value & 0xff; }
        break;
      case 'truncate':
        b = b.subarray(0, gap(op.at));
        break;
      case 'insert': {
        const at = gap(op.at);
        b = concat(b.subarray(0, at), Uint8Array.from(op.bytes), b.subarray(at));
        break;
      }
      case 'delete': {
        const at = gap(op.at);
        b = concat(b.subarray(0, at), b.subarray(Math.min(n, at + op.length)));
        break;
      }
      case 'duplicate': {
        const from = gap(op.from);
        const piece = b.subarray(from, Math.min(n, from + op.length));
        const at = gap(op.at);
        b = concat(b.subarray(0, at), piece, b.subarray(at));
        break;
      }
      case 'splice': {
        const donor = donors.length ? donors[op.donor % donors.length]!.bytes : b;
        const from = op.from % (donor.length + 1);
        const at = gap(op.at);
        b = concat(b.subarray(0, at), donor.subarray(from, from + op.length), b.subarray(Math.min(n, at + op.length)));
        break;
      }
      case 'varint': {
        // Offsets are the seed's: they stay right as long as the operations before kept the length (most do).
        const offsets = seed.varints ?? [];
        b = replaceVarint(b, offsets.length ? offsets[op.which % offsets.length]! : pos(op.which), op.value);
        break;
      }
      case 'length': {
        const offsets = seed.lengths ?? [];
        b = replaceVarint(b, offsets.length ? offsets[op.which % offsets.length]! : pos(op.which), op.value);
        break;
      }
      case 'int': {
        const fields = seed.ints ?? [];
        const field = fields.length ? fields[op.which % fields.length]! : { at: pos(op.which), width: 4 as const, littleEndian: true };
        b = writeInt(b, field.at, field.width, field.littleEndian, op.value);
        break;
      }
      case 'writeVarint':
        b = replaceVarint(b, pos(op.at), op.value);
        break;
      case 'writeInt':
        b = writeInt(b, pos(op.at), op.width, op.littleEndian, op.value);
        break;
      case 'token': {
        const at = gap(op.at);
        b = concat(b.subarray(0, at), utf8.encode(op.token), b.subarray(at));
        break;
      }
    }
  }
  return b;
}

/** An interesting integer, a random 64-bit one, or a small one. */
export const integerValue: fc.Arbitrary<bigint> = fc.oneof(
  { arbitrary: fc.constantFrom(...INTERESTING_INTEGERS), weight: 6 },
  { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 },
  { arbitrary: fc.bigInt({ min: 0n, max: 300n }), weight: 3 },
);

export interface MutationOptions {
  /** Most operations per input (default 4). */
  maxOps?: number;
  /** Tokens worth inserting (text formats). */
  tokens?: readonly string[];
}

export function mutationArbitrary(options: MutationOptions = {}): fc.Arbitrary<Mutation> {
  const at = fc.nat({ max: 1 << 20 });
  const length = fc.integer({ min: 1, max: 64 });
  const choices: { arbitrary: fc.Arbitrary<Mutation>; weight: number }[] = [
    { arbitrary: fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat({ max: 7 }) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('set' as const), at, value: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff), fc.nat({ max: 255 })) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 16 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), at, length }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), from: at, length, at }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('splice' as const), donor: fc.nat({ max: 64 }), from: at, length, at }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('varint' as const), which: fc.nat({ max: 1 << 16 }), value: integerValue }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('length' as const), which: fc.nat({ max: 1 << 16 }), value: integerValue }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('int' as const), which: fc.nat({ max: 1 << 16 }), value: integerValue }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('writeVarint' as const), at, value: integerValue }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('writeInt' as const), at, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), littleEndian: fc.boolean(), value: integerValue,
      }),
      weight: 1,
    },
  ];
  if (options.tokens?.length) choices.push({ arbitrary: fc.record({ kind: fc.constant('token' as const), at, token: fc.constantFrom(...options.tokens) }), weight: 6 });
  return fc.oneof(...choices);
}

/** Mutated copies of the seeds (each input: one seed, one to maxOps operations). */
export function mutatedBytes(seeds: readonly Seed[], options: MutationOptions = {}): fc.Arbitrary<MutatedBytes> {
  if (seeds.length === 0) throw new Error('mutatedBytes needs at least one seed');
  // Plain copies: mutations then never write through to a seed that is a view (a Node Buffer's slice() is one).
  seeds = seeds.map((s) => ({ ...s, bytes: new Uint8Array(s.bytes) }));
  return fc.record({
    seed: fc.nat({ max: seeds.length - 1 }),
    ops: fc.array(mutationArbitrary(options), { minLength: 1, maxLength: options.maxOps ?? 4 }),
  }).map(({ seed, ops }) => ({ seed: seeds[seed]!.name, ops, bytes: applyMutations(seeds[seed]!, ops, seeds) }));
}

/**
 * The varints of a protobuf message, as a seed's `varints` (field values, packed repeated values included) and
 * `lengths` (length prefixes), descending into length-delimited fields that parse as messages themselves (strings
 * and raw data usually do not).
 */
export function protobufFields(bytes: Uint8Array, maxDepth = 12): { varints: number[]; lengths: number[] } {
  const varints: number[] = [];
  const lengths: number[] = [];
  const walk = (start: number, end: number, depth: number): boolean => {
    const found: number[] = [];
    const prefixes: number[] = [];
    const nested: [number, number][] = [];
    let p = start;
    while (p < end) {
      const tag = readVarint(bytes, p, end);
      if (!tag) return false;
      p += tag.length;
      const wire = Number(tag.value & 7n);
      if (tag.value >> 3n === 0n) return false;
      if (wire === 0) {
        const v = readVarint(bytes, p, end);
        if (!v) return false;
        found.push(p);
        p += v.length;
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const len = readVarint(bytes, p, end);
        if (!len) return false;
        prefixes.push(p);
        p += len.length;
        const l = Number(len.value);
        if (p + l > end) return false;
        nested.push([p, p + l]);
        p += l;
      } else return false;
    }
    if (p !== end) return false;
    varints.push(...found);
    lengths.push(...prefixes);
    for (const [s, e] of nested) {
      if (e > s && !(depth < maxDepth && walk(s, e, depth + 1))) packedVarints(s, e);
    }
    return true;
  };
  // A short field that is not a message may be packed repeated varints (dims, ints attributes, int64_data).
  const packedVarints = (start: number, end: number) => {
    if (end - start > 64) return;
    const found: number[] = [];
    for (let p = start; p < end;) {
      const v = readVarint(bytes, p, end);
      if (!v) return;
      found.push(p);
      p += v.length;
    }
    varints.push(...found);
  };
  walk(0, bytes.length, 0);
  return { varints: varints.sort((a, b) => a - b), lengths: lengths.sort((a, b) => a - b) };
}

function readVarint(bytes: Uint8Array, at: number, end: number): { value: bigint; length: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= end) return undefined;
    const b = bytes[at + i]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (!(b & 0x80)) return { value, length: i + 1 };
  }
  return undefined;
}

/** Text of a byte input for reports: printable ASCII as is, the rest as \xNN, cut after `max` characters. */
export function printable(bytes: Uint8Array, max = 400): string {
  let out = '';
  for (let i = 0; i < bytes.length && out.length < max; i++) {
    const c = bytes[i]!;
    out += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return bytes.length && out.length >= max ? `${out}... (${bytes.length} bytes)` : out;
}

// ---------------------------------------------------------------------------------------------------------------
// Message trees: mutate a decoded protobuf message, then encode it again, so every input is well-formed protobuf
// and reaches the checks of what the fields mean (types, dims, data lengths, locations).

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number; value: unknown };

function isLong(v: unknown): v is { low: number; high: number; unsigned: boolean } {
  return v !== null && typeof v === 'object' && typeof (v as { low?: unknown }).low === 'number' && typeof (v as { high?: unknown }).high === 'number';
}

/** Every field of the tree, messages and arrays included, in a fixed order. */
function slotsOf(root: Record<string, unknown>): Slot[] {
  const slots: Slot[] = [];
  const visit = (parent: Record<string, unknown> | unknown[], key: string | number, value: unknown, depth: number) => {
    if (value === null || value === undefined || depth > 24) return;
    slots.push({ parent, key, value });
    if (value instanceof Uint8Array || isLong(value) || typeof value !== 'object') return;
    if (Array.isArray(value)) value.forEach((v, i) => visit(value, i, v, depth + 1));
    else for (const k of Object.keys(value)) visit(value as Record<string, unknown>, k, (value as Record<string, unknown>)[k], depth + 1);
  };
  for (const k of Object.keys(root)) visit(root, k, root[k], 0);
  return slots;
}

const NAMES = ['', 'x', 'w', 'y', 'nnz', '..', '../outside.bin', '/etc/passwd', 'a'.repeat(300), '\u0000', 'location', 'offset', 'length'];

/**
 * Applies tree mutations in place. `toLong` makes an int64 field's value from a bigint (protobufjs wants Long).
 */
export function mutateTree(root: Record<string, unknown>, ops: readonly TreeMutation[], toLong: (v: bigint, unsigned: boolean) => unknown): void {
  for (const op of ops) {
    const slots = slotsOf(root);
    if (!slots.length) return;
    const { parent, key, value } = slots[op.which % slots.length]!;
    const set = (v: unknown) => { (parent as Record<string | number, unknown>)[key] = v; };
    const signed = BigInt.asIntN(64, op.value);
    if (isLong(value)) set(toLong(op.action % 2 ? signed : op.value, !!value.unsigned));
    else if (typeof value === 'number') {
      const specials = [Number(signed), Number(op.value), -1, 0, NaN, Infinity, 2 ** 31, 2 ** 32 - 1, 1e300];
      set(Number.isInteger(value) && op.action % 3 !== 2 ? Number(BigInt.asIntN(32, op.value)) : specials[op.action % specials.length]);
    } else if (typeof value === 'string') set(NAMES[op.action % NAMES.length]);
    else if (typeof value === 'boolean') set(!value);
    else if (value instanceof Uint8Array) {
      const n = Number(op.value % 4096n);
      set(op.action % 2 ? value.subarray(0, n % (value.length + 1)) : concat(value, new Uint8Array(n % 64)));
    } else if (Array.isArray(value)) {
      const i = Number(op.value % BigInt(Math.max(1, value.length)));
      switch (op.action % 4) {
        case 0: value.splice(i, 1); break;
        case 1: if (value.length) value.splice(i, 0, structuredClone(value[i])); break;
        case 2: value.length = 0; break;
        default: if (value.length) for (let k = 0; k < 3; k++) value.push(structuredClone(value[i])); break;
      }
    } else if (op.action % 4 === 0 && !Array.isArray(parent)) set(undefined); // drop a whole message
  }
}

export const treeMutationArbitrary: fc.Arbitrary<TreeMutation> = fc.record({
  kind: fc.constant('tree' as const), which: fc.nat({ max: 1 << 16 }), action: fc.nat({ max: 1 << 10 }), value: integerValue,
});
