// int64-inputs-to-int32 on the shipped BERT: the inputs become int32, the logits for int32 feeds equal
// those of the original for int64 feeds; a model without int64 inputs is byte-identical after.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BERT_ONNX } from '../../../tests/helpers/bert-langid.ts';
import { model, node, runBytes, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { decodeModel, encodeModel } from '../../../src/onnx/model-io.ts';
import { DataType } from '../../../src/onnx/types.ts';
import { encoderFeeds, graphInputs } from '../../../src/runtime/feeds.ts';
import { int64InputsToInt32 } from './int64-inputs-to-int32.ts';

describe('int64-inputs-to-int32', () => {
  it('BERT: input_ids, attention_mask and token_type_ids become int32; same logits', async () => {
    const bytes = readFileSync(BERT_ONNX);
    const m = decodeModel(bytes);
    expect(int64InputsToInt32.apply(m)).toEqual({ applied: true, changes: 3, detail: 'input_ids, attention_mask, token_type_ids now int32' });
    expect(m.graph.input.map((i) => i.type?.tensorType?.elemType)).toEqual([DataType.INT32, DataType.INT32, DataType.INT32]);
    expect(m.graph.node.slice(0, 3).map((n) => `${n.opType}:${n.input[0]}→${n.output[0]}`)).toEqual([
      'Cast:input_ids→input_ids_int64',
      'Cast:attention_mask→attention_mask_int64',
      'Cast:token_type_ids→token_type_ids_int64',
    ]);
    const rows = [
      [2, 50, 60, 70, 3],
      [2, 81, 92, 3, 0],
    ];
    const feedsFor = (x: typeof m) => encoderFeeds(graphInputs(x.graph.input, new Set(x.graph.initializer.map((t) => t.name ?? ''))), rows, 0);
    const original = decodeModel(bytes);
    const before = await runBytes(bytes, feedsFor(original));
    const patched = encodeModel(m);
    const feeds = feedsFor(m);
    expect(feeds.input_ids!.type).toBe('int32');
    const after = await runBytes(patched, feeds);
    expect(Array.from(after.logits!.data as Float32Array)).toEqual(Array.from(before.logits!.data as Float32Array));
  });

  it('a model with no int64 input is byte-identical after', () => {
    const m = model({ nodes: [node('Relu', ['x'], ['y'], 'r')], inputs: [valueInfo('x', DataType.FLOAT, [1])], outputs: [valueInfo('y', DataType.FLOAT, [1])] });
    const bytes = encodeModel(m);
    expect(int64InputsToInt32.apply(m)).toEqual({ applied: false, reason: 'no graph input is int64' });
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
  });
});
