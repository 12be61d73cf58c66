// A small client for a model repository written by qrun's triton step, over Triton's HTTP/JSON
// inference protocol (KServe v2: https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md).
// It asks the server what the model takes, sends the texts, and prints each text's label and logits.
//
//   npx tsx examples/triton-client.ts --url http://127.0.0.1:8000 --model langid_ensemble \
//       --labels <repository>/langid/labels.txt "Guten Morgen" "Good morning"
//
// A model with one BYTES input (the `<name>_ensemble`) gets the raw texts; a model with token
// inputs (`<name>`, `<name>_trt`) gets token ids made here with qrun's tokenizer from --tokenizer
// (the model folder or its tokenizer.json). Texts beyond the model's max_batch_size go in several
// requests. --json prints one JSON array instead of lines.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

interface Prediction {
  text: string;
  label: string;
  index: number;
  probability: number;
  logits: number[];
}

const TIMEOUT_MS = 30_000;

async function call<T>(url: string, init?: { body: unknown }): Promise<T> {
  const response = await fetch(url, {
    method: init ? 'POST' : 'GET',
    headers: init ? { 'content-type': 'application/json' } : undefined,
    body: init ? JSON.stringify(init.body) : undefined,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) {
    const error = text ? ((JSON.parse(text) as { error?: string }).error ?? text) : `HTTP ${response.status}`;
    throw new Error(`${init ? 'POST' : 'GET'} ${url}: ${response.status} ${error}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Class names: a Triton labels file (one per line) or a Hugging Face config.json (id2label). */
function readLabels(file: string | undefined): string[] | undefined {
  if (!file) return undefined;
  const text = readFileSync(file, 'utf8');
  if (file.endsWith('.json')) {
    const id2label = (JSON.parse(text) as { id2label?: Record<string, string> }).id2label ?? {};
    return Object.keys(id2label).map((_, i) => id2label[String(i)] ?? String(i));
  }
  return text.split('\n').filter((l) => l !== '');
}

/** Token inputs for the texts, padded to the longest, in the datatypes the model declares. */
async function tokenInputs(texts: string[], inputs: TensorMetadata[], tokenizerPath: string | undefined) {
  if (!tokenizerPath) throw new Error(`the model takes ${inputs.map((i) => i.name).join(', ')}: give --tokenizer (the model folder or its tokenizer.json), or use the <name>_ensemble model to send text`);
  const { loadTokenizer } = await import('../src/data/tokenizer.ts');
  const dir = statSync(tokenizerPath).isDirectory() ? tokenizerPath : dirname(tokenizerPath);
  const file = statSync(tokenizerPath).isDirectory() ? join(tokenizerPath, 'tokenizer.json') : tokenizerPath;
  const config = join(dir, 'tokenizer_config.json');
  const tokenizer = await loadTokenizer(file, existsSync(config) ? config : undefined);
  const rows = texts.map((t) => tokenizer.encode(t));
  const width = Math.max(...rows.map((r) => r.length));
  const pad = (r: number[], v: number) => [...r, ...Array<number>(width - r.length).fill(v)];
  const columns: Record<string, number[]> = {
    input_ids: rows.flatMap((r) => pad(r, tokenizer.padId)),
    attention_mask: rows.flatMap((r) => pad(r.map(() => 1), 0)),
    token_type_ids: rows.flatMap(() => Array<number>(width).fill(0)),
  };
  return inputs.map((i) => {
    const data = columns[i.name];
    if (!data) throw new Error(`the model input "${i.name}" is not one a tokenizer makes`);
    return { name: i.name, datatype: i.datatype, shape: [texts.length, width], data };
  });
}

function softmax(row: number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

export async function classify(opts: { url: string; model: string; texts: string[]; labels?: string[]; tokenizer?: string }): Promise<Prediction[]> {
  const base = `${opts.url.replace(/\/$/, '')}/v2`;
  await call(`${base}/health/ready`);
  const model = encodeURIComponent(opts.model);
  const meta = await call<{ inputs: TensorMetadata[]; outputs: TensorMetadata[] }>(`${base}/models/${model}`);
  const config = await call<{ max_batch_size?: number | string }>(`${base}/models/${model}/config`);
  const maxBatch = Number(config.max_batch_size ?? 0);
  // The classifier's scores: "logits" where there is one, else the first FP32 output.
  const output = meta.outputs.find((o) => o.name === 'logits') ?? meta.outputs.find((o) => o.datatype === 'FP32') ?? meta.outputs[0];
  if (!output) throw new Error(`${opts.model} has no outputs`);
  const textMode = meta.inputs.length === 1 && meta.inputs[0]!.datatype === 'BYTES';

  const predictions: Prediction[] = [];
  const chunk = maxBatch > 0 ? maxBatch : opts.texts.length;
  for (let start = 0; start < opts.texts.length; start += chunk) {
    const texts = opts.texts.slice(start, start + chunk);
    const text = meta.inputs[0]!;
    // [batch, 1] for a model that batches (TEXT dims [ 1 ]), [n] for one that does not.
    const inputs = textMode ? [{ name: text.name, datatype: 'BYTES', shape: text.shape.length === 2 ? [texts.length, 1] : [texts.length], data: texts }] : await tokenInputs(texts, meta.inputs, opts.tokenizer);
    const result = await call<{ outputs: { name: string; shape: number[]; data: number[] }[] }>(`${base}/models/${model}/infer`, {
      body: { inputs, outputs: [{ name: output.name }] },
    });
    const scores = result.outputs.find((o) => o.name === output.name)!;
    const width = scores.shape[scores.shape.length - 1]!;
    texts.forEach((t, i) => {
      const logits = scores.data.slice(i * width, (i + 1) * width);
      const probabilities = softmax(logits);
      const index = logits.indexOf(Math.max(...logits));
      predictions.push({ text: t, label: opts.labels?.[index] ?? String(index), index, probability: probabilities[index]!, logits });
    });
  }
  return predictions;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8000' },
      model: { type: 'string' },
      labels: { type: 'string' },
      tokenizer: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.model || positionals.length === 0) {
    console.error('usage: npx tsx examples/triton-client.ts --url URL --model NAME [--labels labels.txt|config.json] [--tokenizer DIR] [--json] [--] "text" ...');
    process.exit(2);
  }
  const predictions = await classify({ url: values.url!, model: values.model, texts: positionals, labels: readLabels(values.labels), tokenizer: values.tokenizer });
  if (values.json) {
    console.log(JSON.stringify(predictions));
    return;
  }
  for (const p of predictions) {
    console.log(`${p.label}\t${p.probability.toFixed(3)}\t${p.text}`);
    console.log(`\tlogits: [${p.logits.map((v) => v.toFixed(4)).join(', ')}]`);
  }
}

// Run as a script (not when a test imports classify()).
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((e: unknown) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  });
}
