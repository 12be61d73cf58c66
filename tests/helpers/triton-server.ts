// A loopback stand-in for Triton Inference Server's HTTP endpoint, for tests: the KServe v2 JSON
// protocol Triton speaks (https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md,
// Triton's docs/protocol/extension_model_configuration.md) over a model repository the triton step
// wrote, with real inference behind it:
//   - onnxruntime models run their 1/model.onnx in onnxruntime-node;
//   - a Python-backend tokenizer model is stood in for by qrun's TypeScript tokenizer on the
//     tokenizer.json beside its model.py, with its config's max_length and pad_id (Python with the
//     `tokenizers` library is not available where the tests run);
//   - question answering's Python models (python/question_answering.py, role tokenizer / answer) by
//     qrun's TypeScript pair encoder and span choice;
//   - text generation's Python model (python/text_generation.py) by qrun's TypeScript decode loop
//     (tests/helpers/triton-generation.ts);
//   - an ensemble runs its steps, mapping tensors by its ensemble_scheduling;
//   - a tensorrt_plan model is listed but not ready (there is no TensorRT here).
// Every call is checked against the model's config.pbtxt as Triton checks it (names, datatypes,
// shapes, the batch size against max_batch_size), and so is every output a model produces, so a
// config that does not describe its model fails here.
//
// Routes: GET /v2/health/live, /v2/health/ready, /v2/models/{name}[/ready|/config],
// POST /v2/models/{name}[/versions/{v}]/infer. Binds 127.0.0.1 on an ephemeral port; bodies are
// bounded, and the server stops by itself after `maxRequests` requests or `idleMs` without one.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseModelConfigText } from '../../plugins/triton/model-config-schema.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { entitiesStandIn } from './triton-entities.ts';
import { generationStandIn } from './triton-generation.ts';
import { pairEncoder } from '../../src/data/pair-encoder.ts';
import { answerOf } from '../../src/tasks/question-answering/evaluate.ts';

/** A tensor as the v2 JSON protocol carries it: data flat, row-major. */
export interface WireTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string)[];
}

interface ConfigTensor {
  name: string;
  data_type: string;
  dims?: number[];
}

interface Config {
  name: string;
  platform?: string;
  backend?: string;
  max_batch_size?: number;
  input?: ConfigTensor[];
  output?: ConfigTensor[];
  parameters?: Record<string, { string_value?: string }>;
  ensemble_scheduling?: { step?: { model_name: string; input_map?: Record<string, string>; output_map?: Record<string, string> }[] };
}

type Tensors = Map<string, Omit<WireTensor, 'name'>>;

interface LoadedModel {
  config: Config;
  /** Undefined when ready; otherwise why the model cannot serve (e.g. a TensorRT plan). */
  notReady?: string;
  infer?(inputs: Tensors): Promise<Tensors>;
  release?(): Promise<void>;
}

/** HTTP status and message of a refused request, as Triton answers: `{ "error": message }`. */
class ProtocolError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** TYPE_STRING → BYTES, TYPE_FP32 → FP32: the protocol's names for config data types. */
export function wireDatatype(configType: string): string {
  const t = configType.replace(/^TYPE_/, '');
  return t === 'STRING' ? 'BYTES' : t;
}

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The full shape Triton accepts for a config tensor: [-1, ...dims] when the model batches. */
function fullShape(config: Config, t: ConfigTensor): number[] {
  const dims = t.dims ?? [];
  return (config.max_batch_size ?? 0) > 0 ? [-1, ...dims] : dims;
}

/** Checks tensors against the config's declarations, as Triton does before and after a model runs. */
function checkTensors(config: Config, declared: ConfigTensor[], tensors: Tensors, what: 'input' | 'output', status: number): void {
  const batch = config.max_batch_size ?? 0;
  for (const name of tensors.keys()) {
    if (!declared.some((d) => d.name === name)) throw new ProtocolError(status, `unexpected ${what} '${name}' for model '${config.name}'`);
  }
  for (const d of declared) {
    const t = tensors.get(d.name);
    if (!t) {
      if (what === 'input') throw new ProtocolError(status, `expected ${declared.length} inputs but got ${tensors.size} inputs for model '${config.name}'; missing '${d.name}'`);
      continue;
    }
    if (t.datatype !== wireDatatype(d.data_type)) throw new ProtocolError(status, `${what} '${d.name}' for model '${config.name}' has datatype ${t.datatype}, expected ${wireDatatype(d.data_type)}`);
    const want = fullShape(config, d);
    const fits = t.shape.length === want.length && t.shape.every((s, i) => s >= 0 && (want[i] === -1 || want[i] === s));
    if (!fits) throw new ProtocolError(status, `unexpected shape for ${what} '${d.name}' for model '${config.name}': got [${t.shape.join(',')}], expected [${want.join(',')}]`);
    if (batch > 0 && t.shape[0]! > batch) throw new ProtocolError(status, `inference request batch-size must be <= ${batch} for '${config.name}'`);
    if (t.data.length !== elements(t.shape)) throw new ProtocolError(status, `${what} '${d.name}' has ${t.data.length} elements, its shape [${t.shape.join(',')}] needs ${elements(t.shape)}`);
  }
}

function toOrt(t: Omit<WireTensor, 'name'>): ort.Tensor {
  switch (t.datatype) {
    case 'INT64':
      return new ort.Tensor('int64', BigInt64Array.from(t.data.map((v) => BigInt(v as number))), t.shape);
    case 'INT32':
      return new ort.Tensor('int32', Int32Array.from(t.data as number[]), t.shape);
    case 'FP32':
      return new ort.Tensor('float32', Float32Array.from(t.data as number[]), t.shape);
    default:
      throw new ProtocolError(400, `datatype ${t.datatype} is not supported by this stand-in server`);
  }
}

const ORT_TO_WIRE: Record<string, string> = { float32: 'FP32', int64: 'INT64', int32: 'INT32', float64: 'FP64', bool: 'BOOL' };

function fromOrt(t: ort.Tensor): Omit<WireTensor, 'name'> {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  return { datatype: ORT_TO_WIRE[t.type] ?? t.type.toUpperCase(), shape: [...t.dims], data };
}

async function loadModel(dir: string, config: Config, repository: string): Promise<LoadedModel> {
  if (config.backend === 'onnxruntime' || config.platform === 'onnxruntime_onnx') {
    const session = await ort.InferenceSession.create(join(dir, '1', 'model.onnx'));
    return {
      config,
      async infer(inputs) {
        const feeds = Object.fromEntries([...inputs].map(([name, t]) => [name, toOrt(t)]));
        const results = await session.run(feeds);
        return new Map(Object.entries(results).map(([name, t]) => [name, fromOrt(t)]));
      },
      release: () => session.release(),
    };
  }
  if (config.backend === 'python' && config.parameters?.role?.string_value) return loadQaModel(dir, config);
  // Text generation's decode loop (python/text_generation.py): tests/helpers/triton-generation.ts.
  if (config.backend === 'python' && config.parameters?.onnx_model) return { config, ...(await generationStandIn(repository, dir, config)) };
  // The token-classification entities model (its tag names in `labels`): tests/helpers/triton-entities.ts.
  if (config.backend === 'python' && config.parameters?.labels) return { config, infer: await entitiesStandIn(dir, config) };
  if (config.backend === 'python') {
    // Stands in for the model.py beside tokenizer.json: same file, same max_length and pad_id.
    const param = (k: string) => config.parameters?.[k]?.string_value;
    const maxLength = Number(param('max_length'));
    const padId = Number(param('pad_id'));
    const tokenizer = await loadTokenizer(join(dir, '1', 'tokenizer.json'), undefined, maxLength);
    const inputName = config.input![0]!.name;
    return {
      config,
      async infer(inputs) {
        const texts = inputs.get(inputName)!.data.map(String);
        const rows = texts.map((t) => tokenizer.encode(t));
        const width = Math.max(...rows.map((r) => r.length));
        const columns: Record<string, number[]> = {
          input_ids: rows.flatMap((r) => [...r, ...Array<number>(width - r.length).fill(padId)]),
          attention_mask: rows.flatMap((r) => [...r.map(() => 1), ...Array<number>(width - r.length).fill(0)]),
          token_type_ids: rows.flatMap(() => Array<number>(width).fill(0)),
        };
        return new Map(config.output!.map((o) => [o.name, { datatype: wireDatatype(o.data_type), shape: [texts.length, width], data: columns[o.name]! }]));
      },
    };
  }
  if (config.platform === 'ensemble') return { config };
  return { config, notReady: `no ${config.platform ?? config.backend} runtime in this stand-in server` };
}

/**
 * Stands in for python/question_answering.py (role tokenizer or answer) with qrun's TypeScript pair
 * encoder and span choice (src/data/pair-encoder.ts, src/tasks/question-answering/evaluate.ts).
 */
async function loadQaModel(dir: string, config: Config): Promise<LoadedModel> {
  const param = (k: string) => config.parameters?.[k]?.string_value;
  const maxLength = Number(param('max_length'));
  const encoder = pairEncoder(await loadTokenizer(join(dir, '1', 'tokenizer.json'), undefined, maxLength), maxLength);
  const strings = (inputs: Tensors, name: string) => inputs.get(name)!.data.map(String);
  if (param('role') === 'tokenizer') {
    const padId = Number(param('pad_id'));
    return {
      config,
      async infer(inputs) {
        const questions = strings(inputs, 'QUESTION');
        const contexts = strings(inputs, 'CONTEXT');
        const rows = questions.map((q, i) => encoder.encode(q, contexts[i]!));
        const width = Math.max(...rows.map((r) => r.ids.length));
        const pad = (r: number[], v: number) => [...r, ...Array<number>(width - r.length).fill(v)];
        const columns: Record<string, number[]> = {
          input_ids: rows.flatMap((r) => pad(r.ids, padId)),
          attention_mask: rows.flatMap((r) => pad(r.ids.map(() => 1), 0)),
          token_type_ids: rows.flatMap((r) => pad(r.typeIds, 0)),
        };
        return new Map(config.output!.map((o) => [o.name, { datatype: wireDatatype(o.data_type), shape: [rows.length, width], data: columns[o.name]! }]));
      },
    };
  }
  const maxAnswer = Number(param('max_answer_len'));
  return {
    config,
    async infer(inputs) {
      const questions = strings(inputs, 'QUESTION');
      const contexts = strings(inputs, 'CONTEXT');
      const start = inputs.get('start_logits')!;
      const end = inputs.get('end_logits')!;
      const width = start.shape[1]!;
      const answers = questions.map((q, i) => {
        const e = encoder.encode(q, contexts[i]!);
        const sample = { ids: e.ids, typeIds: e.typeIds, label: null, qa: { id: String(i), context: contexts[i]!, answers: [], ...e } };
        const row = (t: Omit<WireTensor, 'name'>) => (t.data as number[]).slice(i * width, (i + 1) * width);
        const a = answerOf(sample, row(start), row(end), maxAnswer);
        return JSON.stringify({ answer: a.text, score: Math.round(a.score * 1e6) / 1e6, start: a.start, end: a.end });
      });
      return new Map([[config.output![0]!.name, { datatype: 'BYTES', shape: inputs.get('QUESTION')!.shape, data: answers }]]);
    },
  };
}

export interface LoopbackTritonOptions {
  /** After this many requests the server answers 503 and stops. */
  maxRequests?: number;
  /** Stops after this long without a request. */
  idleMs?: number;
  maxBodyBytes?: number;
}

export interface LoopbackTriton {
  url: string;
  /** Model name → 'ready', or why it is not. */
  models: Record<string, string>;
  requests(): number;
  close(): Promise<void>;
}

export async function startLoopbackTriton(repository: string, options: LoopbackTritonOptions = {}): Promise<LoopbackTriton> {
  const { maxRequests = 500, idleMs = 60_000, maxBodyBytes = 1 << 20 } = options;
  const models = new Map<string, LoadedModel>();
  for (const name of readdirSync(repository).sort()) {
    const file = join(repository, name, 'config.pbtxt');
    if (!existsSync(file)) continue;
    const config = parseModelConfigText(readFileSync(file, 'utf8')) as unknown as Config;
    models.set(name, await loadModel(join(repository, name), config, repository));
  }

  async function run(name: string, inputs: Tensors): Promise<Tensors> {
    const model = models.get(name);
    if (!model) throw new ProtocolError(400, `Request for unknown model: '${name}' is not found`);
    if (model.notReady) throw new ProtocolError(400, `Request for unknown model: '${name}' is not ready: ${model.notReady}`);
    const { config } = model;
    checkTensors(config, config.input ?? [], inputs, 'input', 400);
    let outputs: Tensors;
    if (model.infer) outputs = await model.infer(inputs);
    else {
      // An ensemble: run each step once its inputs exist, mapping names both ways.
      const pool: Tensors = new Map(inputs);
      const pending = [...(config.ensemble_scheduling?.step ?? [])];
      while (pending.length) {
        const i = pending.findIndex((s) => Object.values(s.input_map ?? {}).every((t) => pool.has(t)));
        if (i < 0) throw new ProtocolError(500, `ensemble '${name}': no step can run (missing ${pending.map((s) => s.model_name).join(', ')} inputs)`);
        const [step] = pending.splice(i, 1);
        const stepInputs: Tensors = new Map(Object.entries(step!.input_map ?? {}).map(([modelInput, tensor]) => [modelInput, pool.get(tensor)!]));
        const stepOutputs = await run(step!.model_name, stepInputs);
        for (const [modelOutput, tensor] of Object.entries(step!.output_map ?? {})) {
          const t = stepOutputs.get(modelOutput);
          if (t) pool.set(tensor, t);
        }
      }
      outputs = new Map((config.output ?? []).filter((o) => pool.has(o.name)).map((o) => [o.name, pool.get(o.name)!]));
    }
    // What the model produced must be what its config declares.
    const declared = new Map([...outputs].filter(([n]) => (config.output ?? []).some((o) => o.name === n)));
    checkTensors(config, config.output ?? [], declared, 'output', 500);
    return declared;
  }

  function metadata(name: string) {
    const model = models.get(name)!;
    const c = model.config;
    const describe = (t: ConfigTensor) => ({ name: t.name, datatype: wireDatatype(t.data_type), shape: fullShape(c, t) });
    return { name, versions: ['1'], platform: c.platform ?? c.backend ?? '', inputs: (c.input ?? []).map(describe), outputs: (c.output ?? []).map(describe) };
  }

  async function infer(name: string, body: unknown): Promise<unknown> {
    const request = body as { id?: string; inputs?: WireTensor[]; outputs?: { name: string }[] };
    if (!Array.isArray(request?.inputs)) throw new ProtocolError(400, 'the request has no "inputs" array');
    const inputs: Tensors = new Map();
    for (const t of request.inputs) {
      if (typeof t?.name !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data) || typeof t.datatype !== 'string') throw new ProtocolError(400, 'each input needs name, datatype, shape and data');
      if (inputs.has(t.name)) throw new ProtocolError(400, `input '${t.name}' given twice`);
      // The protocol allows nested arrays for data; row-major flattening gives the same tensor.
      inputs.set(t.name, { datatype: t.datatype, shape: t.shape, data: (t.data as unknown[]).flat(Infinity) as (number | string)[] });
    }
    const outputs = await run(name, inputs);
    const wanted = request.outputs?.map((o) => o.name) ?? [...outputs.keys()];
    for (const w of wanted) if (!outputs.has(w)) throw new ProtocolError(400, `unexpected inference output '${w}' for model '${name}'`);
    return { model_name: name, model_version: '1', ...(request.id ? { id: request.id } : {}), outputs: wanted.map((w) => ({ name: w, ...outputs.get(w)! })) };
  }

  let requests = 0;
  let idle: NodeJS.Timeout;
  const server = createServer((req, res) => {
    requests += 1;
    clearTimeout(idle);
    idle = setTimeout(() => void stop(), idleMs).unref();
    if (requests > maxRequests) {
      send(res, 503, { error: `this test server stops after ${maxRequests} requests` });
      void stop();
      return;
    }
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof ProtocolError ? e.status : 500;
      send(res, status, { error: (e as Error).message });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (req.method === 'GET' && (path === '/v2/health/live' || path === '/v2/health/ready')) return send(res, 200, undefined);
    if (req.method === 'GET' && path === '/v2') return send(res, 200, { name: 'qrun-loopback-triton', version: '0', extensions: ['model_configuration'] });
    const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/config|\/infer)?$/.exec(path);
    if (!m) throw new ProtocolError(404, `not found: ${req.method} ${path}`);
    const name = decodeURIComponent(m[1]!);
    const model = models.get(name);
    if (!model) throw new ProtocolError(400, `Request for unknown model: '${name}' is not found`);
    if (m[2] !== undefined && m[2] !== '1') throw new ProtocolError(400, `Request for unknown model: '${name}' version ${m[2]} is not found`);
    const action = m[3] ?? '';
    if (req.method === 'GET' && action === '') return send(res, 200, metadata(name));
    if (req.method === 'GET' && action === '/ready') return send(res, model.notReady ? 400 : 200, undefined);
    if (req.method === 'GET' && action === '/config') return send(res, 200, model.config);
    if (req.method === 'POST' && action === '/infer') return send(res, 200, await infer(name, await readJson(req)));
    throw new ProtocolError(405, `${req.method} not allowed on ${path}`);
  }

  function readJson(req: IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBodyBytes) {
          reject(new ProtocolError(413, `request body over ${maxBodyBytes} bytes`));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new ProtocolError(400, 'the request body is not JSON'));
        }
      });
      req.on('error', reject);
    });
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    if (body === undefined) {
      res.writeHead(status, { 'content-length': '0' }).end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  let stopped: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopped ??= new Promise<void>((resolve) => {
      clearTimeout(idle);
      server.close(() => resolve());
      server.closeAllConnections();
    }).then(async () => {
      for (const m of models.values()) await m.release?.();
    });
    return stopped;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  idle = setTimeout(() => void stop(), idleMs).unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    models: Object.fromEntries([...models].map(([n, m]) => [n, m.notReady ?? 'ready'])),
    requests: () => requests,
    close: stop,
  };
}
