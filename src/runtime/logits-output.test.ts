// Choosing the logits output by name and shape; several candidates or none is an error that lists
// the outputs and how to choose. (plugins/bench/accuracy.test.ts runs a real two-output model.)
import { describe, expect, it } from 'vitest';
import { model, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { QrunError } from '../errors.ts';
import { DataType } from '../onnx/types.ts';
import { selectLogitsOutput } from './logits-output.ts';

const withOutputs = (...outputs: [string, (number | string)[]][]) =>
  model({ nodes: [], inputs: [], outputs: outputs.map(([name, dims]) => valueInfo(name, DataType.FLOAT, dims)) });

function unclear(m: ReturnType<typeof withOutputs>, classes: number | undefined, explicit?: string): QrunError {
  try {
    selectLogitsOutput(m, classes, explicit);
  } catch (e) {
    expect((e as QrunError).code).toBe('LOGITS_OUTPUT_UNCLEAR');
    return e as QrunError;
  }
  throw new Error('an output was chosen');
}

describe('selectLogitsOutput', () => {
  it('a hidden state exported first: the output named logits, not the first', () => {
    const m = withOutputs(['last_hidden_state', ['batch', 'sequence', 128]], ['logits', ['batch', 9]]);
    expect(selectLogitsOutput(m, 9, undefined)).toEqual({ name: 'logits', reason: 'named "logits"' });
    expect(selectLogitsOutput(m, undefined, undefined).name).toBe('logits');
  });

  it('then a name containing logits, then the one [batch, classes] output', () => {
    expect(selectLogitsOutput(withOutputs(['pooler_output', ['batch', 128]], ['classifier_logits', ['batch', 9]]), 9, undefined).name).toBe('classifier_logits');
    const byShape = selectLogitsOutput(withOutputs(['pooled', ['batch', 128]], ['output_1', ['batch', 9]]), 9, undefined);
    expect(byShape).toEqual({ name: 'output_1', reason: 'the only output of shape [batch, 9]' });
  });

  it('a name that contradicts the shape does not win: logits [batch, sequence, 9] is not [batch, 9]', () => {
    const m = withOutputs(['logits', ['batch', 'sequence', 9]], ['scores', ['batch', 9]]);
    expect(selectLogitsOutput(m, 9, undefined).name).toBe('scores');
  });

  it('the only output is taken as it is (single-output models as before)', () => {
    expect(selectLogitsOutput(withOutputs(['output', ['batch', 1000]]), undefined, undefined)).toEqual({ name: 'output', reason: "the model's only output" });
  });

  it('several candidates: an error naming them, every output with its shape, and the option', () => {
    const e = unclear(withOutputs(['start_logits', ['batch', 'sequence']], ['end_logits', ['batch', 'sequence']]), undefined);
    expect(e.message).toContain('cannot tell which output of the model holds the logits: start_logits, end_logits all could');
    expect(e.message).toContain('start_logits [batch, sequence], end_logits [batch, sequence]');
    expect(e.diagnostics[0]!.hint).toContain('output: start_logits, or output: end_logits');
  });

  it('no candidate: an error listing the outputs with their shapes', () => {
    const e = unclear(withOutputs(['last_hidden_state', ['batch', 'sequence', 128]], ['pooler_output', ['batch', 128]]), 9);
    expect(e.message).toContain("no output of the model looks like logits [batch, 9] (9 = id2label's size)");
    expect(e.message).toContain('last_hidden_state [batch, sequence, 128], pooler_output [batch, 128]');
    expect(e.diagnostics[0]!.hint).toContain('output: last_hidden_state, or output: pooler_output');
  });

  it('the output option chooses; a name that is not an output fails with the list', () => {
    const m = withOutputs(['last_hidden_state', ['batch', 'sequence', 128]], ['pooler_output', ['batch', 128]]);
    expect(selectLogitsOutput(m, 9, 'pooler_output')).toEqual({ name: 'pooler_output', reason: 'the `output` option' });
    expect(unclear(m, 9, 'logits').message).toContain('output "logits" (the `output` option) is not an output of the model');
  });
});
