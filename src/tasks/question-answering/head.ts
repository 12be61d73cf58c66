// The question-answering head onnx.export puts on the encoder (src/export/qa-head.ts: qa_outputs →
// start_logits, end_logits), reached through src/tasks/head-registry.ts.
import type { ExportHeadSource } from '../task.ts';
import type { ExportHead } from '../../export/layers.ts';
import { questionAnsweringHead } from '../../export/qa-head.ts';

export async function questionAnsweringExportHead(_source: ExportHeadSource): Promise<{ build: ExportHead; description: string }> {
  return { build: questionAnsweringHead, description: 'qa_outputs → start_logits, end_logits' };
}
