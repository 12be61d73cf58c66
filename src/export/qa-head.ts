// The extractive question-answering head of every native family (BertForQuestionAnswering,
// RobertaForQuestionAnswering, XLMRobertaForQuestionAnswering, DistilBertForQuestionAnswering,
// ElectraForQuestionAnswering): `qa_outputs`, a Linear(hidden, 2) on every token's last hidden state,
// then `logits.split(1, dim=-1)` squeezed → start_logits and end_logits [batch, sequence], the names
// and shapes optimum's question-answering ONNX export gives and the QA pipeline reads. DistilBERT's
// dropout before qa_outputs is the identity at inference.
// One MatMul for both (not two of width 1): qdq.insert then quantizes the head as PyTorch holds it,
// one weight with a scale per output channel; the halves are Gathers on the last axis.
import { attrInt, DataType } from './graph-builder.ts';
import { linear, type ExportContext } from './layers.ts';
// The names are plain data that triton reads too, without this module (src/tasks/question-answering/outputs.ts).
import { QA_END_OUTPUT, QA_START_OUTPUT } from '../tasks/question-answering/outputs.ts';

export { QA_END_OUTPUT, QA_START_OUTPUT };

export async function questionAnsweringHead(ctx: ExportContext, hidden: string): Promise<void> {
  const { g, cfg } = ctx;
  const logits = await linear(ctx, hidden, 'qa_outputs', cfg.hiddenSize, 2);
  const half = (index: number, output: string) =>
    g.op('Gather', [logits, g.ints([index], [])], { name: `/qa_outputs/Gather_${output}`, attrs: [attrInt('axis', -1)], output });
  g.output(half(0, QA_START_OUTPUT), DataType.FLOAT, ['batch', 'sequence']);
  g.output(half(1, QA_END_OUTPUT), DataType.FLOAT, ['batch', 'sequence']);
}
