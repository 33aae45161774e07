// .nnz files on disk: telling them from ONNX files, reading them into a model with errors that name the file,
// and writing them atomically.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { NNZ_MAGIC, UnpackOptions, isNnz, unpackModel } from '../compress/encode/nnz.js';
import { FileError, writeFileAtomic } from './io.js';

/** True when the file starts with the .nnz magic bytes (or, unreadable, is named *.nnz: the read then says why). */
export function isNnzFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(NNZ_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return isNnz(head.subarray(0, n));
  } catch {
    return path.toLowerCase().endsWith('.nnz');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function readNnzFile(path: string): Uint8Array {
  try {
    if (statSync(path).isDirectory()) throw new FileError(`${path}: is a folder, not a .nnz file`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof FileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Reads a .nnz file into the model it holds; errors name the file. */
export function loadNnz(path: string, options: UnpackOptions = {}): Model {
  const bytes = readNnzFile(path);
  try {
    return unpackModel(bytes, options);
  } catch (e) {
    if (e instanceof NnzipError) e.message = `${path}: ${e.message}`;
    throw e;
  }
}

/** Writes .nnz bytes (or its parts, in order: no copy of a big container into one buffer) atomically, refusing to replace any of `inputs`. */
export function saveNnz(bytes: Uint8Array | readonly Uint8Array[], path: string, inputs: string[] = []): void {
  writeFileAtomic(path, bytes, inputs);
}
