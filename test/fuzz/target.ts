// What a fuzz target is: a parser, the seeds and mutations that feed it, the errors it may raise, and the most it
// may allocate. The test files and bench/fuzz.bench.ts run the same targets (test/fuzz/targets.ts lists them).
import type fc from 'fast-check';

export const MiB = 2 ** 20;

/**
 * The allocation bound every parser keeps: parsing n bytes allocates at most max(64 MiB, factor * n) bytes, where
 * factor is the format's largest legitimate expansion (1032 for deflate, 4096 for .nnz's sparse codings, a few tens
 * for the JavaScript objects of a parsed tree). Sizes declared in headers are checked against the bytes present
 * before anything is allocated from them, so a 100-byte file that claims 10^12 elements fails at once.
 */
export function allocationBound(inputBytes: number, factor: number): number {
  return Math.max(64 * MiB, factor * inputBytes);
}

export type ErrorClass = abstract new (...args: never[]) => Error;

/** A fuzz target once opened (seeds built, temporary files written). */
export interface FuzzInstance<I> {
  /** Mutated inputs (fast-check shrinks a failing one to its fewest mutations). */
  inputs: fc.Arbitrary<I>;
  /** The unmutated seeds: each must parse. */
  seeds: I[];
  /** Parses one input; returns normally when it parsed, throws when it was refused. */
  run(input: I): void;
  /** The error classes a refused input may raise (nnzip's typed errors). */
  expected: readonly ErrorClass[];
  /** What every error message must start with (the file or source name the parser was given). */
  messagePrefix?: RegExp;
  /** The input as the bytes the parser sees (for the bound and for reports). */
  bytesOf(input: I): Uint8Array;
  /** Most bytes parsing this input may allocate. */
  allocationBound(input: I): number;
  /** A property beyond "parsed or a typed error" (external data: a location out of the folder is refused). */
  check?(input: I, error: unknown): void;
  /** Removes temporary files. */
  close?(): void;
}

export interface FuzzTarget<I = unknown> {
  /** Short name: the test file, the bench row, the FUZZ_TARGET value. */
  name: string;
  /** The parsers it drives. */
  parsers: string;
  open(): FuzzInstance<I>;
}

/** Why an error is not an acceptable refusal, or undefined when it is one. */
export function unacceptableError(e: unknown, expected: readonly ErrorClass[], prefix?: RegExp): string | undefined {
  if (!(e instanceof Error)) return `threw a non-Error value ${String(e)}`;
  if (!expected.some((c) => e instanceof c)) return `threw ${e.name} (not one of ${expected.map((c) => c.name).join(', ')}): ${e.message}`;
  if (!e.message.trim()) return `threw ${e.name} with an empty message`;
  if (/[\n\r]/.test(e.message)) return `threw ${e.name} with a multi-line message: ${JSON.stringify(e.message)}`;
  if (prefix && !prefix.test(e.message)) return `threw ${e.name} whose message does not start with ${prefix}: ${e.message}`;
  return undefined;
}
