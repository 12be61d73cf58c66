// Where the task comes from: the recipe, then a sentence-transformers folder, then architectures;
// a bare checkpoint with none of them is TASK_UNKNOWN with the fix in its hint.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QrunError } from '../errors.ts';
import { detectTask, requireTask, taskMetricsKey, taskOfHfFolder, TASK_FILE } from './task.ts';

const tmp = mkdtempSync(join(tmpdir(), 'qrun-task-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('detectTask', () => {
  const st = folder('st', { 'modules.json': '[]', 'config.json': '{}' });
  const bare = folder('bare', { 'config.json': '{}' });

  it('takes the recipe first, then a sentence-transformers folder, then the architectures', () => {
    expect(detectTask({ explicit: 'question-answering', modelDir: st, architectures: ['BertForSequenceClassification'] })).toEqual({ task: 'question-answering', from: 'recipe', detail: 'task:' });
    expect(detectTask({ modelDir: st, architectures: ['BertForSequenceClassification'] })?.task).toBe('embedding');
    expect(detectTask({ modelDir: bare, architectures: ['RobertaForQuestionAnswering'] })).toEqual({ task: 'question-answering', from: 'architectures', detail: 'RobertaForQuestionAnswering' });
    expect(detectTask({ modelDir: bare, architectures: ['DistilBertForTokenClassification'] })?.task).toBe('token-classification');
    expect(detectTask({ modelDir: bare, architectures: ['ElectraForSequenceClassification'] })?.task).toBe('sequence-classification');
  });

  it('a decoder with a language-model head is text generation (GPT-2, Llama, Qwen2, Mistral)', () => {
    for (const arch of ['GPT2LMHeadModel', 'LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM']) {
      expect(detectTask({ architectures: [arch] }), arch).toEqual({ task: 'text-generation', from: 'architectures', detail: arch });
    }
  });

  it('a 1_Pooling folder without modules.json is a sentence-transformers model too', () => {
    const dir = folder('pooling-only', { '1_Pooling/config.json': '{}' });
    expect(detectTask({ modelDir: dir, architectures: [] })?.task).toBe('embedding');
  });

  it('a bare checkpoint (BertModel) has no task; requireTask says to name one', () => {
    expect(detectTask({ modelDir: bare, architectures: ['BertModel'] })).toBeUndefined();
    let error: unknown;
    try {
      requireTask({ modelDir: bare, architectures: ['BertModel'] }, bare);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(QrunError);
    const d = (error as QrunError).diagnostics[0]!;
    expect(d.code).toBe('TASK_UNKNOWN');
    expect(d.message).toContain('BertModel');
    expect(d.hint).toContain('task: embedding');
    expect((error as QrunError).exitCode).toBe(2);
  });

  it('reads hf.load’s task.json back, and keys task metrics by camelCase name', async () => {
    const hf = folder('hf', { [TASK_FILE]: JSON.stringify({ task: 'embedding', from: 'recipe', detail: 'task:' }) });
    expect((await taskOfHfFolder(hf))?.task).toBe('embedding');
    expect(await taskOfHfFolder(bare)).toBeUndefined();
    expect(await taskOfHfFolder(undefined)).toBeUndefined();
    expect(taskMetricsKey('question-answering')).toBe('questionAnswering');
    expect(taskMetricsKey('embedding')).toBe('embedding');
  });
});
