// What every command shares: loading models with file-named errors, JSON or text output, and turning errors
// into one line and exit code 1 (the stack only with --debug).
import { Command, InvalidArgumentError, Option } from 'commander';
import { statSync } from 'node:fs';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { loadModel, resolveExternalLocation } from '../node/io.js';
import { isNnzFile, loadNnz } from '../node/nnz.js';
import { loadRunnableModel } from '../node/load.js';

export interface GlobalOptions {
  debug?: boolean;
  json?: boolean;
}

/** Adds the options every command has. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print machine-readable JSON instead of text')
    .addOption(new Option('--debug', 'print stack traces on errors'));
}

/** Wraps a command action: errors become one line on stderr and exit code 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as GlobalOptions;
    try {
      await fn(...args);
    } catch (e) {
      reportError(e, opts.debug ?? false);
      process.exitCode = 1;
    }
  };
}

export function reportError(e: unknown, debug: boolean): void {
  const err = e instanceof Error ? e : new Error(String(e));
  if (debug) {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    return;
  }
  const known = err instanceof NnzipError;
  const message = err.message.replace(/\s+/g, ' ').trim();
  process.stderr.write(`nnzip: ${known ? message : `internal error: ${message} (run with --debug for details)`}\n`);
}

/** Loads a model (ONNX, or .nnz unpacked); with `runnable`, also checks every op is one onnxruntime can run. Errors name the file. */
export function openModel(path: string, options: { runnable?: boolean } = {}): Model {
  if (options.runnable) return loadRunnableModel(path);
  return isNnzFile(path) ? loadNnz(path) : loadModel(path);
}

/** Bytes on disk of a model file plus the external data files it references. */
export function bytesOnDisk(path: string, model: Model): number {
  let total = statSync(path).size;
  const seen = new Set<string>();
  for (const t of model.graph.initializers.values()) {
    if (!t.external) continue;
    const file = resolveExternalLocation(path, t.external.location);
    if (seen.has(file)) continue;
    seen.add(file);
    total += statSync(file).size;
  }
  return total;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Parses NAME=VALUE pairs of a repeatable option. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0 || i === value.length - 1) throw new InvalidArgumentError('expected NAME=VALUE');
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** A positive integer option value, with an error naming the option. */
export function positiveInt(option: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${option} must be a positive integer`);
    return n;
  };
}

export function positiveNumber(option: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${option} must be a positive number`);
    return n;
  };
}

export function nonNegativeInt(option: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${option} must be a non-negative integer`);
    return n;
  };
}

/** Human-readable counts: 1.2M, 3.4G. */
export function humanCount(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return i === 0 ? String(n) : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)}${units[i]}`;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** --lr-schedule: how the learning rate moves during each fine-tuning run. */
export const LR_SCHEDULES = ['constant', 'cosine'] as const;
export function lrScheduleOf(name: string | undefined): { kind: 'constant' } | { kind: 'cosine' } {
  return name === 'cosine' ? { kind: 'cosine' } : { kind: 'constant' };
}

/** A repeatable option's values, in the order given. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function nonNegativeNumber(option: string): (value: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${option} must be a non-negative number`);
    return n;
  };
}

/** A number in [0, 1] (weights of loss terms, fractions that may be whole). */
export function unitInterval(option: string): (value: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${option} must be in [0, 1]`);
    return n;
  };
}

/** A number in [0, 1) (sparsities, smoothing). */
export function fractionBelowOne(option: string): (value: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${option} must be in [0, 1)`);
    return n;
  };
}
