// Model files on disk: reading with external data, atomic writes, and never overwriting an input.
import { closeSync, existsSync, realpathSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { EncodeOptions, ExternalDataReader, ModelFormatError, decodeModel, encodeModel } from '../core/codec.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';


/** A file-level problem: missing, unreadable, would be overwritten. */
export class FileError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'FileError';
  }
}

/**
 * Resolves an external-data location against the model's folder; refuses locations that leave it (absolute paths,
 * '..'), since a model from elsewhere must not make nnzip read arbitrary files.
 */
export function resolveExternalLocation(modelPath: string, location: string): string {
  const folder = resolve(dirname(modelPath));
  if (isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) throw new ModelFormatError(`external data location '${location}' is absolute; it must be relative to the model's folder`);
  const target = resolve(folder, normalize(location));
  const rel = relative(folder, target);
  const leaves = (r: string) => r === '' || r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r);
  if (leaves(rel)) throw new ModelFormatError(`external data location '${location}' leaves the model's folder`);
  // A symbolic link inside the folder may still point outside it: judge where it really leads.
  if (existsSync(target) && leaves(relative(realpathSync(folder), realpathSync(target)))) {
    throw new ModelFormatError(`external data location '${location}' is a link that leads out of the model's folder`);
  }
  return target;
}

export interface LoadOptions {
  /** Bytes of the .onnx file, when already in memory (the path still locates external data). */
  bytes?: Uint8Array;
}

/** Reads an ONNX model and its external data. Errors name the file. */
export function loadModel(path: string, options: LoadOptions = {}): Model {
  let bytes = options.bytes;
  if (!bytes) {
    try {
      if (statSync(path).isDirectory()) throw new FileError(`${path}: is a folder, not a model file`);
      bytes = readFileSync(path);
    } catch (e) {
      if (e instanceof FileError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new FileError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  }
  if (bytes.byteLength === 0) throw new FileError(`${path}: file is empty`);
  const files = new Map<string, { fd: number; size: number }>();
  const readExternalBytes: ExternalDataReader = (ref, tensorName, expectedBytes) => {
    const file = resolveExternalLocation(path, ref.location);
    let f = files.get(file);
    if (!f) {
      if (!existsSync(file)) throw new ModelFormatError(`tensor '${tensorName}': external data file '${ref.location}' not found`);
      const fd = openSync(file, 'r');
      f = { fd, size: fstatSync(fd).size };
      files.set(file, f);
    }
    const length = ref.length ?? expectedBytes;
    if (ref.offset + length > f.size) {
      throw new ModelFormatError(`tensor '${tensorName}': external data '${ref.location}' has ${f.size} bytes, the tensor needs bytes ${ref.offset}..${ref.offset + length}`);
    }
    // One fresh buffer per tensor: aligned for its typed array, and no single buffer limit on huge files.
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(f.fd, out, done, Math.min(length - done, 1 << 30), ref.offset + done);
      if (n <= 0) throw new ModelFormatError(`tensor '${tensorName}': external data '${ref.location}' ended early`);
      done += n;
    }
    return out;
  };
  try {
    return decodeModel(bytes, {
      readExternal: (ref, tensorName, expectedBytes) => {
        try {
          return readExternalBytes(ref, tensorName, expectedBytes);
        } catch (e) {
          // I/O errors (a folder, no permission) otherwise surface as bare Node errors without the file's name.
          if (e instanceof NnzipError) throw e;
          throw new FileError(`tensor '${tensorName}': cannot read external data '${ref.location}' (${(e as Error).message})`);
        }
      },
    });
  } catch (e) {
    if (e instanceof NnzipError || e instanceof ModelFormatError) {
      e.message = `${path}: ${e.message}`;
    }
    throw e;
  } finally {
    for (const f of files.values()) closeSync(f.fd);
  }
}

export interface SaveOptions {
  /**
   * Put tensors in an external data file next to the model: true for '<model file name>.data', or a location.
   * Models whose tensors exceed protobuf's 2 GiB limit get external data whatever this says.
   */
  externalData?: boolean | string;
  /** Smallest tensor, in bytes, moved to external data (default 1024). */
  externalThreshold?: number;
  /** Input files this output must not replace (the CLI passes the models it read). */
  inputs?: string[];
  /** Allow replacing an existing file that is not one of `inputs`. Defaults to true. */
  overwrite?: boolean;
}

// Protobuf messages cannot exceed 2 GiB; stay clear of it with room for the graph itself.
const INLINE_LIMIT = 1.8 * 2 ** 30;

function totalTensorBytes(model: Model): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) n += t.byteLength;
  return n;
}

/** Refuses to write over a file the run read from. */
export function assertNotInput(output: string, inputs: string[] = []): void {
  const out = resolve(output);
  for (const i of inputs) {
    if (resolve(i) === out) throw new FileError(`${output}: output would overwrite the input model; choose another output path`);
  }
}

/**
 * Writes a model atomically: each file goes to a temporary name in the same folder and is renamed into place
 * once complete, so a failure leaves no partial file.
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): { bytes: number; externalBytes: number; externalPath?: string } {
  assertNotInput(path, options.inputs);
  if (options.overwrite === false && existsSync(path)) throw new FileError(`${path}: already exists`);
  const encodeOptions: EncodeOptions = {};
  let external = options.externalData;
  if (!external && totalTensorBytes(model) > INLINE_LIMIT) external = true;
  if (external) {
    const location = typeof external === 'string' ? external : `${basename(path)}.data`;
    resolveExternalLocation(path, location);
    encodeOptions.externalData = { location, threshold: options.externalThreshold };
  }
  const encoded = encodeModel(model, encodeOptions);
  const pending: { tmp: string; final: string }[] = [];
  try {
    if (encoded.externalLocation && encoded.external.length) {
      const final = join(dirname(path), encoded.externalLocation);
      assertNotInput(final, options.inputs);
      const tmp = temporaryName(final);
      pending.push({ tmp, final });
      writeChunks(tmp, encoded.external.map((c) => ({ offset: c.offset, bytes: c.bytes })));
    }
    const tmp = temporaryName(path);
    pending.push({ tmp, final: path });
    writeChunks(tmp, [{ offset: 0, bytes: encoded.bytes }]);
    for (const p of pending) renameSync(p.tmp, p.final);
  } catch (e) {
    for (const p of pending) rmSync(p.tmp, { force: true });
    if (e instanceof NnzipError) throw e;
    throw new FileError(`${path}: cannot write (${(e as Error).message})`);
  }
  return {
    bytes: encoded.bytes.byteLength,
    externalBytes: encoded.externalBytes,
    externalPath: encoded.externalLocation && encoded.external.length ? join(dirname(path), encoded.externalLocation) : undefined,
  };
}

function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
}

function writeChunks(file: string, chunks: { offset: number; bytes: Uint8Array }[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const c of chunks) {
      let done = 0;
      while (done < c.bytes.byteLength) {
        done += writeSync(fd, c.bytes, done, Math.min(c.bytes.byteLength - done, 1 << 30), c.offset + done);
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes any bytes atomically (reports, JSON, .nnz files); a list of parts is written one after the other. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string | readonly Uint8Array[], inputs: string[] = []): void {
  assertNotInput(path, inputs);
  const parts = typeof bytes === 'string' ? [new TextEncoder().encode(bytes)] : bytes instanceof Uint8Array ? [bytes] : bytes;
  const chunks: { offset: number; bytes: Uint8Array }[] = [];
  let offset = 0;
  for (const part of parts) {
    chunks.push({ offset, bytes: part });
    offset += part.byteLength;
  }
  const tmp = temporaryName(path);
  try {
    writeChunks(tmp, chunks);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FileError(`${path}: cannot write (${(e as Error).message})`);
  }
}


