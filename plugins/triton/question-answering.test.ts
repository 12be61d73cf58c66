// The triton step on a question-answering model (hf/task.json says so): besides the ONNX model, the
// pair tokenizer, the answer model (both python/question_answering.py with tokenizer.json, by role)
// and the ensemble QUESTION + CONTEXT → ANSWER, whose steps wire the tokenizer's outputs to the
// model's inputs and the span logits to the answer model; no labels file; the repository check passes.
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEncoderConfig } from '../../src/export/encoder-config.ts';
import { exportEncoder } from '../../src/export/export-encoder.ts';
import { RandomWeights } from '../../src/export/weight-source.ts';
import { writeModelFile } from '../../src/runtime/model-file.ts';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import plugin from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';

let root: string;
let model: string;
let hf: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qrun-triton-qa-'));
  const raw = { ...JSON.parse(readFileSync(join(BERT_DIR, 'config.json'), 'utf8')), architectures: ['BertForQuestionAnswering'] } as Record<string, unknown>;
  const { model: proto } = await exportEncoder(parseEncoderConfig(raw, 'config.json'), new RandomWeights(1, 0.02), 'question-answering');
  model = join(root, 'model.onnx');
  await writeModelFile(proto, model);
  hf = join(root, 'hf');
  await mkdir(hf);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(BERT_DIR, f), join(hf, f));
  await writeFile(join(hf, 'task.json'), JSON.stringify({ task: 'question-answering', from: 'architectures', detail: 'BertForQuestionAnswering' }));
});

async function repository(options: Record<string, unknown>) {
  const ctx = stepContext(root, 'triton');
  const result = (await plugin.run(withDefaults(plugin, options), { model: artifact('qdq-model', model), hf: artifact('hf-model', hf) }, {}, ctx)) as { metrics: Record<string, unknown> };
  // config.pbtxt parsed back into Triton's JSON form (snake_case keys), as the Python backend reads it.
  const config = async (name: string) => parseModelConfigText(await readFile(join(ctx.outDir, 'repository', name, 'config.pbtxt'), 'utf8')) as Record<string, any>;
  return { metrics: result.metrics, dir: join(ctx.outDir, 'repository'), config };
}

describe('triton step for question answering', () => {
  it('writes the pair tokenizer, the model, the answer model and the QUESTION + CONTEXT → ANSWER ensemble', async () => {
    const { metrics, dir, config } = await repository({ maxBatchSize: 8 });
    expect(metrics).toMatchObject({ models: ['model', 'model_tokenizer', 'model_answer', 'model_ensemble'], textModel: 'model_ensemble' });
    const tokenizer = await config('model_tokenizer');
    expect(tokenizer).toMatchObject({
      backend: 'python',
      max_batch_size: 8,
      input: [{ name: 'QUESTION', data_type: 'TYPE_STRING', dims: [1] }, { name: 'CONTEXT', data_type: 'TYPE_STRING', dims: [1] }],
      parameters: { role: { string_value: 'tokenizer' }, max_length: { string_value: '128' }, pad_id: { string_value: '0' } },
    });
    expect(tokenizer.output.map((o: { name: string }) => o.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const answer = await config('model_answer');
    expect(answer.input.map((o: { name: string }) => o.name)).toEqual(['QUESTION', 'CONTEXT', 'start_logits', 'end_logits']);
    expect(answer).toMatchObject({ output: [{ name: 'ANSWER', data_type: 'TYPE_STRING', dims: [1] }], parameters: { role: { string_value: 'answer' }, max_answer_len: { string_value: '30' } } });
    const ensemble = await config('model_ensemble');
    expect(ensemble.ensemble_scheduling.step.map((s: { model_name: string }) => s.model_name)).toEqual(['model_tokenizer', 'model', 'model_answer']);
    expect(ensemble.output).toEqual([{ name: 'ANSWER', data_type: 'TYPE_STRING', dims: [1] }]);
    // Both Python models are the same file with the model's tokenizer.json; no labels anywhere.
    const py = readFileSync(join(dir, 'model_answer', '1', 'model.py'), 'utf8');
    expect(readFileSync(join(dir, 'model_tokenizer', '1', 'model.py'), 'utf8')).toBe(py);
    expect(py).toContain('def best_span(');
    expect(readFileSync(join(dir, 'model_answer', '1', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(BERT_DIR, 'tokenizer.json'), 'utf8'));
    expect((await config('model')).output.some((o: { label_filename?: string }) => o.label_filename)).toBe(false);
  });

  it('writes the model alone with textEnsemble: false', async () => {
    const { metrics } = await repository({ textEnsemble: false });
    expect(metrics).toMatchObject({ models: ['model'], textModel: null, noTextModel: 'textEnsemble: false' });
  });
});
