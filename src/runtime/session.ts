// One interface over onnxruntime-node and onnxruntime-web: sessions from IR models, run with IR tensors.
import type * as ortCommon from 'onnxruntime-common';
import { encodeModel } from '../core/codec.js';
import { DataType, dataTypeFromName, dataTypeName, type NumericArray } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Graph, Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';

export interface SessionOptions {
  /** Intra-op threads (onnxruntime's default: one per physical core). */
  threads?: number;
  /** Execution providers in order of preference; default ['cpu'] (web: ['wasm']). */
  executionProviders?: string[];
  /** onnxruntime graph optimizations; default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface ValueMeta {
  name: string;
  /** Element type name ('float32', 'int64', ...), when onnxruntime reports one. */
  type?: string;
  /** Declared dims; strings for symbolic dimensions, undefined for unknown ones. */
  shape?: (number | string | undefined)[];
}

export interface Session {
  readonly inputs: ValueMeta[];
  readonly outputs: ValueMeta[];
  /** The execution provider the session was created with. */
  readonly executionProvider: string;
  /** Runs the model; returns the requested outputs (all by default) as IR tensors named after the outputs. */
  run(feeds: Record<string, Tensor>, outputNames?: string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  readonly version: string;
  /**
   * A session over a model: an IR model, ONNX bytes, or a path (Node) or URL (browser) onnxruntime reads itself, with
   * its external data (the way to run a big model without holding its weights twice).
   */
  createSession(model: Model | Uint8Array | string, options?: SessionOptions): Promise<Session>;
}

/** onnxruntime refused the model or a run: the message names the node and problem as onnxruntime does. */
export class RuntimeError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

type OrtModule = Pick<typeof ortCommon, 'InferenceSession' | 'Tensor' | 'env'>;

function toOrtTensor(ort: OrtModule, t: Tensor): ortCommon.Tensor {
  if (t.isString) {
    const dec = new TextDecoder();
    return new ort.Tensor('string', (t.data as Uint8Array[]).map((b) => dec.decode(b)), [...t.dims]);
  }
  const type = dataTypeName(t.dataType);
  return new ort.Tensor(type as 'float32', t.data as Float32Array, [...t.dims]);
}

function fromOrtTensor(name: string, o: ortCommon.Tensor): Tensor {
  const dataType = dataTypeFromName(o.type);
  if (dataType === undefined) throw new RuntimeError(`output '${name}' has type ${o.type}, which nnzip cannot hold`);
  if (dataType === DataType.STRING) {
    const enc = new TextEncoder();
    return new Tensor(name, dataType, [...o.dims], (o.data as string[]).map((s) => enc.encode(s)));
  }
  let data = o.data as NumericArray;
  // onnxruntime-node may hand back float16 as a Float16Array where the platform has one; keep the bits.
  if (dataType === DataType.FLOAT16 && !(data instanceof Uint16Array)) data = new Uint16Array((data as unknown as Uint16Array).buffer, (data as unknown as Uint16Array).byteOffset, o.size);
  if (dataType === DataType.BOOL && !(data instanceof Uint8Array)) data = Uint8Array.from(data as unknown as ArrayLike<number>);
  return new Tensor(name, dataType, [...o.dims], data);
}

function metaOf(m: ortCommon.InferenceSession.ValueMetadata | undefined, name: string): ValueMeta {
  if (!m || !m.isTensor) return { name };
  return { name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : undefined)) };
}

/** Builds a Runtime over an onnxruntime module (node or web: they share onnxruntime-common's API). */
export function ortRuntime(ort: OrtModule, name: string, defaultProvider: string): Runtime {
  return {
    name,
    version: (ort.env.versions as Record<string, string | undefined>)?.common ?? 'unknown',
    async createSession(model, options = {}) {
      const providers = options.executionProviders ?? [defaultProvider];
      const sessionOptions: ortCommon.InferenceSession.SessionOptions = {
        executionProviders: providers,
        graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
        logSeverityLevel: 3,
      };
      let session: ortCommon.InferenceSession;
      try {
        session = typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model instanceof Uint8Array ? model : encodeModel(withoutTrailingEmptyInputs(model)).bytes, sessionOptions);
      } catch (e) {
        throw new RuntimeError(`onnxruntime cannot load the model: ${oneLine((e as Error).message)}`);
      }
      const meta = (names: readonly string[], list: readonly ortCommon.InferenceSession.ValueMetadata[] | undefined) =>
        names.map((n, i) => metaOf(list?.[i], n));
      return {
        inputs: meta(session.inputNames, session.inputMetadata),
        outputs: meta(session.outputNames, session.outputMetadata),
        executionProvider: providers[0]!,
        async run(feeds, outputNames) {
          const ortFeeds: Record<string, ortCommon.Tensor> = {};
          for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrtTensor(ort, v);
          let result: ortCommon.InferenceSession.ReturnType;
          try {
            result = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
          } catch (e) {
            throw new RuntimeError(`onnxruntime run failed: ${oneLine((e as Error).message)}`);
          }
          const out: Record<string, Tensor> = {};
          for (const [k, v] of Object.entries(result)) out[k] = fromOrtTensor(k, v);
          return out;
        },
        release: () => session.release(),
      };
    },
  };
}

/**
 * Drops omitted optional inputs ('') at the end of a node's input list: the same model, and onnxruntime 1.30 crashes
 * the process on some of them (LayerNormalization with an explicit empty bias).
 */
function withoutTrailingEmptyInputs(model: Model): Model {
  const needs = (g: Graph): boolean => g.nodes.some((n) => n.inputs[n.inputs.length - 1] === '' || n.subgraphs().some(needs));
  if (!needs(model.graph)) return model;
  const copy = model.clone();
  const strip = (g: Graph): void => {
    for (const n of g.nodes) {
      while (n.inputs.length && n.inputs[n.inputs.length - 1] === '') n.inputs.pop();
      n.subgraphs().forEach(strip);
    }
  };
  strip(copy.graph);
  return copy;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
